"""Chapter 4.1's exported code: the reversal task, dot-product attention, the encoder-decoder."""

import pytest
import torch

from attention_course import (
    SOS,
    VOCAB_SIZE,
    Seq2Seq,
    dot_product_attention,
    make_reversal_batch,
    reversal_accuracy,
    train_reversal,
)


def test_reversal_batch_is_the_reversed_source_and_repeats_with_a_seed():
    source, target = make_reversal_batch(4, 7, torch.Generator().manual_seed(3))
    assert source.shape == target.shape == (4, 7)
    assert torch.equal(target, source.flip(1))
    assert int(source.max()) <= 9 and int(source.min()) >= 0
    again, _ = make_reversal_batch(4, 7, torch.Generator().manual_seed(3))
    assert torch.equal(source, again)


def test_dot_product_attention_is_a_softmax_weighted_sum():
    torch.manual_seed(0)
    queries, keys = torch.randn(2, 3, 5), torch.randn(2, 4, 5)
    context, weights = dot_product_attention(queries, keys)
    assert context.shape == (2, 3, 5) and weights.shape == (2, 3, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    expected = torch.einsum("bqd,bkd->bqk", queries, keys).softmax(-1)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(context, torch.einsum("bqk,bkd->bqd", expected, keys), atol=1e-6)


def test_seq2seq_shapes_with_and_without_attention():
    source, target = make_reversal_batch(3, 6)
    for use_attention in (False, True):
        model = Seq2Seq(use_attention)
        assert model(source, target).shape == (3, 6, VOCAB_SIZE)
        tokens, weights = model.generate(source, 6)
        assert tokens.shape == (3, 6)
        if use_attention:
            assert weights.shape == (3, 6, 6)
            assert torch.allclose(weights.sum(-1), torch.ones(3, 6))
        else:
            assert weights is None


def test_teacher_forcing_starts_from_sos_and_never_sees_the_current_target():
    torch.manual_seed(0)
    model = Seq2Seq(use_attention=True)
    source, target = make_reversal_batch(2, 5)
    changed = target.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 10  # the last target digit is never a decoder input
    assert torch.equal(model(source, target), model(source, changed))
    assert SOS == VOCAB_SIZE - 1


def test_attention_model_learns_short_reversals():
    """A real learning outcome in a few seconds: lengths 3-6, 250 steps."""
    torch.manual_seed(0)
    model = Seq2Seq(use_attention=True, hidden_size=32)
    losses = train_reversal(model, steps=250, min_length=3, max_length=6, progress=False)
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20
    assert reversal_accuracy(model, 5).mean() > 0.9


def test_an_odd_hidden_size_is_refused_before_the_gru_halves_it():
    from attention_course.tasks.reversal import Encoder

    for build in (lambda: Encoder(hidden_size=7), lambda: Seq2Seq(True, hidden_size=7),
                  lambda: Seq2Seq(False, embed_size=8, hidden_size=7)):
        with pytest.raises(ValueError, match="hidden_size") as info:
            build()
        assert "even" in str(info.value) and "got 7" in str(info.value)
    states, summary = Encoder(hidden_size=6)(torch.zeros(2, 3, dtype=torch.long))
    assert states.shape == (2, 3, 6) and summary.shape == (1, 2, 6)


def large_queries_and_keys(dtype):
    """s_t . h_i = 40 * 40 * 48 = 76800 > 65504, plus small parts that differ per key."""
    generator = torch.Generator().manual_seed(5)
    queries = torch.cat([torch.full((2, 3, 48), 40.0), torch.randn(2, 3, 8, generator=generator)], -1)
    keys = torch.cat([torch.full((2, 5, 48), 40.0), 0.5 * torch.randn(2, 5, 8, generator=generator)], -1)
    return queries.to(dtype), keys.to(dtype)


def test_dot_product_attention_inputs_overflow_float16_scores():
    queries, keys = large_queries_and_keys(torch.float16)
    assert torch.isinf(queries @ keys.transpose(1, 2)).all()  # the raw float16 scores


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_dot_product_attention_in_half_precision_is_finite_and_close_to_float32(dtype):
    """Tolerance: one rounding to `dtype`, eps = 2**-10 (float16), 2**-7 (bfloat16),
    of the weights (at most 1) and of the context (at most max |h_i|)."""
    queries, keys = large_queries_and_keys(dtype)
    context, weights = dot_product_attention(queries, keys)
    assert context.dtype == weights.dtype == dtype
    assert torch.isfinite(context).all() and torch.isfinite(weights).all()
    eps = torch.finfo(dtype).eps
    assert torch.allclose(weights.float().sum(-1), torch.ones(2, 3), atol=eps)
    context32, weights32 = dot_product_attention(queries.float(), keys.float())
    assert weights32.max() < 0.9 and weights32.min() > 1e-3  # neither one-hot nor flat
    assert torch.allclose(weights.float(), weights32, rtol=0, atol=eps)
    assert torch.allclose(context.float(), context32, rtol=0, atol=eps * 40)


def test_dot_product_attention_float32_and_float64_are_the_plain_formula_bit_for_bit():
    for dtype in (torch.float32, torch.float64):
        queries, keys = torch.randn(2, 3, 5, dtype=dtype), torch.randn(2, 4, 5, dtype=dtype)
        context, weights = dot_product_attention(queries, keys)
        expected = (queries @ keys.transpose(1, 2)).softmax(dim=-1)
        assert weights.dtype == dtype and torch.equal(weights, expected)
        assert torch.equal(context, expected @ keys)
