"""LuongAttention (chapter 4.3) in half precision: finite wherever float32 is.

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
