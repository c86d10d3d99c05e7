"""Chapter 4.3: LuongAttention in half precision; Luong's decoder and local-p attention.

The first part: LuongAttention in half precision is finite wherever float32 is.

A dot or general score s^T h_i of two wide vectors easily exceeds 65504, the largest
float16, so computed in float16 it becomes inf and the softmax NaN. The module computes
its projections, scores, softmax and weighted sum in float32 and rounds context and
weights back once. Tolerances against the float32 module with the same (rounded) weights
and inputs: one rounding of a value of at most 1 (the weights) or of at most max |h_i|
(the context) is within torch.finfo(dtype).eps of it, relative to that bound:
    float16:  eps = 2**-10 ~ 9.8e-4      bfloat16: eps = 2**-7 ~ 7.8e-3
Rows of weights sum to 1 within the same eps. float32 results are unchanged, bit for bit.
"""

import copy
import math
from unittest import mock

import pytest
import torch

from attention_course import LuongAttention
from attention_course.bahdanau import masked_softmax

SCORES = ("dot", "general", "concat")
HALF = (torch.float16, torch.bfloat16)
D = 48  # d_q = d_k


def large_inputs(dtype, B=3, T_q=2, T_k=6, seed=0):
    """Queries and keys with 32 entries of 50 and 16 small ones, and a mask.

    Each s . h_i is 32 * 50 * 50 = 80000 > 65504 plus the product of the small parts,
    which differs between keys by about one unit: the weights are neither uniform nor
    one-hot.
    """
    generator = torch.Generator().manual_seed(seed)
    large = torch.full((32,), 50.0)
    query = torch.cat([large.expand(B, T_q, 32),
                       torch.randn(B, T_q, D - 32, generator=generator)], dim=-1)
    keys = torch.cat([large.expand(B, T_k, 32),
                      0.3 * torch.randn(B, T_k, D - 32, generator=generator)], dim=-1)
    mask = torch.rand(B, T_k, generator=generator) > 0.3  # (B, T_k)
    mask[0, 0], mask[1, :] = True, False  # row 1: nothing to attend to
    return query.to(dtype), keys.to(dtype), mask


def module(score, dtype, seed=0):
    torch.manual_seed(seed)
    return LuongAttention(D, D, score, attention_size=16).to(dtype)


def test_the_raw_half_precision_dot_products_overflow():
    """Not a vacuous test: these inputs break a score computed in float16."""
    query, keys, _ = large_inputs(torch.float16)
    raw = query @ keys.transpose(1, 2)  # float16 scores
    assert torch.isinf(raw).any()
    assert torch.isnan(torch.softmax(raw, dim=-1)).any()
    assert (query.float() @ keys.float().transpose(1, 2)).abs().max() > 65504


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("score", SCORES)
def test_half_precision_is_finite_and_close_to_float32(score, dtype):
    attention = module(score, dtype)
    reference = copy.deepcopy(attention).float()  # the same rounded weights, in float32
    query, keys, mask = large_inputs(dtype)
    context, weights = attention(query, keys, mask)
    assert context.dtype == weights.dtype == dtype
    assert torch.isfinite(context).all() and torch.isfinite(weights).all()

    eps = torch.finfo(dtype).eps
    sums = weights.float().sum(dim=-1)  # (B, T_q)
    assert torch.allclose(sums[[0, 2]], torch.ones_like(sums[[0, 2]]), atol=eps)
    assert (sums[1] == 0).all() and (context[1] == 0).all()  # the fully masked row
    assert (weights.masked_select(~mask.unsqueeze(1).expand_as(weights)) == 0).all()

    context32, weights32 = reference(query.float(), keys.float(), mask)
    assert torch.allclose(weights.float(), weights32, rtol=0, atol=eps)
    bound = keys.float().abs().max()
    assert torch.allclose(context.float(), context32, rtol=0, atol=eps * bound)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("score", ("dot", "general"))
def test_equal_large_scores_share_the_weight(score, dtype):
    """Every s . h_i = 50 * 50 * 48 = 120000 > 65504: equal weights on the allowed keys."""
    attention = module(score, dtype)
    if score == "general":
        with torch.no_grad():
            attention.W.weight.copy_(torch.eye(D))  # W_a = I: general = dot
    query = torch.full((1, D), 50.0, dtype=dtype)  # (B, d_q): one query
    keys = torch.full((1, 4, D), 50.0, dtype=dtype)  # (B, T_k, d_k)
    mask = torch.tensor([[True, False, True, True]])
    context, weights = attention(query, keys, mask)
    third = torch.tensor(1 / 3, dtype=dtype).item()
    assert weights.tolist() == [[third, 0.0, third, third]]
    assert torch.allclose(context.float(), torch.full((1, D), 50.0), atol=0.5)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("score", SCORES)
def test_half_precision_gradients_are_finite(score, dtype):
    attention = module(score, dtype)
    query, keys, mask = large_inputs(dtype)
    query.requires_grad_(True)
    keys.requires_grad_(True)
    context, _ = attention(query, keys, mask)
    context.float().sum().backward()
    assert torch.isfinite(query.grad).all() and torch.isfinite(keys.grad).all()


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("score", SCORES)
def test_projected_keys_computed_once_give_the_same_result(score, dtype):
    attention = module(score, dtype)
    query, keys, mask = large_inputs(dtype)
    projected = attention.project_keys(keys)
    for a, b in zip(attention(query, keys, mask, projected_keys=projected),
                    attention(query, keys, mask), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("score", ("dot", "general"))
def test_float32_is_computed_as_before_bit_for_bit(score):
    """The float32 path is the plain formula: softmax(s^T W_a h_i) and its weighted sum."""
    attention = module(score, torch.float32)
    generator = torch.Generator().manual_seed(0)
    query, keys = torch.randn(3, 2, D, generator=generator), torch.randn(3, 6, D)
    mask = torch.rand(3, 6, generator=generator) > 0.3  # (B, T_k)
    projected = keys if score == "dot" else attention.W(keys)  # (B, T_k, d_q)
    scores = query @ projected.transpose(1, 2)  # (B, T_q, T_k)
    weights = masked_softmax(scores, mask.unsqueeze(1))
    context, got = attention(query, keys, mask)
    assert torch.equal(got, weights)
    assert torch.equal(context, weights @ keys)


# --- Luong's decoder and local-p attention (chapter 4.3, issue 16) ---------------------

from attention_course.luong import LocalPAttention, LuongDecoder  # noqa: E402


def hand_decoder():
    """The decoder of chapter 4.3's step worked by hand: zero GRU, W_c [c; s] = c + s."""
    decoder = LuongDecoder(3, 1, 2, 2, LuongAttention(2, 2, score="dot"))
    with torch.no_grad():
        for parameter in decoder.rnn.parameters():
            parameter.zero_()
        decoder.W_c.weight.copy_(torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1]]))
        decoder.W_s.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [1, 1]]))
        decoder.W_s.bias.zero_()
    return decoder


def test_the_decoder_step_worked_by_hand():
    decoder = hand_decoder()
    keys = torch.tensor([[[1.0, 0], [0, 1], [0, 0], [5, 5]]])
    mask = torch.tensor([[True, True, True, False]])
    state = decoder.initial_state(torch.tensor([[2 * math.log(2), 0.0]]))
    assert torch.equal(state[:, 2:], torch.zeros(1, 2))  # h~_0 = 0
    logits, state, weights = decoder.step(torch.tensor([0]), state, keys, keys, mask)
    h = [math.tanh(0.5 + math.log(2)), math.tanh(0.25)]
    assert torch.allclose(weights, torch.tensor([[0.5, 0.25, 0.25, 0.0]]))
    assert weights[0, 3] == 0  # padding
    assert torch.allclose(state, torch.tensor([[math.log(2), 0.0, *h]]))
    assert torch.allclose(logits, torch.tensor([[h[0], h[1], h[0] + h[1]]]))


def random_decoder(input_feeding=True, attention=None, seed=0):
    torch.manual_seed(seed)
    attention = attention or LuongAttention(8, 6, score="general")
    return LuongDecoder(11, 5, 8, 6, attention, input_feeding=input_feeding)


def decoder_inputs(seed=1):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 11, (3, 7), generator=generator)  # (B, T_tgt)
    s_0 = torch.randn(3, 8, generator=generator)  # (B, H)
    keys = torch.randn(3, 5, 6, generator=generator)  # (B, T_src, d_k)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    return inputs, s_0, keys, mask


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("kind", ["dot", "general", "concat", "local-p"])
def test_decoder_shapes_masks_and_steps(kind, input_feeding):
    attention = (LocalPAttention(8, 8, window=2) if kind == "local-p"
                 else LuongAttention(8, 8, kind, attention_size=4))
    torch.manual_seed(0)
    decoder = LuongDecoder(11, 5, 8, 8, attention, input_feeding=input_feeding)
    inputs, s_0, _, mask = decoder_inputs()
    keys = torch.randn(3, 5, 8)
    logits, weights = decoder(inputs, s_0, keys, mask)
    assert logits.shape == (3, 7, 11) and weights.shape == (3, 7, 5)
    assert (weights.masked_select(~mask[:, None, :]) == 0).all()  # padding: weight 0
    assert torch.allclose(weights.sum(-1), torch.ones(3, 7), atol=1e-5)
    assert decoder.rnn.input_size == 5 + 8 * input_feeding
    state = decoder.initial_state(s_0)  # the same steps one at a time
    projected = decoder.attention.project_keys(keys)
    for t in range(7):
        step_logits, state, step_weights = decoder.step(inputs[:, t], state, keys,
                                                        projected, mask)
        assert state.shape == (3, 16)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-6)
        assert torch.allclose(step_weights, weights[:, t], atol=1e-6)


def test_input_feeding_passes_the_attentional_state_to_the_next_step():
    inputs, s_0, keys, mask = decoder_inputs()
    for feeding in (True, False):
        decoder = random_decoder(feeding)
        state = decoder.initial_state(s_0)
        other = state.clone()
        other[:, 8:] = 0.5  # the same s_{t-1}, another h~_{t-1}
        projected = decoder.attention.project_keys(keys)
        a = decoder.step(inputs[:, 0], state, keys, projected, mask)[1][:, :8]
        b = decoder.step(inputs[:, 0], other, keys, projected, mask)[1][:, :8]
        assert (a - b).abs().max() > 1e-3 if feeding else torch.equal(a, b)


def test_the_decoder_attends_with_the_current_state():
    decoder = random_decoder()
    inputs, s_0, keys, mask = decoder_inputs()
    state = decoder.initial_state(s_0)
    projected = decoder.attention.project_keys(keys)
    _, new_state, weights = decoder.step(inputs[:, 0], state, keys, projected, mask)
    _, expected = decoder.attention(new_state[:, :8], keys, mask)  # s_t, not s_{t-1}
    assert torch.allclose(weights, expected)


def test_decoder_refuses_bad_inputs():
    with pytest.raises(TypeError, match="attention must be an attention module"):
        LuongDecoder(11, 5, 8, 6, "general")
    with pytest.raises(ValueError, match="query_size=8, key_size=8"):
        LuongDecoder(11, 5, 8, 6, LuongAttention(8, 8, "dot"))
    with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
        LuongDecoder(0, 5, 8, 6, LuongAttention(8, 6))
    decoder = random_decoder()
    inputs, s_0, keys, mask = decoder_inputs()
    projected = decoder.attention.project_keys(keys)
    with pytest.raises(ValueError, match=r"shape \(B, 16\), got \(3, 8\).*initial_state"):
        decoder.step(inputs[:, 0], s_0, keys, projected, mask)  # s_0 not converted
    with pytest.raises(ValueError, match=r"s_0 of shape \(B, 8\), got \(3, 16\)"):
        decoder.initial_state(torch.zeros(3, 16))


def local_p_by_hand(normalize):
    local = LocalPAttention(2, 2, score="dot", window=2, position_size=1,
                            normalize=normalize)
    with torch.no_grad():
        local.W_p.weight.copy_(torch.tensor([[1.0, 0.0]]))
        local.v_p.weight.fill_(2.0)
    keys = torch.tensor([[[x, 0.0] for x in [0, 0, math.log(2), 0, 0, 9]]])
    mask = torch.tensor([[True] * 5 + [False]])
    return local, torch.tensor([[1.0, 0.0]]), keys, mask


@pytest.mark.parametrize("normalize", [True, False])
def test_local_p_worked_by_hand(normalize):
    local, query, keys, mask = local_p_by_hand(normalize)
    p = 5 / (1 + math.exp(-2 * math.tanh(1.0)))
    assert math.isclose(local.aligned_position(query[:, None], mask.sum(-1)).item(), p,
                        rel_tol=1e-6)
    gauss = [math.exp(-((i - p) ** 2) / 2) for i in (3, 4, 5)]
    paper = [0, 0, 0.5 * gauss[0], 0.25 * gauss[1], 0.25 * gauss[2], 0]
    expected = [w / sum(paper) for w in paper] if normalize else paper
    context, weights = local(query, keys, mask)
    assert torch.allclose(weights, torch.tensor([expected]))
    assert weights[0, 5] == 0  # padding inside the window [2.1, 6.1]
    assert torch.allclose(context, weights @ keys[0])


def test_local_p_window_gaussian_and_padding():
    torch.manual_seed(0)
    local = LocalPAttention(6, 6, score="general", window=2)
    keys, query = torch.randn(3, 9, 6), torch.randn(3, 4, 6)  # T_q = 4 queries
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 6:], mask[2, 2:] = False, False  # lengths 9, 6, 2
    _, weights = local(query, keys, mask)  # (3, 4, 9)
    p = local.aligned_position(query, mask.sum(-1))  # (3, 4)
    assert ((p > 0) & (p < mask.sum(-1)[:, None])).all()  # p_t in (0, S), S per row
    i = torch.arange(1, 10)
    outside = (i - p[..., None]).abs() > 2
    assert (weights[outside] == 0).all() and (weights.masked_select(~mask[:, None]) == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4), atol=1e-6)
    paper = LocalPAttention(6, 6, score="general", window=2, normalize=False)
    paper.load_state_dict(local.state_dict())
    _, raw = paper(query, keys, mask)
    gauss = torch.exp(-((i - p[..., None]) ** 2) / 2)  # sigma = D/2 = 1
    inside = ~outside & mask[:, None]
    # the paper's weights: the softmax over the window times the Gaussian
    window_softmax = masked_softmax(local.score(query, local.project_keys(keys)), inside)
    assert torch.allclose(raw, window_softmax * gauss * inside, atol=1e-6)
    assert (raw.sum(-1) <= 1 + 1e-6).all()  # the paper's weights sum to less than 1


def test_local_p_one_query_gradients_reach_the_position_layer():
    torch.manual_seed(0)
    local = LocalPAttention(4, 4, window=3)
    context, _ = local(torch.randn(2, 4), torch.randn(2, 7, 4))
    context.sum().backward()
    assert local.W_p.weight.grad.abs().sum() > 0 and local.v_p.weight.grad.abs().sum() > 0


def test_local_p_refuses_bad_inputs():
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        LocalPAttention(4, 4, window=0)
    with pytest.raises(ValueError, match="window must be a positive integer, got 2.5"):
        LocalPAttention(4, 4, window=2.5)
    with pytest.raises(ValueError, match="score must be one of"):
        LocalPAttention(4, 4, score="cosine")
    with pytest.raises(ValueError, match="position_size must be a positive integer"):
        LocalPAttention(4, 4, position_size=-1)
    local = LocalPAttention(4, 4)
    with pytest.raises(ValueError, match=r"keys must have shape \(B, T, 4\)"):
        local(torch.randn(2, 4), torch.randn(2, 7, 5))
    with pytest.raises(ValueError, match="mask must be boolean"):
        local(torch.randn(2, 4), torch.randn(2, 7, 4), torch.ones(2, 7))
    with pytest.raises(ValueError, match=r"projected_keys must be project_keys\(keys\)"):
        local(torch.randn(2, 4), torch.randn(2, 7, 4), projected_keys=torch.randn(2, 7, 3))


# ------------------------------------------------- local-p with padding anywhere (ranks)


def gather_real(keys, mask):
    """The real positions of each row, in order, at the front: a right-padded batch."""
    order = torch.argsort((~mask).int(), dim=-1, stable=True)  # real ones first
    packed_keys = torch.gather(keys, 1, order[..., None].expand_as(keys))
    packed_mask = torch.gather(mask, 1, order)
    return packed_keys, packed_mask, order


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("score", ["dot", "general", "concat"])
@pytest.mark.parametrize("layout", ["left padding", "holes", "both ends"])
def test_local_p_padding_anywhere_gives_the_right_padded_result(layout, score, normalize):
    """Positions are ranks among the real ones: where the padding sits changes nothing."""
    torch.manual_seed(0)
    local = LocalPAttention(6, 6, score=score, window=2, attention_size=5,
                            normalize=normalize)
    keys, query = torch.randn(3, 9, 6), torch.randn(3, 4, 6)  # T_q = 4 queries
    rows = {"left padding": [[0] * 3 + [1] * 6, [0] * 7 + [1] * 2, [0] * 8 + [1]],
            "holes": [[1, 0, 1, 1, 0, 0, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1],
                      [0, 1, 0, 1, 0, 1, 0, 1, 0]],
            "both ends": [[0, 0, 1, 1, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0, 0, 1, 0],
                          [0, 0, 0, 0, 1, 0, 0, 0, 0]]}
    mask = torch.tensor(rows[layout], dtype=torch.bool)
    context, weights = local(query, keys, mask)  # (3, 4, 6), (3, 4, 9)
    packed_keys, packed_mask, order = gather_real(keys, mask)
    assert (packed_mask == (torch.arange(9) < mask.sum(-1, keepdim=True))).all()
    expected_context, packed_weights = local(query, packed_keys, packed_mask)
    # the weights of the right-padded batch, put back at the real positions
    expected = torch.zeros_like(weights).scatter(2, order[:, None].expand_as(weights),
                                                 packed_weights)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(context, expected_context, atol=1e-6)
    assert (weights.masked_select(~mask[:, None]) == 0).all()  # padding: weight 0
    assert (weights.sum(-1) > 0).all()  # the window always holds a real position
    if normalize:
        assert torch.allclose(weights.sum(-1), torch.ones(3, 4), atol=1e-6)


def test_local_p_the_reviewer_s_left_padded_row_attends_its_real_positions():
    """Window 1, six padding positions first: before, every weight was 0."""
    torch.manual_seed(0)
    local = LocalPAttention(4, 4, window=1)
    mask = torch.tensor([[False] * 6 + [True] * 2])
    for seed in range(20):  # many queries, so p_t lands all over (0, 2)
        query = torch.randn(1, 4, generator=torch.Generator().manual_seed(seed)) * 3
        keys = torch.randn(1, 8, 4)
        context, weights = local(query, keys, mask)
        assert torch.allclose(weights.sum(), torch.tensor(1.0), atol=1e-6)
        assert (weights[0, :6] == 0).all() and weights[0, 6:].sum() > 0
        assert torch.allclose(context, weights @ keys[0], atol=1e-6)


def test_local_p_a_row_with_no_real_position_gets_zero_weights():
    local = LocalPAttention(4, 4, window=2)
    mask = torch.tensor([[True] * 5, [False] * 5])
    context, weights = local(torch.randn(2, 4), torch.randn(2, 5, 4), mask)
    assert (weights[1] == 0).all() and (context[1] == 0).all()
    assert not torch.isnan(weights).any()


# ---------------------------------------------- the decoder's inputs, checked at the door

B3, T_TGT, T_SRC = 3, 7, 5  # decoder_inputs(): (3, 7) ids, (3, 8) s_0, (3, 5, 6) keys


def bad_forward_inputs():
    """(what is wrong, (inputs, state, keys, mask), error, message) for `forward`."""
    inputs, s_0, keys, mask = decoder_inputs()
    return [
        ("1-D inputs", (inputs[:, 0], s_0, keys, mask), ValueError,
         r"inputs must have shape \(B, T_tgt\), got \(3,\).*decoder.step"),
        ("float ids", (inputs.float(), s_0, keys, mask), ValueError,
         r"inputs must hold integer token ids \(B, T_tgt\).*got dtype torch.float32"),
        ("bool ids", (inputs > 3, s_0, keys, mask), ValueError, r"got dtype torch.bool"),
        ("id = |V|", (inputs.clone().fill_(11), s_0, keys, mask), ValueError,
         r"inputs must hold token ids in \[0, 11\) \(\|V\| = 11\), got ids from 11 to 11"),
        ("id 40", (torch.cat([inputs, inputs + 40], 1), s_0, keys, mask), ValueError,
         r"token ids in \[0, 11\).*got ids from 0 to 50"),
        ("negative id", (inputs - 1, s_0, keys, mask), ValueError,
         r"token ids in \[0, 11\).*got ids from -1 to"),
        ("T_tgt = 0", (inputs[:, :0], s_0, keys, mask), ValueError,
         r"inputs must have at least one step.*T_tgt >= 1, got \(3, 0\)"),
        ("list inputs", (inputs.tolist(), s_0, keys, mask), TypeError,
         r"inputs must be a tensor, got list"),
        ("state batch", (inputs, s_0[:2], keys, mask), ValueError,
         r"inputs and state have different batch sizes: inputs \(3, 7\), state \(2, 8\)"),
        ("inputs batch", (inputs[:1], s_0, keys, mask), ValueError,
         r"inputs and state have different batch sizes: inputs \(1, 7\), state \(3, 8\)"),
        ("keys batch", (inputs, s_0, keys[:2], mask[:2]), ValueError,
         r"state and keys have different batch sizes: state \(3, 8\), keys \(2, 5, 6\)"),
        ("integer state", (inputs, s_0.long(), keys, mask), ValueError,
         r"state must be a float tensor, got dtype torch.int64"),
        ("float64 state", (inputs, s_0.double(), keys, mask), ValueError,
         r"state and keys must have the same dtype, got state torch.float64"),
        ("float64 both", (inputs, s_0.double(), keys.double(), mask), ValueError,
         r"state and keys have dtype torch.float64 but the decoder's parameters are "
         r"torch.float32"),
        ("[s_0; h~_0] state", (inputs, torch.zeros(3, 16), keys, mask), ValueError,
         r"state must have shape \(B, 8\), got \(3, 16\); forward takes the encoder's s_0"),
        ("3-D state", (inputs, s_0[None], keys, mask), ValueError,
         r"state must have shape \(B, 8\), got \(1, 3, 8\)"),
        ("keys width", (inputs, s_0, torch.randn(3, 5, 7), mask), ValueError,
         r"keys must have shape \(B, T, 6\), got \(3, 5, 7\)"),
        ("2-D keys", (inputs, s_0, keys[:, 0], mask), ValueError,
         r"keys must have shape \(B, T, 6\), got \(3, 6\)"),
        ("mask shape", (inputs, s_0, keys, mask[:, :4]), ValueError,
         r"mask must have shape \(B, T\) = \(3, 5\) like keys"),
        ("float mask", (inputs, s_0, keys, mask.float()), ValueError,
         r"mask must be boolean.*got torch.float32"),
        ("list mask", (inputs, s_0, keys, mask.tolist()), TypeError,
         r"mask must be a tensor, got list"),
    ]


@pytest.mark.parametrize("kind", ["general", "local-p"])
@pytest.mark.parametrize("case", bad_forward_inputs(), ids=lambda case: case[0])
def test_decoder_forward_names_a_bad_input_before_any_layer_runs(case, kind):
    _, args, error, message = case
    attention = (LocalPAttention(8, 6, window=2) if kind == "local-p"
                 else LuongAttention(8, 6, "general"))
    decoder = random_decoder(attention=attention)
    with mock.patch.object(decoder.attention, "project_keys",
                           wraps=decoder.attention.project_keys) as project, \
         mock.patch.object(decoder.embedding, "forward",
                           wraps=decoder.embedding.forward) as embed:
        with pytest.raises(error, match=message):
            decoder(*args)
    assert project.call_count == 0 and embed.call_count == 0  # nothing ran before


def bad_step_inputs():
    """(what is wrong, (token, state, keys, mask), error, message) for `step`."""
    inputs, s_0, keys, mask = decoder_inputs()
    state = torch.cat([s_0, torch.zeros_like(s_0)], -1)  # (3, 16): initial_state
    token = inputs[:, 0]  # (3,)
    return [
        ("(B, 1) token", (inputs[:, :1], state, keys, mask), ValueError,
         r"token must have shape \(B,\), got \(3, 1\).*token\[:, 0\]"),
        ("(B, T) token", (inputs, state, keys, mask), ValueError,
         r"token must have shape \(B,\), got \(3, 7\)"),
        ("0-D token", (token[0], state, keys, mask), ValueError,
         r"token must have shape \(B,\), got \(\)"),
        ("float token", (token.float(), state, keys, mask), ValueError,
         r"token must hold integer token ids \(B,\) of dtype torch.long, got dtype "
         r"torch.float32"),
        ("token = |V|", (torch.full((3,), 11), state, keys, mask), ValueError,
         r"token must hold token ids in \[0, 11\).*got ids from 11 to 11"),
        ("python int", (3, state, keys, mask), TypeError, r"token must be a tensor, got int"),
        ("state batch", (token, state[:2], keys, mask), ValueError,
         r"token and state have different batch sizes: token \(3,\), state \(2, 16\)"),
        ("s_0 as state", (token, s_0, keys, mask), ValueError,
         r"state must have shape \(B, 16\), got \(3, 8\).*initial_state"),
        ("integer state", (token, state.long(), keys, mask), ValueError,
         r"state must be a float tensor, got dtype torch.int64"),
        ("keys batch", (token, state, keys[:1], mask[:1]), ValueError,
         r"state and keys have different batch sizes"),
        ("keys width", (token, state, torch.randn(3, 5, 8), mask), ValueError,
         r"keys must have shape \(B, T, 6\), got \(3, 5, 8\)"),
        ("float64 keys", (token, state, keys.double(), mask), ValueError,
         r"state and keys must have the same dtype"),
        ("mask batch", (token, state, keys, mask[:2]), ValueError,
         r"mask must have shape \(B, T\) = \(3, 5\)"),
    ]


@pytest.mark.parametrize("case", bad_step_inputs(), ids=lambda case: case[0])
def test_decoder_step_names_a_bad_input_before_any_layer_runs(case):
    _, (token, state, keys, mask), error, message = case
    decoder = random_decoder()
    projected = decoder.attention.project_keys(torch.randn(3, 5, 6))
    with mock.patch.object(decoder.embedding, "forward",
                           wraps=decoder.embedding.forward) as embed:
        with pytest.raises(error, match=message):
            decoder.step(token, state, keys, projected, mask)
    assert embed.call_count == 0


def test_decoder_step_refuses_projected_keys_of_other_keys():
    decoder = random_decoder()
    inputs, s_0, keys, mask = decoder_inputs()
    wrong = decoder.attention.project_keys(torch.randn(3, 4, 6))
    with pytest.raises(ValueError, match=r"projected_keys must be project_keys\(keys\)"):
        decoder.step(inputs[:, 0], decoder.initial_state(s_0), keys, wrong, mask)


def test_decoder_takes_int32_ids_and_the_last_id():
    decoder = random_decoder()
    inputs, s_0, keys, mask = decoder_inputs()
    inputs[0, 0] = 10  # |V| - 1
    logits, _ = decoder(inputs, s_0, keys, mask)
    logits32, _ = decoder(inputs.int(), s_0, keys, mask)
    assert torch.equal(logits, logits32)


def test_initial_state_names_a_state_that_is_not_a_tensor():
    with pytest.raises(TypeError, match=r"state must be the encoder's s_0, a tensor "
                                        r"\(B, 8\), got list"):
        random_decoder().initial_state([[0.0] * 8] * 3)
