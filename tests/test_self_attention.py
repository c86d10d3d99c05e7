"""Chapter 4.6: scaled dot-product attention, multi-head attention, attention pooling (the
mechanisms, attention_course.self_attention) and the sentiment task (attention_course.tasks.sentiment)."""

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attention_course import self_attention
from attention_course.self_attention import (
    AttentionPooling,
    MultiHeadAttention,
    SelfAttentionHead,
    merge_heads,
    scaled_dot_product_attention,
    single_heads,
    split_heads,
)
from attention_course.tasks.sentiment import (
    BiLSTMClassifier,
    build_vocab,
    classifier_accuracy,
    encode_texts,
    load_movie_reviews,
    movie_review_splits,
    tokenize,
    train_classifier,
)
from attention_course.utils import PROGRESS_ENV

DTYPES = [torch.float32, torch.float64]
TOLERANCE = 1e-5


def qkv(*shape, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator).to(dtype) for _ in range(3)]


def max_error(a, b):
    return (a - b).abs().max().item()


# ----------------------------------------------------------------- scaled_dot_product_attention


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 7, 8), (2, 4, 7, 8)], ids=["B,T,d", "B,h,T,d"])
def test_sdpa_matches_pytorch_without_mask(dtype, shape):
    q, k, v = qkv(*shape, dtype=dtype)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == shape and weights.shape == (*shape[:-1], shape[-2])
    assert max_error(out, F.scaled_dot_product_attention(q, k, v)) <= TOLERANCE
    assert torch.allclose(weights.sum(-1), torch.ones_like(weights[..., 0]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_matches_pytorch_with_broadcasting_padding_mask(dtype):
    q, k, v = qkv(2, 4, 5, 8, dtype=dtype)
    padding = torch.tensor([[True] * 5, [True, True, True, False, False]])  # (B, T_k)
    mask = padding[:, None, None, :]  # (B, 1, 1, T_k)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert max_error(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)) <= TOLERANCE
    assert (weights[1, ..., 3:] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 6, 8), (2, 4, 6, 8)], ids=["B,T,d", "B,h,T,d"])
def test_sdpa_causal_matches_pytorch(dtype, shape):
    q, k, v = qkv(*shape, dtype=dtype)
    out, weights = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert max_error(out, F.scaled_dot_product_attention(q, k, v, is_causal=True)) <= TOLERANCE
    assert (weights.triu(diagonal=1) == 0).all()


def test_sdpa_causal_with_different_query_and_key_lengths():
    q = torch.randn(2, 3, 8)
    k, v = torch.randn(2, 5, 8), torch.randn(2, 5, 4)
    out, _ = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.shape == (2, 3, 4)
    assert max_error(out, F.scaled_dot_product_attention(q, k, v, is_causal=True)) <= TOLERANCE


def test_sdpa_causal_and_padding_mask_combine():
    q, k, v = qkv(2, 6, 8)
    padding = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])[:, None, :]  # (B, 1, T_k)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    out, _ = scaled_dot_product_attention(q, k, v, padding, is_causal=True)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=padding & causal)
    assert max_error(out, reference) <= TOLERANCE


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sdpa_fully_masked_row_gives_zeros_not_nan(dtype):
    q, k, v = qkv(2, 4, 5, 8, dtype=dtype)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[1, :, 2] = False  # query 2 of sequence 2 may see nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert not out.isnan().any() and not weights.isnan().any()
    assert (out[1, :, 2] == 0).all() and (weights[1, :, 2] == 0).all()
    assert torch.allclose(weights[0].float().sum(-1), torch.ones(4, 5), atol=1e-2)


def test_sdpa_gradient_is_finite_with_fully_masked_rows():
    q, k, v = (t.requires_grad_() for t in qkv(1, 3, 4))
    out, _ = scaled_dot_product_attention(q, k, v, torch.zeros(1, 3, 3, dtype=torch.bool))
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_sdpa_dropout_zeroes_weights_only_when_asked():
    q, k, v = qkv(2, 16, 8)
    torch.manual_seed(0)
    _, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert (weights == 0).any()
    _, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    assert (weights > 0).all()


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((2, 5), (2, 5, 8), (2, 5, 8)), r"same number of dimensions.*query \(2, 5\)"),
        (((2, 5, 8), (2, 5, 4), (2, 5, 8)), r"d_k=8.*key \(2, 5, 4\)"),
        (((2, 5, 8), (2, 5, 8), (2, 6, 8)), r"T_k=5.*value \(2, 6, 8\)"),
        (((2, 5, 8), (3, 5, 8), (3, 5, 8)), r"leading .* \(2,\).*key \(3, 5, 8\)"),
    ],
)
def test_sdpa_rejects_bad_shapes(shapes, message):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_rejects_bad_masks(is_causal):
    q, k, v = qkv(2, 5, 8)
    with pytest.raises(ValueError, match=r"\(2, 5, 5\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(3, 5, 5, dtype=torch.bool), is_causal=is_causal)
    with pytest.raises(ValueError, match="bool"):
        scaled_dot_product_attention(q, k, v, torch.ones(2, 5, 5), is_causal=is_causal)


def test_sdpa_rejects_bad_dropout():
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\), got 1.5"):
        scaled_dot_product_attention(*qkv(1, 2, 4), dropout_p=1.5)


# ----------------------------------------------------------------- MultiHeadAttention


def test_split_and_merge_heads_are_inverse():
    projected = torch.randn(2, 5, 12)  # e.g. the queries of 3 heads side by side
    heads = split_heads(projected, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads[:, 1], projected[..., 4:8])  # head 1: projected features 4..7
    assert torch.equal(merge_heads(heads), projected)


@pytest.mark.parametrize(
    ("shape", "num_heads"), [((2, 3, 10), 3), ((3, 10), 2), ((2, 1, 3, 4), 2), ((2, 3, 8), 0)])
def test_split_heads_names_x_shape_and_num_heads(shape, num_heads):
    expected = re.escape(f"got x of shape {shape} and num_heads={num_heads}")
    with pytest.raises(ValueError, match=expected):
        split_heads(torch.randn(*shape), num_heads)


@pytest.mark.parametrize("num_heads", [2.0, "2", True])
def test_split_heads_rejects_a_num_heads_that_is_not_an_int(num_heads):
    with pytest.raises(TypeError, match=f"num_heads must be a positive int, got {num_heads!r}"):
        split_heads(torch.randn(2, 3, 8), num_heads)


def test_merge_heads_names_x_shape():
    with pytest.raises(ValueError, match=re.escape("got x of shape (2, 3, 8)")):
        merge_heads(torch.randn(2, 3, 8))


@pytest.mark.parametrize(("embed_dim", "num_heads", "name"),
                         [(8, 2.0, "num_heads"), (8.0, 2, "embed_dim"), ("8", 2, "embed_dim"),
                          (8, True, "num_heads")])
def test_mha_rejects_sizes_that_are_not_ints_when_built(embed_dim, num_heads, name):
    with pytest.raises(TypeError, match=f"{name} must be a positive int, got"):
        MultiHeadAttention(embed_dim, num_heads)


def test_mha_takes_integer_sizes_of_numpy_and_rejects_a_bad_dropout_when_built():
    mha = MultiHeadAttention(np.int64(8), np.int64(2))
    assert (mha.embed_dim, mha.num_heads, mha.head_dim) == (8, 2, 4)
    assert type(mha.embed_dim) is int and type(mha.num_heads) is int
    with pytest.raises(ValueError, match="dropout must be in \\[0, 1\\), got 1.5"):
        MultiHeadAttention(8, 2, dropout=1.5)


def test_every_head_reads_every_input_feature():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 4).eval()
    x = torch.randn(2, 5, 8)
    changed = x.clone()
    changed[..., 0] += 1.0  # one input feature
    for proj in (mha.q_proj, mha.k_proj, mha.v_proj):
        before, after = split_heads(proj(x), 4), split_heads(proj(changed), 4)
        moved = (before != after).flatten(2).any(-1).any(0)  # (h,)
        assert moved.all(), "a head that ignores input feature 0 sees a slice of the input"
    head_1 = mha.q_proj.weight[2:4]  # (d_k, E): head 1's rows of W_Q
    expected = x @ head_1.T + mha.q_proj.bias[2:4]
    assert torch.allclose(split_heads(mha.q_proj(x), 4)[:, 1], expected, atol=1e-6)


def test_heads_keep_the_arithmetic_and_multiply_the_weights():
    x = torch.randn(1, 32, 16)
    flops, weights = {}, {}
    for h in (1, 4):
        mha = MultiHeadAttention(16, h).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            _, weights[h] = mha(x, x, x)
        flops[h] = counter.get_total_flops()
    assert flops[1] == flops[4] > 0
    assert weights[1].shape == (1, 1, 32, 32) and weights[4].shape == (1, 4, 32, 32)


def run_torch(mha, query, key, value, batch_first, **kwargs):
    """nn.MultiheadAttention on batch-first tensors, whatever its layout."""
    if not batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    out, weights = mha(query, key, value, average_attn_weights=False, **kwargs)
    return (out if batch_first else out.transpose(0, 1)), weights


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_mha_from_torch_matches_with_padding_mask(dtype, batch_first, bias):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, bias=bias, batch_first=batch_first, dtype=dtype).eval()
    ours = MultiHeadAttention.from_torch(mha)
    query, key = torch.randn(3, 5, 16, dtype=dtype), torch.randn(3, 7, 16, dtype=dtype)  # cross-attention
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 1:] = False
    ref_out, ref_weights = run_torch(mha, query, key, key, batch_first, key_padding_mask=~mask)
    out, weights = ours(query, key, key, mask=mask)
    assert out.shape == (3, 5, 16) and weights.shape == (3, 4, 5, 7)
    assert max_error(out, ref_out) <= TOLERANCE and max_error(weights, ref_weights) <= TOLERANCE
    assert out.dtype == dtype


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_causal_matches_torch(batch_first):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2, batch_first=batch_first).eval()
    ours = MultiHeadAttention.from_torch(mha)
    x = torch.randn(2, 6, 16)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    ref_out, ref_weights = run_torch(mha, x, x, x, batch_first, attn_mask=~causal)
    out, weights = ours(x, x, x, is_causal=True)
    assert max_error(out, ref_out) <= TOLERANCE and max_error(weights, ref_weights) <= TOLERANCE


def test_mha_full_mask_matches_torch_attn_mask():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    ours = MultiHeadAttention.from_torch(mha)
    x = torch.randn(2, 4, 8)
    mask = torch.rand(2, 4, 4) > 0.3
    mask[..., 0] = True  # every query sees at least one key, so PyTorch gives no NaN
    ref_out, _ = mha(x, x, x, attn_mask=(~mask).repeat_interleave(2, dim=0))
    out, _ = ours(x, x, x, mask=mask)
    assert max_error(out, ref_out) <= TOLERANCE


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mha_fully_masked_sequence_is_finite_where_torch_gives_nan(dtype):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, dtype=dtype).eval()
    ours = MultiHeadAttention.from_torch(mha)
    x = torch.randn(2, 4, 8, dtype=dtype)
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[1] = False
    out, weights = ours(x, x, x, mask=mask)
    assert not out.isnan().any() and (weights[1] == 0).all()
    assert torch.allclose(out[1], ours.out_proj.bias.expand(4, 8))  # zero context -> the output bias
    if dtype == torch.float32:
        ref_out, _ = mha(x, x, x, key_padding_mask=~mask)
        assert ref_out[1].isnan().all(), "PyTorch itself gives NaN here (if this fails, fixed upstream)"


def test_mha_heads_are_not_a_loop_and_head_count_matters():
    torch.manual_seed(0)
    one, four = MultiHeadAttention(8, 1), MultiHeadAttention(8, 4)
    four.load_state_dict(one.state_dict())
    x = torch.randn(2, 5, 8)
    assert four(x, x, x)[1].shape == (2, 4, 5, 5)
    assert not torch.allclose(one(x, x, x)[0], four(x, x, x)[0])  # splitting into heads changes the result


def test_mha_is_permutation_equivariant():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(1, 6, 8)
    permutation = torch.randperm(6)
    out, _ = mha(x, x, x)
    shuffled, _ = mha(*(x[:, permutation],) * 3)
    assert torch.allclose(shuffled, out[:, permutation], atol=1e-6)


def test_mha_dropout_only_in_training():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 5, 8)
    mha.eval()
    assert torch.equal(mha(x, x, x)[0], mha(x, x, x)[0])
    mha.train()
    assert (mha(x, x, x)[1] == 0).any()


@pytest.mark.parametrize(("embed_dim", "num_heads"), [(10, 3), (8, 0), (8, -2), (0, 2), (-4, 2)])
def test_mha_rejects_embed_dim_not_divisible_by_heads(embed_dim, num_heads):
    with pytest.raises(ValueError, match=f"embed_dim={embed_dim}, num_heads={num_heads}"):
        MultiHeadAttention(embed_dim, num_heads)


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((2, 5, 6), (2, 5, 8), (2, 5, 8)), r"query \(B, T_q, 8\).*query \(2, 5, 6\)"),
        (((2, 5), (2, 5, 8), (2, 5, 8)), r"got query \(2, 5\)"),
        (((2, 5, 8), (2, 5, 8), (2, 6, 8)), r"key and value of the same shape.*value \(2, 6, 8\)"),
        (((3, 5, 8), (2, 5, 8), (2, 5, 8)), r"batch size.*query \(3, 5, 8\)"),
    ],
)
def test_mha_rejects_bad_shapes(shapes, message):
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=message):
        mha(*(torch.randn(*s) for s in shapes))


@pytest.mark.parametrize(
    "mask", [torch.ones(2, 4, dtype=torch.bool), torch.ones(2, 5), torch.ones(2, 5, 4, dtype=torch.bool)]
)
def test_mha_rejects_bad_masks(mask):
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"\(B, T_k\) = \(2, 5\) or \(B, T_q, T_k\) = \(2, 5, 5\), got"):
        mha(x, x, x, mask=mask)


def test_from_torch_rejects_unsupported_options():
    with pytest.raises(ValueError, match="kdim = vdim = embed_dim"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(ValueError, match="add_bias_kv=False"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))


# ----------------------------------------------------------------- one head, the loop of heads


def test_hand_worked_lookup_gives_the_numbers_worked_by_hand():
    """The soft dictionary lookup of chapter 4.6, numbers worked with pencil and paper."""
    keys = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]])
    values = torch.tensor([[5.0], [1.0], [8.0]])
    query = torch.tensor([[2.0, 2.0, 0.0, 0.0]])  # (T_q=1, d_k=4): sqrt(d_k) = 2
    assert (keys @ query[0] / 2).tolist() == [2.0, 0.0, 1.0]
    out, weights = scaled_dot_product_attention(query, keys, values)
    e = np.e
    by_hand = torch.tensor([e**2, 1.0, e]) / (e**2 + 1.0 + e)  # softmax of (2, 0, 1)
    assert torch.allclose(weights[0], by_hand, atol=1e-6)
    assert torch.allclose(weights[0], torch.tensor([0.665, 0.090, 0.245]), atol=5e-4)
    assert abs(out.item() - (5 * e**2 + 1 + 8 * e) / (e**2 + 1 + e)) <= 1e-5
    assert abs(out.item() - 5.374) <= 5e-4
    out_zero, weights_zero = scaled_dot_product_attention(0 * query, keys, values)
    assert torch.allclose(weights_zero, torch.full((1, 3), 1 / 3))  # a zero query: the mean
    assert abs(out_zero.item() - 14 / 3) <= 1e-5


def head_inputs(seed=0):
    torch.manual_seed(seed)
    head = SelfAttentionHead(8, 4)
    x = torch.randn(2, 6, 8)
    padding = torch.ones(2, 6, dtype=torch.bool)
    padding[1, 4:] = False  # the 2nd sequence has 4 tokens
    return head, x, padding


def test_single_head_shapes_padding_mask_and_numbers():
    head, x, padding = head_inputs()
    out, weights = head(x, mask=padding)
    assert out.shape == (2, 6, 4) and weights.shape == (2, 6, 6)
    assert (weights[1, :, 4:] == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(2, 6))
    q, k, v = head.q_proj(x), head.k_proj(x), head.v_proj(x)  # (B, T, d_k) each
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=padding[:, None, :])
    assert max_error(out, reference) <= TOLERANCE
    alone, _ = head(x[1:, :4])  # the 2nd sequence without its padding
    assert max_error(out[1:, :4], alone) <= TOLERANCE


def test_single_head_full_causal_and_empty_masks():
    head, x, _ = head_inputs()
    q, k, v = head.q_proj(x), head.k_proj(x), head.v_proj(x)
    causal_out, causal_weights = head(x, is_causal=True)
    assert (causal_weights.triu(diagonal=1) == 0).all()
    assert max_error(causal_out, F.scaled_dot_product_attention(q, k, v, is_causal=True)) <= TOLERANCE
    full = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.4
    full[..., 0] = True  # every query may attend at least one key
    out, weights = head(x, mask=full)
    assert (weights[~full] == 0).all()
    assert max_error(out, F.scaled_dot_product_attention(q, k, v, attn_mask=full)) <= TOLERANCE
    empty = torch.zeros(2, 6, dtype=torch.bool)
    out, weights = head(x, mask=empty)
    assert not out.isnan().any() and (out == 0).all() and (weights == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_heads", [1, 4])
@pytest.mark.parametrize("bias", [True, False])
def test_loop_of_single_heads_equals_the_batched_module_and_torch(dtype, num_heads, bias):
    """Tolerance: |difference| <= 1e-5 (TOLERANCE) in float32 and float64, every entry."""
    torch.manual_seed(0)
    torch_mha = nn.MultiheadAttention(16, num_heads, bias=bias, batch_first=True,
                                      dtype=dtype).eval()
    ours = MultiHeadAttention.from_torch(torch_mha)
    heads = single_heads(ours)
    assert len(heads) == num_heads
    assert all(h.head_dim == 16 // num_heads and h.q_proj.weight.dtype == dtype for h in heads)
    x = torch.randn(3, 5, 16, dtype=dtype)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False
    outputs, maps = zip(*(head(x, mask) for head in heads), strict=True)
    loop_out = ours.out_proj(torch.cat(outputs, dim=-1))  # Concat(head_1..head_h) W_O
    loop_weights = torch.stack(maps, dim=1)  # (B, h, T, T)
    out, weights = ours(x, x, x, mask=mask)
    ref_out, ref_weights = torch_mha(x, x, x, key_padding_mask=~mask, average_attn_weights=False)
    assert max_error(out, loop_out) <= TOLERANCE and max_error(weights, loop_weights) <= TOLERANCE
    assert max_error(loop_out, ref_out) <= TOLERANCE and max_error(loop_weights, ref_weights) <= TOLERANCE


def test_single_heads_are_copies_in_the_module_s_mode():
    mha = MultiHeadAttention(8, 2).eval()
    heads = single_heads(mha)
    assert not any(h.training for h in heads)
    assert torch.equal(heads[1].k_proj.weight, mha.k_proj.weight[4:8])
    assert torch.equal(heads[1].v_proj.bias, mha.v_proj.bias[4:8])
    with torch.no_grad():
        heads[0].q_proj.weight.zero_()
    assert mha.q_proj.weight[:4].abs().sum() > 0, "a head is a copy, not a view"


def test_single_head_in_bfloat16_computes_in_float32():
    head, x, padding = head_inputs()
    head_bf16 = SelfAttentionHead(8, 4)
    head_bf16.load_state_dict(head.state_dict())
    head_bf16 = head_bf16.to(torch.bfloat16)
    head.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in head_bf16.state_dict().items()})
    out, weights = head_bf16(x.to(torch.bfloat16), mask=padding)
    ref_out, ref_weights = head(x.to(torch.bfloat16).float(), mask=padding)
    assert out.dtype == weights.dtype == torch.bfloat16
    assert torch.allclose(out.float(), ref_out, atol=2**-7, rtol=2**-7)  # rounded once
    assert torch.allclose(weights.float(), ref_weights, atol=2**-7, rtol=2**-7)


@pytest.mark.parametrize(("embed_dim", "head_dim", "name"),
                         [(8.0, 4, "embed_dim"), (8, "4", "head_dim"), (True, 4, "embed_dim"),
                          (8, 4.0, "head_dim")])
def test_single_head_rejects_sizes_that_are_not_ints(embed_dim, head_dim, name):
    with pytest.raises(TypeError, match=f"{name} must be a positive int, got"):
        SelfAttentionHead(embed_dim, head_dim)


@pytest.mark.parametrize(("embed_dim", "head_dim"), [(0, 4), (8, 0), (-8, 4), (8, -1)])
def test_single_head_rejects_sizes_below_one(embed_dim, head_dim):
    with pytest.raises(ValueError, match=f"got embed_dim={embed_dim}, head_dim={head_dim}"):
        SelfAttentionHead(embed_dim, head_dim)


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        ([[0.0] * 8], TypeError, r"x must be a float tensor of shape \(B, T, 8\), got list"),
        (torch.zeros(2, 5, 8, dtype=torch.long), TypeError, r"got dtype torch.int64"),
        (torch.randn(2, 5, 6), ValueError, r"x must have shape \(B, T, E=8\), got \(2, 5, 6\)"),
        (torch.randn(5, 8), ValueError, r"x must have shape \(B, T, E=8\), got \(5, 8\)"),
    ],
    ids=["list", "int tensor", "wrong width", "2-D"],
)
def test_single_head_rejects_bad_x_before_torch_fails(x, error, message):
    with pytest.raises(error, match=message):
        SelfAttentionHead(8, 4)(x)


@pytest.mark.parametrize(
    "mask", [torch.ones(2, 4, dtype=torch.bool), torch.ones(2, 5), torch.ones(2, 5, 4, dtype=torch.bool)],
    ids=["short", "float", "wrong keys"],
)
def test_single_head_rejects_bad_masks(mask):
    with pytest.raises(ValueError, match=r"mask must be bool of shape \(B, T_k\) = \(2, 5\) or "
                                         r"\(B, T_q, T_k\) = \(2, 5, 5\), got"):
        SelfAttentionHead(8, 4)(torch.randn(2, 5, 8), mask=mask)


def test_single_heads_rejects_a_module_that_is_not_ours():
    with pytest.raises(TypeError, match="mha must be a MultiHeadAttention .*from_torch.*"
                                        "got MultiheadAttention"):
        single_heads(nn.MultiheadAttention(8, 2))


# ----------------------------------------------------------------- AttentionPooling


def test_pooling_works_for_any_length_with_one_module():
    pool = AttentionPooling(6, 4)
    for T in (1, 3, 17, 200):
        pooled, weights = pool(torch.randn(2, T, 6))
        assert pooled.shape == (2, 6) and weights.shape == (2, T)
        assert torch.allclose(weights.sum(-1), torch.ones(2))
    assert all(p.shape[0] != 200 for p in pool.parameters())  # nothing shaped by the length


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pooling_gives_padding_zero_weight_and_ignores_it(dtype):
    torch.manual_seed(0)
    pool = AttentionPooling(6, 4).to(dtype)
    x = torch.randn(2, 7, 6, dtype=dtype)
    mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4])
    pooled, weights = pool(x, mask)
    assert (weights[1, 3:] == 0).all()
    alone, _ = pool(x[1:, :3])
    assert torch.allclose(pooled[1:].float(), alone.float(), atol=1e-2 if dtype == torch.bfloat16 else 1e-6)
    empty = torch.zeros(2, 7, dtype=torch.bool)
    pooled, weights = pool(x, empty)
    assert not pooled.isnan().any() and (weights == 0).all() and (pooled == 0).all()


def test_pooling_rejects_bad_inputs():
    pool = AttentionPooling(6, 4)
    with pytest.raises(ValueError, match=r"\(B, T, 6\), got \(2, 5, 4\)"):
        pool(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"\(B, T, 6\), got \(2, 6\)"):
        pool(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"\(B, T\) = \(2, 5\), got torch.bool of shape \(2, 4\)"):
        pool(torch.randn(2, 5, 6), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"got torch.float32"):
        pool(torch.randn(2, 5, 6), torch.ones(2, 5))


@pytest.mark.parametrize(("sizes", "message"),
                         [((8, 0), "input_size=8, attention_size=0"),
                          ((8, -1), "input_size=8, attention_size=-1"),
                          ((0, 4), "input_size=0, attention_size=4")])
def test_pooling_rejects_sizes_below_one_when_built(sizes, message):
    with pytest.raises(ValueError, match=message):
        AttentionPooling(*sizes)


def test_pooling_rejects_sizes_that_are_not_ints_when_built():
    with pytest.raises(TypeError, match="attention_size must be a positive int, got 2.0"):
        AttentionPooling(8, 2.0)
    with pytest.raises(TypeError, match="input_size must be a positive int, got '8'"):
        AttentionPooling("8", 2)


def test_pooling_takes_attention_size_or_its_earlier_name_hidden_size():
    for pool in (AttentionPooling(6, 4), AttentionPooling(6, attention_size=4),
                 AttentionPooling(6, hidden_size=4), AttentionPooling(6, 4, hidden_size=4)):
        assert pool.attention_size == pool.project.out_features == 4
    with pytest.raises(TypeError, match="attention_size=4 and hidden_size=5"):
        AttentionPooling(6, attention_size=4, hidden_size=5)
    with pytest.raises(TypeError, match="pass attention_size"):
        AttentionPooling(6)


# ----------------------------------------------------------------- classifier


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_classifier_ignores_padding_and_works_without_embedding(pooling):
    torch.manual_seed(0)
    model = BiLSTMClassifier(8, 6, num_classes=3, vocab_size=20, pooling=pooling).eval()
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    mask = ids != 0
    logits, weights = model(ids, mask)
    assert logits.shape == (2, 3) and weights.shape == (2, 4)
    assert (weights[1, 2:] == 0).all()
    assert torch.allclose(model(ids[1:, :2])[0], logits[1:], atol=1e-6)
    vectors_model = BiLSTMClassifier(8, 6, num_classes=3, vocab_size=None, pooling=pooling).eval()
    shared = {k: v for k, v in model.state_dict().items() if not k.startswith("embedding")}
    vectors_model.load_state_dict(shared)
    with torch.no_grad():
        vectors = model.embedding(ids)
    assert torch.allclose(vectors_model(vectors, mask)[0], logits, atol=1e-6)


def test_classifier_rejects_bad_inputs():
    with pytest.raises(ValueError, match="pooling must be one of attention, mean, got 'max'"):
        BiLSTMClassifier(8, 6, pooling="max")
    with_ids = BiLSTMClassifier(8, 6, vocab_size=20)
    with pytest.raises(ValueError, match=r"token ids \(B, T\) of dtype long, got torch.float32"):
        with_ids(torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="prefix"):
        with_ids(torch.tensor([[1, 2, 3]]), torch.tensor([[True, False, True]]))
    with pytest.raises(ValueError, match=r"\(B, T\) = \(1, 3\)"):
        with_ids(torch.tensor([[1, 2, 3]]), torch.tensor([[True, False]]))
    with_vectors = BiLSTMClassifier(8, 6)
    with pytest.raises(ValueError, match=r"vectors \(B, T, 8\).*got \(2, 4, 5\)"):
        with_vectors(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="attention_size=0"):  # not silently hidden_size
        BiLSTMClassifier(8, 6, attention_size=0)


# ----------------------------------------------------------------- the sentiment data


def test_movie_reviews_load_offline_with_the_expected_size():
    reviews = load_movie_reviews()
    assert len(reviews) == 10_605
    assert reviews[0][0].startswith("The Rock is destined")
    assert reviews[0][1] == pytest.approx(2.2667, abs=1e-4)
    assert all(-4 <= score <= 4 for _, score in reviews)


def test_movie_review_splits_are_fixed_disjoint_and_balanced():
    splits = movie_review_splits()
    sizes = {name: len(examples) for name, examples in splits.items()}
    assert sizes == {"train": 8057, "validation": 1007, "test": 1008}
    assert movie_review_splits() == splits  # the same split every time
    texts = [set(t for t, _ in examples) for examples in splits.values()]
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    positive = sum(label for _, label in splits["train"]) / sizes["train"]
    assert 0.45 < positive < 0.55
    with pytest.raises(ValueError, match=r"3 positive numbers summing to 1, got \(0.5, 0.5\)"):
        movie_review_splits(fractions=(0.5, 0.5))


def test_tokenize_vocab_and_encode():
    assert tokenize("It isn't GOOD, honestly.") == ["it", "isn't", "good", ",", "honestly", "."]
    vocab = build_vocab(["good film", "good plot", "bad"], min_freq=2)
    assert vocab == {"<pad>": 0, "<unk>": 1, "good": 2}
    ids, mask = encode_texts(["good film", "good"], vocab)
    assert ids.tolist() == [[2, 1], [2, 0]] and mask.tolist() == [[True, True], [True, False]]


def test_encode_texts_rejects_one_string_and_an_empty_batch():
    vocab = build_vocab(["a good movie"], min_freq=1)
    with pytest.raises(TypeError, match="texts must be a sequence of strings, got one string"):
        encode_texts("a good movie", vocab)
    with pytest.raises(ValueError, match="texts must hold at least one string"):
        encode_texts([], vocab)
    with pytest.raises(TypeError, match="texts must be strings, got int at index 1"):
        encode_texts(["good", 3], vocab)
    ids, _ = encode_texts((text for text in ["a good movie"]), vocab)  # any iterable of strings
    assert ids.tolist() == [[2, 3, 4]]


def test_encode_texts_puts_the_batch_on_the_device():
    vocab = build_vocab(["good film", "good"], min_freq=1)
    ids, mask = encode_texts(["good film"], vocab, device="cpu")
    assert ids.device.type == mask.device.type == "cpu"
    assert encode_texts(["good"], vocab)[0].device.type == "cpu"  # default: the CPU
    if torch.cuda.is_available():
        ids, mask = encode_texts(["good film"], vocab, device="cuda")
        assert ids.is_cuda and mask.is_cuda


def tiny_sentiment_data():
    positive = ["good film", "great fun", "good and great", "fun film"]
    negative = ["bad film", "dull mess", "bad and dull", "dull film"]
    return [(t, 1) for t in positive] + [(t, 0) for t in negative]


def test_train_classifier_learns_keeps_the_best_epoch_and_draws_no_stored_bar(
        monkeypatch, capsys):
    monkeypatch.setenv(PROGRESS_ENV, "0")
    data = tiny_sentiment_data()
    vocab = build_vocab([t for t, _ in data], min_freq=1)
    torch.manual_seed(0)
    model = BiLSTMClassifier(8, 8, vocab_size=len(vocab))
    history = train_classifier(model, data, vocab, epochs=15, batch_size=4, lr=3e-2,
                               validation=data, progress=True)
    assert len(history) == 15
    assert classifier_accuracy(model, data, vocab) == max(history)  # the best epoch kept
    assert max(history) == 1.0
    assert capsys.readouterr().err == ""  # no progress bar when outputs are stored


def test_train_classifier_without_validation_returns_an_empty_history():
    data = tiny_sentiment_data()
    vocab = build_vocab([t for t, _ in data], min_freq=1)
    model = BiLSTMClassifier(8, 8, vocab_size=len(vocab))
    assert train_classifier(model, data, vocab, epochs=1, progress=False) == []


# ----------------------------------------------------------------- layout and names (issue 14)


def test_the_mechanisms_never_import_a_task():
    tree = ast.parse(Path(self_attention.__file__).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names]
    assert imported and not [name for name in imported if "tasks" in name.split(".")]


def test_classifier_forward_is_written_in_its_class():
    # not a function assigned to the class after its definition
    assert BiLSTMClassifier.forward.__qualname__ == "BiLSTMClassifier.forward"
    assert MultiHeadAttention.forward.__qualname__ == "MultiHeadAttention.forward"


def test_keyword_names_of_today_stay_accepted():
    q, k, v = qkv(1, 3, 4)
    out, _ = scaled_dot_product_attention(query=q, key=k, value=v, mask=None, is_causal=True,
                                          dropout_p=0.0)
    assert out.shape == (1, 3, 4)
    mha = MultiHeadAttention(embed_dim=8, num_heads=2, dropout=0.0, bias=True)
    assert mha.head_dim == mha.d_k == 4  # the per-head width; d_k, its earlier name, still reads
    pool = AttentionPooling(input_size=6, hidden_size=3)
    assert pool.project.out_features == 3  # hidden_size is d_a, the width of the tanh layer
    model = BiLSTMClassifier(input_size=8, hidden_size=6, num_classes=3, vocab_size=20,
                             pooling="attention", attention_size=5)
    assert model.rnn.hidden_size == 6 and model.pool.project.out_features == 5


def test_the_sdpa_docstring_says_it_returns_the_weights_too():
    doc = scaled_dot_product_attention.__doc__
    assert "(output, weights)" in doc and "torch.nn.functional.scaled_dot_product_attention" in doc


def test_the_sdpa_docstring_says_dropped_out_weights_do_not_sum_to_one():
    q, k, v = qkv(2, 6, 8)
    torch.manual_seed(0)
    _, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not torch.allclose(weights.sum(-1), torch.ones(2, 6))  # what the docstring must say
    doc = " ".join(scaled_dot_product_attention.__doc__.split())
    assert "with dropout_p > 0" in doc and "1 / (1 - dropout_p)" in doc
    assert "sums to 1 only on average" in doc


def test_one_direction_s_width_is_never_called_h():
    # book/notation.md's H counts both directions; the classifier's hidden_size is one
    notebook = json.loads(NOTEBOOKS.joinpath("ch4_6_self_attention.ipynb").read_text())
    text = "".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "D = 2 \\cdot$ `hidden_size`" in text
    for source in (text, BiLSTMClassifier.__doc__, AttentionPooling.__doc__):
        assert not re.search(r"\b2H\b|= 2H|\(default H\)", source)


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SETUP_CELL = "# Setup, the same in every notebook"


@pytest.mark.parametrize("name", ["ch4_4_visualizing_attention", "ch4_5_seq2seq_dates",
                                  "ch4_6_self_attention"])
def test_chapters_4_4_to_4_6_import_from_the_module_not_the_root(name):
    # only the setup cell, the same in every notebook, imports from the package root
    notebook = json.loads(NOTEBOOKS.joinpath(f"{name}.ipynb").read_text())
    root_imports = [line for cell in notebook["cells"] if cell["cell_type"] == "code"
                    and not "".join(cell["source"]).startswith(SETUP_CELL)
                    for line in "".join(cell["source"]).splitlines()
                    if re.match(r"\s*from attention_course import\b", line)]
    assert root_imports == []


def test_encode_texts_keeps_a_column_for_empty_texts():
    vocab = build_vocab(["good film", "good"], min_freq=1)
    ids, mask = encode_texts(["", ""], vocab)
    assert ids.tolist() == [[0], [0]] and not mask.any()
    ids, mask = encode_texts(["", "good film ."], vocab)
    assert ids.tolist() == [[0, 0, 0], [2, 3, 1]]
    assert mask.tolist() == [[False] * 3, [True] * 3]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_multi_head_attention_in_half_precision_does_not_overflow(dtype):
    # identity projections: q.k = 32 * 60 * 60 = 115200 > 65504 before / sqrt(32)
    # overflowed float16 (NaN weights) before issue 15; bfloat16 kept it but coarsely
    mha = MultiHeadAttention(32, 1, bias=False)
    with torch.no_grad():
        for layer in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            layer.weight.copy_(torch.eye(32))
    mha = mha.to(dtype)
    x = torch.full((1, 3, 32), 60.0, dtype=dtype)
    mask = torch.tensor([[True, True, False]])
    out, weights = mha(x, x, x, mask)
    assert out.dtype == weights.dtype == dtype
    assert (weights[0, 0] == torch.tensor([0.5, 0.5, 0.0], dtype=dtype)).all()
    assert (out == 60.0).all()
    # and nn.MultiheadAttention with the same weights: within 5e-3 (float16), 3e-2
    # (bfloat16), the tolerances of tests/test_properties.py
    torch_mha = nn.MultiheadAttention(32, 1, bias=False, batch_first=True, dtype=dtype)
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(torch.eye(32).repeat(3, 1))
        torch_mha.out_proj.weight.copy_(torch.eye(32))
        reference, _ = torch_mha(x, x, x, key_padding_mask=~mask)
    tolerance = 5e-3 if dtype == torch.float16 else 3e-2
    assert torch.allclose(out.float(), reference.float(), atol=tolerance, rtol=tolerance)


# ------------------------------------- the head's and MHA's inputs, checked at the door


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        ([[True] * 5] * 2, TypeError, r"mask must be a bool tensor of shape \(B, T_k\) = \(2, 5\) "
                                      r"or \(B, T_q, T_k\) = \(2, 5, 5\), got list"),
        (np.ones((2, 5), dtype=bool), TypeError, r"mask must be a bool tensor.*got ndarray"),
        (torch.ones(2, 5, dtype=torch.int64), ValueError, r"mask must be bool.*got torch.int64"),
    ],
    ids=["list", "numpy", "int tensor"],
)
def test_head_and_mha_name_a_mask_that_is_not_a_bool_tensor(mask, error, message):
    x = torch.randn(2, 5, 8)
    with pytest.raises(error, match=message):
        SelfAttentionHead(8, 4)(x, mask=mask)
    with pytest.raises(error, match=message):
        MultiHeadAttention(8, 2)(x, x, x, mask=mask)


@pytest.mark.parametrize("is_causal", ["yes", "no", 1, 0, None, torch.tensor(True)],
                         ids=["yes", "no", "1", "0", "None", "tensor"])
def test_is_causal_must_be_true_or_false(is_causal):
    x = torch.randn(2, 5, 8)
    message = rf"is_causal must be True or False, got {re.escape(repr(is_causal))}"
    with pytest.raises(TypeError, match=message):
        SelfAttentionHead(8, 4)(x, is_causal=is_causal)
    with pytest.raises(TypeError, match=message):
        MultiHeadAttention(8, 2)(x, x, x, is_causal=is_causal)
    with pytest.raises(TypeError, match=message):
        scaled_dot_product_attention(x, x, x, is_causal=is_causal)


@pytest.mark.parametrize(
    ("module_dtype", "x_dtype"),
    [(torch.float32, torch.float64), (torch.float64, torch.float32)],
    ids=["float64 x, float32 module", "float32 x, float64 module"],
)
def test_head_and_mha_name_an_input_dtype_the_parameters_cannot_read(module_dtype, x_dtype):
    x = torch.randn(2, 5, 8, dtype=x_dtype)
    expected = (rf"has dtype {x_dtype} but the module's parameters are {module_dtype}: "
                rf"convert .* \(\.to\({module_dtype}\)\) or the module \(\.to\({x_dtype}\)\)")
    with pytest.raises(TypeError, match=f"x {expected}"):
        SelfAttentionHead(8, 4).to(module_dtype)(x)
    mha = MultiHeadAttention(8, 2).to(module_dtype)
    with pytest.raises(TypeError, match=f"query {expected}"):
        mha(x, x, x)
    right = x.to(module_dtype)
    with pytest.raises(TypeError, match=f"key {expected}"):
        mha(right, x, right)
    with pytest.raises(TypeError, match=f"value {expected}"):
        mha(right, right, x)


def test_mha_names_inputs_that_are_not_float_tensors():
    x = torch.randn(2, 5, 8)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(TypeError, match=r"query must be a float tensor of shape \(B, T, 8\), got list"):
        mha(x.tolist(), x, x)
    with pytest.raises(TypeError, match=r"key must be a float tensor of shape \(B, T, 8\), "
                                        r"got dtype torch.int64"):
        mha(x, x.long(), x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_of_a_float32_head_still_work(dtype):
    """float16/bfloat16 are computed in float32 (`_linear`): not refused."""
    head, x, padding = head_inputs()
    out, weights = head(x.to(dtype), mask=padding)
    reference, _ = head(x.to(dtype).float(), mask=padding)
    assert out.dtype == dtype and torch.allclose(out.float(), reference, atol=1e-2)


@pytest.mark.parametrize(("dropout", "error", "message"),
                         [(1.5, ValueError, r"dropout must be in \[0, 1\), got 1.5"),
                          (-0.1, ValueError, r"dropout must be in \[0, 1\), got -0.1"),
                          ("0.1", TypeError, r"dropout must be a number in \[0, 1\), got '0.1'"),
                          (True, TypeError, r"dropout must be a number in \[0, 1\), got True")])
def test_head_and_mha_name_a_bad_dropout(dropout, error, message):
    with pytest.raises(error, match=message):
        SelfAttentionHead(8, 4, dropout=dropout)
    with pytest.raises(error, match=message):
        MultiHeadAttention(8, 2, dropout=dropout)


def test_head_dropout_only_in_training():
    torch.manual_seed(0)
    head = SelfAttentionHead(8, 4, dropout=0.5)
    x = torch.randn(2, 5, 8)
    _, clean = head.eval()(x)
    _, dropped = head.train()(x)
    assert (dropped == 0).any()
    kept = dropped != 0
    assert torch.allclose(dropped[kept], clean[kept] / 0.5)  # scaled by 1 / (1 - p)


def test_single_heads_carry_the_dropout_of_the_module():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 5, 8)
    heads = single_heads(mha.train())
    assert all(h.dropout == 0.5 and h.training for h in heads)
    _, dropped = heads[0](x)
    _, clean = heads[0].eval()(x)
    assert (dropped == 0).any() and not (clean == 0).any()
    # in eval mode the loop of heads is the batched module, dropout or not
    mha.eval()
    heads = single_heads(mha)
    out, weights = mha(x, x, x)
    outputs, maps = zip(*(h(x) for h in heads), strict=True)
    assert max_error(weights, torch.stack(maps, dim=1)) <= TOLERANCE
    assert max_error(out, mha.out_proj(torch.cat(outputs, dim=-1))) <= TOLERANCE


# --- return_sequences: the pooled vector or the weighted sequence (issue 17, the Q&A seed) ---

def test_attention_pooling_returns_the_weighted_sequence_that_sums_to_the_pooled_vector():
    torch.manual_seed(0)
    pool = AttentionPooling(6, 4)
    x = torch.randn(3, 7, 6)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2] = False  # a row that may attend nothing
    pooled, weights = pool(x, mask)
    weighted, same_weights = pool(x, mask, return_sequences=True)
    assert weighted.shape == (3, 7, 6) and torch.equal(weights, same_weights)
    assert torch.allclose(weighted.sum(dim=1), pooled, atol=1e-6)
    assert torch.equal(weighted, weights.unsqueeze(-1) * x)
    assert (weighted[1, 4:] == 0).all() and (weighted[2] == 0).all()


@pytest.mark.parametrize("flag", [1, "yes", None, 0.0])
def test_return_sequences_must_be_a_bool(flag):
    with pytest.raises(TypeError, match=f"return_sequences must be True .* got {flag!r}"):
        AttentionPooling(6, 4)(torch.randn(1, 3, 6), return_sequences=flag)
