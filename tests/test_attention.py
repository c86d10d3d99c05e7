"""The attention interface of chapters 4.2 and 4.3 (issue 4): masked_softmax, BahdanauAttention,
LuongAttention and AttentionDecoder. Every bullet of the interface, each bad input included."""

import math
import re
from unittest import mock

import pytest
import torch

from attention_course import (
    LUONG_SCORES,
    AttentionBase,
    AttentionDecoder,
    BahdanauAttention,
    LuongAttention,
    bahdanau,
    luong,
    masked_softmax,
)
from attention_course.attention import additive_score, attention_entropy

B, T, T_Q, QUERY, KEY, HIDDEN = 3, 5, 4, 6, 7, 8


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def shape_text(shape):
    return re.escape(str(tuple(shape)))


# ----------------------------------------------------------------------------- masked_softmax


def test_masked_softmax_without_mask_is_the_softmax():
    scores = torch.randn(B, T_Q, T)
    assert torch.allclose(masked_softmax(scores), torch.softmax(scores, dim=-1))
    assert torch.allclose(masked_softmax(scores, dim=1), torch.softmax(scores, dim=1))


def test_masked_positions_get_exactly_zero_and_the_rest_sums_to_one():
    scores = torch.randn(B, T_Q, T)
    mask = torch.rand(B, 1, T) > 0.4
    mask[:, :, 0] = True  # no fully masked row here
    weights = masked_softmax(scores, mask)
    assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
    assert torch.allclose(weights.sum(dim=-1), torch.ones(B, T_Q))
    # the unmasked weights are the softmax over the unmasked scores alone
    b_row = weights[0, 0][mask[0, 0]]
    assert torch.allclose(b_row, torch.softmax(scores[0, 0][mask[0, 0]], dim=-1))


def test_masked_softmax_along_another_dim():
    scores = torch.randn(B, T, T_Q)
    mask = torch.ones(B, T, 1, dtype=torch.bool)
    mask[:, -2:] = False
    weights = masked_softmax(scores, mask, dim=1)
    assert (weights[:, -2:] == 0).all()
    assert torch.allclose(weights.sum(dim=1), torch.ones(B, T_Q))


def test_fully_masked_row_gives_zeros_and_finite_gradients():
    scores = torch.randn(2, 3, T, requires_grad=True)
    mask = torch.ones(2, 1, T, dtype=torch.bool)
    mask[1] = False  # the second example may attend to nothing
    weights = masked_softmax(scores, mask)
    assert not weights.isnan().any()
    assert (weights[1] == 0).all()
    assert torch.allclose(weights[0].sum(dim=-1), torch.ones(3))
    (weights * torch.randn_like(weights)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[1] == 0).all()  # nothing flows into a row that attends to nothing


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_gives_no_nan_even_with_large_scores(dtype):
    scores = (torch.randn(B, T_Q, T) * 3e4).to(dtype)  # near the float16 range
    mask = torch.ones(B, 1, T, dtype=torch.bool)
    mask[0, :, 2:] = False
    mask[2] = False  # fully masked
    weights = masked_softmax(scores, mask)
    assert weights.dtype == dtype
    assert not weights.isnan().any() and not weights.isinf().any()
    assert (weights[0, :, 2:] == 0).all() and (weights[2] == 0).all()
    assert torch.allclose(weights[:2].float().sum(dim=-1), torch.ones(2, T_Q), atol=1e-2)


def test_no_magic_constant_overflows_in_float16():
    # -1e9 is -inf in float16; the fill value must be finite in the scores' own dtype
    scores = torch.zeros(1, 4, dtype=torch.float16)
    mask = torch.tensor([[True, False, False, False]])
    weights = masked_softmax(scores, mask)
    assert weights.tolist() == [[1.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("bad", [torch.ones(B, 1, T, dtype=torch.int64), torch.ones(B, 1, T)])
def test_non_boolean_mask_is_refused_naming_both_shapes(bad):
    scores = torch.randn(B, T_Q, T)
    with pytest.raises(ValueError, match="boolean") as info:
        masked_softmax(scores, bad)
    assert str(tuple(bad.shape)) in str(info.value) and str(tuple(scores.shape)) in str(info.value)


@pytest.mark.parametrize("bad_shape", [(B, T_Q, T + 1), (B, 2, T), (2, 1, T), (1, B, T_Q, T)])
def test_mask_that_does_not_broadcast_is_refused_naming_both_shapes(bad_shape):
    scores = torch.randn(B, T_Q, T)
    with pytest.raises(ValueError, match="does not broadcast") as info:
        masked_softmax(scores, torch.ones(bad_shape, dtype=torch.bool))
    assert str(tuple(bad_shape)) in str(info.value) and str(tuple(scores.shape)) in str(info.value)


@pytest.mark.parametrize("good_shape", [(T,), (1, T), (B, 1, T), (B, T_Q, T), (T_Q, 1)])
def test_masks_that_broadcast_are_accepted(good_shape):
    weights = masked_softmax(torch.randn(B, T_Q, T), torch.ones(good_shape, dtype=torch.bool))
    assert weights.shape == (B, T_Q, T)


# ------------------------------------------------------------------------- attention modules


def make(kind):
    """Every attention of the interface, with query, key and hidden sizes that differ."""
    if kind == "bahdanau":
        return BahdanauAttention(QUERY, KEY, HIDDEN)
    if kind == "dot":
        return LuongAttention(KEY, KEY, score="dot")
    return LuongAttention(QUERY, KEY, score=kind, hidden_size=HIDDEN)


KINDS = ["bahdanau", "dot", "general", "concat"]


def inputs(attention, t_q=None):
    query_shape = (B, attention.query_size) if t_q is None else (B, t_q, attention.query_size)
    return torch.randn(query_shape), torch.randn(B, T, attention.key_size)


def direct_scores(attention, query, keys):
    """The score of each (example, query, key) computed one at a time from the equations."""
    scores = torch.empty(query.shape[0], query.shape[1], keys.shape[1])
    for b in range(query.shape[0]):
        for t in range(query.shape[1]):
            for i in range(keys.shape[1]):
                s, h = query[b, t], keys[b, i]
                if isinstance(attention, BahdanauAttention) or attention.score_name == "concat":
                    hidden = attention.W_q.weight @ s + attention.W_k.weight @ h
                    scores[b, t, i] = attention.v.weight[0] @ torch.tanh(hidden)
                elif attention.score_name == "general":
                    scores[b, t, i] = s @ attention.W.weight @ h  # s^T W_a h
                else:
                    scores[b, t, i] = s @ h
    return scores


@pytest.mark.parametrize("kind", KINDS)
def test_single_query_shapes(kind):
    attention = make(kind)
    query, keys = inputs(attention)
    context, weights = attention(query, keys)
    assert context.shape == (B, attention.key_size) and weights.shape == (B, T)


@pytest.mark.parametrize("kind", KINDS)
def test_many_queries_shapes(kind):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)
    context, weights = attention(query, keys)
    assert context.shape == (B, T_Q, attention.key_size) and weights.shape == (B, T_Q, T)


@pytest.mark.parametrize("kind", KINDS)
def test_matches_a_direct_computation(kind):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 3:] = False
    with torch.no_grad():
        context, weights = attention(query, keys, mask)
        scores = direct_scores(attention, query, keys)
    expected = torch.softmax(scores.masked_fill(~mask.unsqueeze(1), -math.inf), dim=-1)
    assert torch.allclose(weights, expected, atol=1e-6)
    expected_context = torch.einsum("bqt,btk->bqk", expected, keys)  # c = sum_i alpha_i h_i
    assert torch.allclose(context, expected_context, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_many_queries_equal_one_query_at_a_time(kind):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)
    mask = torch.rand(B, T) > 0.3
    context, weights = attention(query, keys, mask)
    for t in range(T_Q):
        context_t, weights_t = attention(query[:, t], keys, mask)
        assert torch.allclose(context[:, t], context_t, atol=1e-6)
        assert torch.allclose(weights[:, t], weights_t, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_mask_gives_padding_zero_weight_and_empty_rows_zero_context(kind):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)
    lengths = torch.tensor([T, 2, 0])
    mask = torch.arange(T) < lengths.unsqueeze(1)  # (B, T)
    context, weights = attention(query, keys, mask)
    assert (weights.masked_select(~mask.unsqueeze(1).expand_as(weights)) == 0).all()
    assert torch.allclose(weights[:2].sum(dim=-1), torch.ones(2, T_Q))
    assert (weights[2] == 0).all() and (context[2] == 0).all() and not context.isnan().any()
    # the padded keys do not matter at all
    changed = keys.masked_fill(~mask.unsqueeze(-1), 123.0)
    assert torch.allclose(attention(query, changed, mask)[0], context, atol=1e-6)


@pytest.mark.parametrize("kind", ["bahdanau", "concat"])
def test_broadcasting_equals_a_repeat_based_reference(kind):
    attention = make(kind)
    query, keys = inputs(attention)
    repeated = query.unsqueeze(1).repeat(1, T, 1)  # (B, T, query_size): the layout the course avoids
    pairs = torch.cat([repeated, keys], dim=-1)  # (B, T, query + key)
    W = torch.cat([attention.W_q.weight, attention.W_k.weight], dim=1)  # W_a [s; h] = W_q s + W_k h
    reference = torch.softmax(attention.v(torch.tanh(pairs @ W.T)).squeeze(-1), dim=-1)  # (B, T)
    _, weights = attention(query, keys)
    assert torch.allclose(weights, reference, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_no_copies_of_the_query(kind, monkeypatch):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)

    def forbidden(*args, **kwargs):
        raise AssertionError("the attention modules must broadcast, not copy")

    monkeypatch.setattr(torch.Tensor, "repeat", forbidden)
    monkeypatch.setattr(torch.Tensor, "repeat_interleave", forbidden)
    monkeypatch.setattr(torch, "repeat_interleave", forbidden)
    attention(query, keys, torch.ones(B, T, dtype=torch.bool))
    attention(query[:, 0], keys)


@pytest.mark.parametrize("kind", KINDS)
def test_projected_keys_reused_equal_recomputed(kind):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)
    mask = torch.rand(B, T) > 0.3
    projected = attention.project_keys(keys)
    assert projected.shape[:2] == (B, T)
    with mock.patch.object(attention, "project_keys", wraps=attention.project_keys) as spy:
        for t in range(T_Q):
            reused = attention(query[:, t], keys, mask, projected_keys=projected)
            recomputed = attention(query[:, t], keys, mask)
            assert all(torch.equal(a, b) for a, b in zip(reused, recomputed, strict=True))
    assert spy.call_count == T_Q  # only the calls without projected_keys projected again


def test_bahdanau_projects_keys_with_W_k():
    attention = make("bahdanau")
    keys = torch.randn(B, T, KEY)
    assert torch.allclose(attention.project_keys(keys), keys @ attention.W_k.weight.T)


def test_bahdanau_reproduces_the_hand_worked_example_of_chapter_4_2():
    attention = BahdanauAttention(2, 2, 2)
    with torch.no_grad():
        attention.W_q.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.5]]))
        attention.W_k.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        attention.v.weight.copy_(torch.tensor([[1.0, -1.0]]))
        keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]])  # (1, 3, 2)
        context, weights = attention(torch.tensor([[1.0, 2.0]]), keys)
    e = [math.tanh(1.5) - math.tanh(1.0), math.tanh(0.5) - math.tanh(0.0), math.tanh(-0.5) - math.tanh(2.0)]
    alpha = torch.softmax(torch.tensor(e), dim=0)
    assert torch.allclose(weights[0], alpha, atol=1e-6)
    assert torch.allclose(context[0], torch.tensor([alpha[0] - alpha[2], alpha[1] - alpha[2]]), atol=1e-6)
    assert torch.allclose(weights[0], torch.tensor([0.3871, 0.5323, 0.0806]), atol=1e-4)


def test_luong_concat_is_the_additive_score_and_general_with_identity_is_dot():
    concat = LuongAttention(QUERY, KEY, "concat", hidden_size=HIDDEN)
    additive = BahdanauAttention(QUERY, KEY, HIDDEN)
    concat.load_state_dict(additive.state_dict())
    query, keys = inputs(additive, T_Q)
    assert all(torch.equal(a, b) for a, b in zip(concat(query, keys), additive(query, keys), strict=True))
    general, dot = LuongAttention(KEY, KEY, "general"), LuongAttention(KEY, KEY, "dot")
    with torch.no_grad():
        general.W.weight.copy_(torch.eye(KEY))
    query, keys = inputs(dot, T_Q)
    assert torch.allclose(general(query, keys)[1], dot(query, keys)[1], atol=1e-6)


@pytest.mark.parametrize("module, make_attention", [
    (bahdanau, lambda: BahdanauAttention(QUERY, KEY, HIDDEN)),
    (luong, lambda: LuongAttention(QUERY, KEY, "concat", hidden_size=HIDDEN)),
])
def test_bahdanau_and_concat_score_with_the_one_additive_score(module, make_attention):
    attention = make_attention()
    query, keys = inputs(attention, T_Q)
    with mock.patch.object(module, "additive_score", wraps=additive_score) as spy:
        attention(query, keys)
    assert spy.call_count == 1
    queries, projected, W_q, v = spy.call_args.args
    assert W_q is attention.W_q and v is attention.v and projected.shape == (B, T, HIDDEN)


def test_additive_score_is_v_tanh_of_the_sum():
    W_q, v = torch.nn.Linear(QUERY, HIDDEN, bias=False), torch.nn.Linear(HIDDEN, 1, bias=False)
    query, projected = torch.randn(B, T_Q, QUERY), torch.randn(B, T, HIDDEN)
    scores = additive_score(query, projected, W_q, v)
    assert scores.shape == (B, T_Q, T)
    b, t, i = 1, 2, 3
    expected = v.weight[0] @ torch.tanh(W_q.weight @ query[b, t] + projected[b, i])
    assert torch.allclose(scores[b, t, i], expected, atol=1e-6)


def test_luong_parameter_counts():
    counts = {score: sum(p.numel() for p in LuongAttention(QUERY if score != "dot" else KEY, KEY, score,
                                                           hidden_size=HIDDEN).parameters())
              for score in LUONG_SCORES}
    assert counts == {"dot": 0, "general": QUERY * KEY, "concat": HIDDEN * (QUERY + KEY) + HIDDEN}
    assert sum(p.numel() for p in make("bahdanau").parameters()) == HIDDEN * (QUERY + KEY) + HIDDEN


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_parameter_and_input(kind):
    attention = make(kind)
    query, keys = inputs(attention, T_Q)
    query.requires_grad_(True)
    keys.requires_grad_(True)
    context, _ = attention(query, keys, torch.rand(B, T) > 0.2)
    context.pow(2).sum().backward()
    for tensor in [query, keys, *attention.parameters()]:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_the_base_class_needs_a_score():
    class NoScore(AttentionBase):
        query_size = key_size = KEY

    with pytest.raises(NotImplementedError):
        NoScore()(torch.randn(B, KEY), torch.randn(B, T, KEY))


# ------------------------------------------------------------------- constructor errors


@pytest.mark.parametrize("sizes", [(0, KEY, HIDDEN), (QUERY, -1, HIDDEN), (QUERY, KEY, 0),
                                   (QUERY, KEY, 2.5), (QUERY, KEY, None), (True, KEY, HIDDEN)])
def test_bahdanau_refuses_sizes_that_are_not_positive_integers(sizes):
    with pytest.raises(ValueError, match="must be a positive integer"):
        BahdanauAttention(*sizes)


def test_luong_dot_needs_equal_sizes():
    with pytest.raises(ValueError, match=r"score='dot' needs query_size == key_size, got 6 and 7") as info:
        LuongAttention(6, 7, score="dot")
    assert "'general'" in str(info.value) and "'concat'" in str(info.value)


def test_luong_unknown_score_names_what_is_allowed():
    with pytest.raises(ValueError, match="cosine") as info:
        LuongAttention(KEY, KEY, score="cosine")
    for allowed in LUONG_SCORES:
        assert repr(allowed) in str(info.value)


def test_luong_concat_needs_hidden_size():
    with pytest.raises(ValueError, match="hidden_size"):
        LuongAttention(QUERY, KEY, score="concat")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        LuongAttention(QUERY, KEY, score="concat", hidden_size=0)


@pytest.mark.parametrize("sizes", [(0, KEY), (QUERY, -3), (QUERY, 1.0)])
def test_luong_refuses_sizes_that_are_not_positive_integers(sizes):
    with pytest.raises(ValueError, match="must be a positive integer"):
        LuongAttention(*sizes, score="general")


# ------------------------------------------------------------------- wrong input shapes


def bool_ones(*shape):
    return torch.ones(shape, dtype=torch.bool)


def wrong_inputs(attention):
    """(description, query, keys, mask, expected text, received shape) for each bad input."""
    q, k = attention.query_size, attention.key_size
    good_query, good_keys = torch.randn(B, q), torch.randn(B, T, k)
    return [
        ("query width", torch.randn(B, q + 1), good_keys, None, f"(B, {q}) or (B, T_q, {q})", (B, q + 1)),
        ("query width, many queries", torch.randn(B, T_Q, q + 2), good_keys, None, f"(B, T_q, {q})",
         (B, T_Q, q + 2)),
        ("query rank 1", torch.randn(q), good_keys, None, f"(B, {q})", (q,)),
        ("query rank 4", torch.randn(B, 1, T_Q, q), good_keys, None, f"(B, {q})", (B, 1, T_Q, q)),
        ("keys width", good_query, torch.randn(B, T, k + 1), None, f"(B, T, {k})", (B, T, k + 1)),
        ("keys rank 2", good_query, torch.randn(B, k), None, f"(B, T, {k})", (B, k)),
        ("batch sizes", good_query, torch.randn(B + 1, T, k), None, str((B, q)), (B + 1, T, k)),
        ("mask length", good_query, good_keys, bool_ones(B, T + 1), str((B, T)), (B, T + 1)),
        ("mask batch", good_query, good_keys, bool_ones(B - 1, T), str((B, T)), (B - 1, T)),
        ("mask rank", good_query, good_keys, bool_ones(B, 1, T), str((B, T)), (B, 1, T)),
        ("mask dtype", good_query, good_keys, torch.ones(B, T), "boolean", (B, T)),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_shapes_name_the_expected_and_the_received_shapes(kind):
    attention = make(kind)
    for what, query, keys, mask, expected, received in wrong_inputs(attention):
        with pytest.raises(ValueError) as info:
            attention(query, keys, mask)
        message = str(info.value)
        assert expected in message, f"{kind}, {what}: {message!r} does not name {expected}"
        assert str(tuple(received)) in message, f"{kind}, {what}: {message!r} does not name {received}"


@pytest.mark.parametrize("kind", KINDS)
def test_projected_keys_of_other_keys_are_refused(kind):
    attention = make(kind)
    query, keys = inputs(attention)
    wrong = attention.project_keys(torch.randn(B, T + 2, attention.key_size))
    with pytest.raises(ValueError, match=shape_text(wrong.shape)) as info:
        attention(query, keys, projected_keys=wrong)
    assert str((B, T)) in str(info.value)


# --------------------------------------------------------------------------- the decoder

VOCAB, EMBED, H_DEC, T_TGT = 11, 5, 9, 7


def make_decoder(kind="bahdanau"):
    if kind == "bahdanau":
        attention = BahdanauAttention(H_DEC, KEY, HIDDEN)
    elif kind == "dot":
        attention = LuongAttention(H_DEC, H_DEC, "dot")
        return AttentionDecoder(VOCAB, EMBED, H_DEC, H_DEC, attention)
    else:
        attention = LuongAttention(H_DEC, KEY, kind, hidden_size=HIDDEN)
    return AttentionDecoder(VOCAB, EMBED, H_DEC, KEY, attention)


@pytest.mark.parametrize("kind", KINDS)
def test_decoder_shapes(kind):
    decoder = make_decoder(kind)
    key_size = decoder.attention.key_size
    keys, state = torch.randn(B, T, key_size), torch.randn(B, H_DEC)
    logits, weights = decoder(torch.randint(0, VOCAB, (B, T_TGT)), state, keys)
    assert logits.shape == (B, T_TGT, VOCAB) and weights.shape == (B, T_TGT, T)
    step_logits, new_state, step_weights = decoder.step(
        torch.randint(0, VOCAB, (B,)), state, keys, decoder.attention.project_keys(keys))
    assert step_logits.shape == (B, VOCAB) and new_state.shape == (B, H_DEC) and step_weights.shape == (B, T)


def test_decoder_projects_the_keys_once_per_sequence():
    decoder = make_decoder()
    keys = torch.randn(B, T, KEY)
    with mock.patch.object(decoder.attention, "project_keys", wraps=decoder.attention.project_keys) as spy:
        decoder(torch.randint(0, VOCAB, (B, T_TGT)), torch.randn(B, H_DEC), keys)
    assert spy.call_count == 1  # not T_TGT times
    with mock.patch.object(decoder.attention.W_k, "forward", wraps=decoder.attention.W_k.forward) as w_k:
        decoder(torch.randint(0, VOCAB, (B, T_TGT)), torch.randn(B, H_DEC), keys)
    assert w_k.call_count == 1  # the key projection layer itself runs once


def test_decoder_step_does_not_project_keys():
    decoder = make_decoder()
    keys = torch.randn(B, T, KEY)
    projected = decoder.attention.project_keys(keys)
    with mock.patch.object(decoder.attention, "project_keys", wraps=decoder.attention.project_keys) as spy:
        decoder.step(torch.randint(0, VOCAB, (B,)), torch.randn(B, H_DEC), keys, projected)
    assert spy.call_count == 0


def test_decoder_forward_is_its_steps_with_the_previous_state_as_query():
    decoder = make_decoder()
    inputs, state, keys = torch.randint(0, VOCAB, (B, T_TGT)), torch.randn(B, H_DEC), torch.randn(B, T, KEY)
    mask = torch.rand(B, T) > 0.3
    mask[:, 0] = True
    logits, weights = decoder(inputs, state, keys, mask)
    projected = decoder.attention.project_keys(keys)
    for t in range(T_TGT):
        _, expected_weights = decoder.attention(state, keys, mask)  # query: the state before the step
        step_logits, state, step_weights = decoder.step(inputs[:, t], state, keys, projected, mask)
        assert torch.allclose(step_weights, expected_weights, atol=1e-6)
        assert torch.allclose(logits[:, t], step_logits, atol=1e-6)
        assert torch.allclose(weights[:, t], step_weights, atol=1e-6)
    assert (weights.masked_select(~mask.unsqueeze(1).expand_as(weights)) == 0).all()


def test_decoder_gradients_reach_the_attention():
    decoder = make_decoder()
    logits, _ = decoder(torch.randint(0, VOCAB, (B, T_TGT)), torch.randn(B, H_DEC), torch.randn(B, T, KEY))
    logits.logsumexp(dim=-1).sum().backward()
    for name, parameter in decoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("sizes", [(H_DEC + 1, KEY), (H_DEC, KEY + 1)])
def test_decoder_refuses_an_attention_of_other_sizes(sizes):
    with pytest.raises(ValueError, match="attention must take queries of size") as info:
        AttentionDecoder(VOCAB, EMBED, *sizes, BahdanauAttention(H_DEC, KEY, HIDDEN))
    assert f"query_size={H_DEC}, key_size={KEY}" in str(info.value)


# --------------------------------------------------------------------------- entropy


def test_attention_entropy_uniform_one_hot_and_padding():
    rows = torch.tensor([[0.25] * 4, [1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.0] * 4])
    entropy = attention_entropy(rows)
    assert entropy.shape == (4,)
    assert torch.allclose(entropy, torch.tensor([math.log(4), 0.0, math.log(2), 0.0]))
    assert not torch.signbit(entropy).any()  # never -0.0 (entr(1) alone is -0.0)
    assert not torch.signbit(attention_entropy(torch.ones(3, 1))).any()


def test_attention_entropy_keeps_leading_dims_dtype_and_reads_array_likes():
    weights = torch.softmax(torch.randn(2, 3, 5, dtype=torch.float64), dim=-1)
    entropy = attention_entropy(weights)
    assert entropy.shape == (2, 3) and entropy.dtype == torch.float64
    assert torch.allclose(entropy, -(weights * weights.log()).sum(dim=-1))
    from_list = attention_entropy([[0.5, 0.5], [0.9, 0.1]])
    assert from_list.dtype == torch.float32
    assert torch.allclose(from_list, torch.tensor([math.log(2), -0.9 * math.log(0.9) - 0.1 * math.log(0.1)]))


# ------------------------------------------- issue 14 review: widths, names, types, dtypes


@pytest.mark.parametrize("kind", KINDS)
def test_projected_keys_of_a_wrong_width_are_refused_with_a_value_error(kind):
    attention = make(kind)
    query, keys = inputs(attention)
    good = attention.project_keys(keys)
    assert good.shape[-1] == attention.projected_key_size()
    wrong = torch.randn(B, T, good.shape[-1] + 1)
    with pytest.raises(ValueError, match="projected_keys") as info:
        attention(query, keys, projected_keys=wrong)
    message = str(info.value)
    assert str(tuple(wrong.shape)) in message
    assert f"(B, T, {good.shape[-1]})" in message


def test_projected_keys_width_of_a_layout_that_projects_nothing_is_d_k():
    from attention_course.perf.layouts import ProjectEveryStepAttention

    attention = ProjectEveryStepAttention(QUERY, KEY, HIDDEN)  # d_a != d_k
    query, keys = inputs(attention)
    assert attention.projected_key_size() == KEY
    reused = attention(query, keys, projected_keys=attention.project_keys(keys))
    assert all(torch.equal(a, b) for a, b in zip(reused, attention(query, keys), strict=True))


def test_a_subclass_with_its_own_project_keys_is_not_refused_for_an_unknown_width():
    class Squared(LuongAttention):
        def project_keys(self, keys):
            return super().project_keys(keys) ** 2

    class Own(AttentionBase):
        query_size = key_size = KEY

        def project_keys(self, keys):
            return torch.cat([keys, keys], dim=-1)  # (B, T, 2 d_k)

        def score(self, query, projected_keys):
            return query @ projected_keys[..., :KEY].transpose(1, 2)

    own = Own()
    query, keys = inputs(own)
    assert own.projected_key_size() is None
    own(query, keys, projected_keys=own.project_keys(keys))
    squared = Squared(KEY, KEY, "dot")
    squared(query, keys, projected_keys=squared.project_keys(keys))


def test_bahdanau_takes_d_a_as_attention_size_or_by_its_old_name():
    torch.manual_seed(1)
    positional = BahdanauAttention(QUERY, KEY, HIDDEN)
    for kwargs in ({"attention_size": HIDDEN}, {"hidden_size": HIDDEN},
                   {"attention_size": HIDDEN, "hidden_size": HIDDEN}):
        attention = BahdanauAttention(QUERY, KEY, **kwargs)
        assert attention.attention_size == attention.hidden_size == HIDDEN
        assert attention.W_q.out_features == attention.W_k.out_features == HIDDEN
        attention.load_state_dict(positional.state_dict())  # the same parameters
    assert BahdanauAttention(query_size=QUERY, key_size=KEY, attention_size=HIDDEN).v.in_features == HIDDEN


def test_bahdanau_refuses_two_different_widths_for_d_a():
    with pytest.raises(TypeError, match="attention_size=4 and hidden_size=5") as info:
        BahdanauAttention(QUERY, KEY, attention_size=4, hidden_size=5)
    assert "old name" in str(info.value)
    with pytest.raises(TypeError, match="attention_size=4 and hidden_size=5"):
        BahdanauAttention(QUERY, KEY, 4, hidden_size=5)  # the positional width is attention_size


def test_bahdanau_without_d_a_names_attention_size():
    with pytest.raises(ValueError, match="attention_size must be a positive integer, got None"):
        BahdanauAttention(QUERY, KEY)
    with pytest.raises(ValueError, match="attention_size must be a positive integer, got 0"):
        BahdanauAttention(QUERY, KEY, attention_size=0)


def test_luong_concat_takes_attention_size_or_its_old_name():
    by_new = LuongAttention(QUERY, KEY, "concat", attention_size=HIDDEN)
    by_old = LuongAttention(QUERY, KEY, "concat", hidden_size=HIDDEN)
    positional = LuongAttention(QUERY, KEY, "concat", HIDDEN)
    for attention in (by_new, by_old, positional):
        assert attention.attention_size == HIDDEN and attention.W_k.out_features == HIDDEN
    with pytest.raises(ValueError, match="attention_size must be a positive integer"):
        LuongAttention(QUERY, KEY, score="concat", attention_size=-2)
    with pytest.raises(ValueError, match="needs attention_size") as info:
        LuongAttention(QUERY, KEY, score="concat")
    assert "hidden_size" in str(info.value)
    with pytest.raises(TypeError, match="attention_size=6 and hidden_size=8"):
        LuongAttention(QUERY, KEY, "concat", attention_size=6, hidden_size=8)


def test_decoder_refuses_an_attention_that_is_not_a_module_with_a_type_error():
    with pytest.raises(TypeError, match="attention must be an attention module") as info:
        AttentionDecoder(VOCAB, EMBED, H_DEC, KEY, attention="bahdanau")
    message = str(info.value)
    assert "BahdanauAttention(" in message and "'bahdanau'" in message and "str" in message
    assert "DateSeq2Seq" in message
    with pytest.raises(TypeError, match="attention must be an attention module"):
        AttentionDecoder(VOCAB, EMBED, H_DEC, KEY, torch.nn.Linear(H_DEC, KEY))


@pytest.mark.parametrize("kind", KINDS)
def test_keys_of_another_dtype_are_refused_naming_both_dtypes(kind):
    attention = make(kind)
    query, keys = inputs(attention)
    with pytest.raises(ValueError, match="query and keys must have the same dtype") as info:
        attention(query, keys.double())
    assert "torch.float32" in str(info.value) and "torch.float64" in str(info.value)
    with pytest.raises(ValueError, match="keys must be a float tensor, got dtype torch.int64"):
        attention(query, keys.long())


@pytest.mark.parametrize("kind", ["bahdanau", "general", "concat"])
def test_inputs_of_another_dtype_than_the_parameters_are_refused(kind):
    attention = make(kind)
    query, keys = inputs(attention)
    with pytest.raises(ValueError, match="parameters") as info:
        attention(query.double(), keys.double())
    assert "torch.float64" in str(info.value) and "torch.float32" in str(info.value)
    context, _ = attention.double()(query.double(), keys.double())  # converted: fine
    assert context.dtype == torch.float64


def test_dot_has_no_parameters_and_takes_any_float_dtype():
    attention = make("dot")
    query, keys = inputs(attention)
    context, weights = attention(query.double(), keys.double())
    assert context.dtype == weights.dtype == torch.float64


def test_autocast_may_mix_dtypes():
    attention = make("bahdanau")
    query, keys = inputs(attention)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        context, weights = attention(query, keys.bfloat16())
    assert context.shape == (B, KEY) and torch.isfinite(weights.float()).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_additive_attention_in_half_precision_is_finite_where_float32_is(dtype):
    # W_q s = 8 * 10000 and W_k h = -8 * 10000 overflow float16 (65504): inf + (-inf)
    # gave NaN scores before issue 15; computed in float32 they cancel to tanh(0) = 0
    attention = BahdanauAttention(8, 8, attention_size=2)
    with torch.no_grad():
        for layer in (attention.W_q, attention.W_k, attention.v):
            layer.weight.fill_(1.0)
    attention = attention.to(dtype)
    query = torch.full((1, 8), 1e4, dtype=dtype)
    keys = torch.full((1, 3, 8), -1e4, dtype=dtype)
    mask = torch.tensor([[True, True, False]])
    context, weights = attention(query, keys, mask)
    assert weights.dtype == context.dtype == dtype
    assert weights.tolist() == [[0.5, 0.5, 0.0]] and (context == -1e4).all()
    # the float32 module on the same numbers, rounded once (tolerance 0)
    context32, weights32 = attention.float()(query.float(), keys.float(), mask)
    assert torch.equal(context, context32.to(dtype))
    assert torch.equal(weights, weights32.to(dtype))


# ------------------------------------------- AttentionDecoder's inputs, checked at the door


@pytest.mark.parametrize(
    ("what", "error", "message"),
    [
        ("1-D inputs", ValueError, r"inputs must have shape \(B, T_tgt\), got \(3,\)"),
        ("float ids", ValueError, r"inputs must hold integer token ids.*torch.float32"),
        ("id = |V|", ValueError, r"token ids in \[0, 11\) \(\|V\| = 11\), got ids from 0 to 11"),
        ("T_tgt = 0", ValueError, r"at least one step.*got \(3, 0\)"),
        ("state batch", ValueError, r"inputs and state have different batch sizes"),
        ("integer state", ValueError, r"state must be a float tensor, got dtype torch.int64"),
        ("keys width", ValueError, rf"keys must have shape \(B, T, {KEY}\), got \({B}, {T}, {KEY + 1}\)"),
        ("keys batch", ValueError, r"state and keys have different batch sizes"),
        ("list keys", TypeError, r"keys must be a tensor, got list"),
    ],
)
def test_attention_decoder_forward_names_a_bad_input_before_any_layer_runs(what, error, message):
    decoder = make_decoder()
    inputs, state, keys = torch.randint(0, VOCAB, (B, T_TGT)), torch.randn(B, H_DEC), torch.randn(B, T, KEY)
    bad = {
        "1-D inputs": dict(inputs=inputs[:, 0]),
        "float ids": dict(inputs=inputs.float()),
        "id = |V|": dict(inputs=torch.cat([inputs.clamp(0, 0), torch.full_like(inputs, VOCAB)], 1)),
        "T_tgt = 0": dict(inputs=inputs[:, :0]),
        "state batch": dict(state=state[:2]),
        "integer state": dict(state=state.long()),
        "keys width": dict(keys=torch.randn(B, T, KEY + 1)),
        "keys batch": dict(keys=keys[:1]),
        "list keys": dict(keys=keys.tolist()),
    }[what]
    args = dict(inputs=inputs, state=state, keys=keys) | bad
    with mock.patch.object(decoder.attention, "project_keys", wraps=decoder.attention.project_keys) as spy:
        with pytest.raises(error, match=message):
            decoder(**args)
    assert spy.call_count == 0  # the keys are checked before they are projected


def test_attention_decoder_step_names_a_bad_token():
    decoder = make_decoder()
    state, keys = torch.randn(B, H_DEC), torch.randn(B, T, KEY)
    projected = decoder.attention.project_keys(keys)
    with pytest.raises(ValueError, match=r"token must have shape \(B,\), got \(3, 1\).*token\[:, 0\]"):
        decoder.step(torch.zeros(B, 1, dtype=torch.long), state, keys, projected)
    with pytest.raises(ValueError, match=r"token must hold token ids in \[0, 11\).*from -2 to -2"):
        decoder.step(torch.full((B,), -2), state, keys, projected)
    with pytest.raises(ValueError, match=r"state must have shape \(B, 9\), got \(3, 10\)"):
        decoder.step(torch.zeros(B, dtype=torch.long), torch.randn(B, H_DEC + 1), keys, projected)
