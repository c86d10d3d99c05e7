"""Property-based tests (Hypothesis) of every attention of the course, issue 15.

Random shapes (batch sizes and sequence lengths from 1), random boolean masks (True = may
attend) with rows where nothing may be attended, in float32, float16 and bfloat16, for
masked_softmax, BahdanauAttention (additive), LuongAttention (dot, general, concat),
scaled_dot_product_attention, MultiHeadAttention and AttentionPooling. Each must be:

- equal to a reference within the tolerance of its dtype (TOLERANCE below): PyTorch's
  F.scaled_dot_product_attention (boolean attn_mask, True = may attend) and
  nn.MultiheadAttention (through MultiHeadAttention.from_torch), else the formula or the
  same module in float64;
- finite; in half precision, equal to the float32 computation on the same (rounded)
  numbers, rounded once, so finite wherever float32 is, even for inputs near the largest
  float16 (65504), where a product q.k overflows;
- weights >= 0, rows summing to 1 (0 for a row with no allowed position), masked
  positions exactly 0;
- independent of the content of masked positions (other keys/values there: the same
  output, bit for bit).

The last tests show the properties failing for two broken functions: a masked softmax that
forgets the mask, and the scaled dot-product attention of before issue 15 (q.k computed
in float16, then divided by sqrt(d_k)).
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from attention_course.bahdanau import BahdanauAttention, masked_softmax
from attention_course.luong import LuongAttention
from attention_course.self_attention import (
    AttentionPooling,
    MultiHeadAttention,
    scaled_dot_product_attention,
)

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
HALF = (torch.float16, torch.bfloat16)

# |ours - reference| <= atol + rtol * |reference|, per dtype and reference. In half
# precision the course computes in float32 and rounds once: against a float64 reference
# the error is that rounding, at most the unit roundoff u times the value (u = 2**-11 for
# float16, 2**-8 for bfloat16), plus float32's own error (atol). PyTorch's
# F.scaled_dot_product_attention (on the CPU) rounds once too: two roundings apart, 2u.
# nn.MultiheadAttention rounds after every projection: its tolerance is measured, for
# entries in [-4, 4] and E <= 12 (the largest error seen in 1,000 examples per test was
# 40 % of it in float16, 33 % in bfloat16).
TOLERANCE = {
    torch.float32: {
        "sum": 1e-5,  # |row sum - 1|
        "float64": {"atol": 1e-5, "rtol": 1e-5},
        "F.scaled_dot_product_attention": {"atol": 1e-5, "rtol": 1e-5},
        "nn.MultiheadAttention": {"atol": 1e-5, "rtol": 1e-5},
    },
    torch.float16: {
        "sum": 2 * 2**-11,
        "float64": {"atol": 1e-5, "rtol": 2**-11},
        "F.scaled_dot_product_attention": {"atol": 1e-5, "rtol": 2 * 2**-11},
        "nn.MultiheadAttention": {"atol": 5e-3, "rtol": 5e-3},
    },
    torch.bfloat16: {
        "sum": 2 * 2**-8,
        "float64": {"atol": 1e-5, "rtol": 2**-8},
        "F.scaled_dot_product_attention": {"atol": 1e-5, "rtol": 2 * 2**-8},
        "nn.MultiheadAttention": {"atol": 3e-2, "rtol": 3e-2},
    },
}
MODERATE = 4.0  # entries in [-4, 4]: the comparisons with a reference
WIDE = 65504.0  # entries up to the largest float16: finiteness, masks, rounding once

SETTINGS = {"deadline": None, "database": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
sizes = st.integers(1, 5)


def values(shape, dtype, bound):
    """Float tensors of `shape` with entries in [-bound, bound], stored in `dtype`."""
    bound = min(bound, float(torch.finfo(dtype).max))
    elements = st.floats(-bound, bound, width=32)
    return arrays(np.float32, shape, elements=elements).map(
        lambda a: torch.from_numpy(a).to(dtype))


@st.composite
def masks(draw, shape):
    """Bool masks, True = may attend; often with a row that may attend nothing."""
    mask = torch.from_numpy(draw(arrays(np.bool_, shape)))
    if draw(st.booleans()):
        row = tuple(draw(st.integers(0, n - 1)) for n in shape[:-1])
        mask[row] = False
    return mask


def assert_close(ours, reference, dtype, against, where=None, scale=None):
    """|ours - reference| <= atol + rtol * scale, TOLERANCE[dtype][against], at `where`.

    scale defaults to |reference|. For a weighted sum of values computed in half
    precision by the reference too, pass the magnitude of the terms (max |v|): the
    reference rounds each term, so its error follows |v|, not the (maybe cancelling) sum.
    """
    ours, reference = ours.double(), reference.double()
    scale = reference.abs() if scale is None else scale.double().expand_as(reference)
    if where is not None:
        ours, reference, scale = ours[where], reference[where], scale[where]
    tol = TOLERANCE[dtype][against]
    error = (ours - reference).abs() - tol["rtol"] * scale
    assert (error <= tol["atol"]).all(), (
        f"{dtype} against {against}: max excess {(error - tol['atol']).max().item():.3g}")


def assert_weights(weights, mask, dtype):
    """Finite, >= 0, exactly 0 where masked, rows summing to 1 (0 if nothing allowed)."""
    assert weights.dtype == dtype
    assert torch.isfinite(weights).all() and (weights >= 0).all()
    mask = mask.expand_as(weights)
    assert (weights[~mask] == 0).all(), "a masked position got weight"
    sums = weights.double().sum(-1)
    empty = ~mask.any(-1)
    assert (sums[empty] == 0).all(), "a row with no allowed position got weight"
    assert ((sums[~empty] - 1).abs() <= TOLERANCE[dtype]["sum"]).all(), "row sum != 1"


def assert_finite_where_float32_is(ours, in_float32, dtype):
    """Finite wherever the float32 computation is finite and fits in `dtype`."""
    fits = torch.isfinite(in_float32) & (in_float32.abs() <= torch.finfo(dtype).max)
    assert torch.isfinite(ours[fits]).all(), f"{dtype}: not finite where float32 is"


def assert_rounded_float32(ours, in_float32, dtype):
    """Half precision: the float32 result rounded once (so finite wherever that fits)."""
    assert_finite_where_float32_is(ours, in_float32, dtype)
    if dtype in HALF:
        assert torch.equal(ours, in_float32.to(dtype)), f"{dtype}: not float32 rounded"


def moderate(*tensors):
    """True when every entry is within MODERATE: then float32 is accurate to ~1e-6."""
    return all(t.abs().max() <= MODERATE for t in tensors)


# ---------------------------------------------------------------- masked_softmax

@st.composite
def softmax_cases(draw, bound=MODERATE, dtypes=DTYPES):
    """(scores (B, T_q, T_k), mask (B, T_q or 1, T_k), dtype, other masked scores)."""
    dtype = draw(st.sampled_from(dtypes))
    B, T_q, T_k = draw(sizes), draw(sizes), draw(sizes)
    scores = draw(values((B, T_q, T_k), dtype, bound))
    mask = draw(masks((B, draw(st.sampled_from([1, T_q])), T_k)))
    other = draw(values((B, T_q, T_k), dtype, torch.finfo(dtype).max))
    return scores, mask, dtype, other


def check_masked_softmax(softmax, scores, mask, dtype, other):
    weights = softmax(scores, mask)
    assert_weights(weights, mask, dtype)
    reference = torch.softmax(scores.double().masked_fill(~mask, -math.inf), -1)
    assert_close(weights, reference.nan_to_num(0.0), dtype, "float64")
    assert_rounded_float32(weights, softmax(scores.float(), mask), dtype)
    # other scores at the masked positions (up to the dtype's largest): the same weights
    assert torch.equal(softmax(torch.where(mask, scores, other), mask), weights)


@settings(max_examples=150, **SETTINGS)
@given(case=softmax_cases(bound=WIDE) | softmax_cases())
def test_masked_softmax(case):
    check_masked_softmax(masked_softmax, *case)


@settings(max_examples=40, **SETTINGS)
@given(case=softmax_cases(), dim=st.sampled_from([0, 1, -1]))
def test_masked_softmax_over_any_dim(case, dim):
    scores, _, dtype, _ = case
    mask = torch.ones_like(scores, dtype=torch.bool)
    weights = masked_softmax(scores, mask, dim=dim)
    assert_weights(weights.movedim(dim, -1), mask.movedim(dim, -1), dtype)
    assert torch.equal(weights, masked_softmax(scores, dim=dim))  # no mask = all True


# ---------------------------------------------------------------- scaled dot-product

@st.composite
def sdpa_cases(draw, bound=MODERATE, dtypes=DTYPES):
    """q (*lead, T_q, d), k (*lead, T_k, d), v (*lead, T_k, d_v), mask, is_causal, ..."""
    dtype = draw(st.sampled_from(dtypes))
    lead = tuple(draw(st.lists(sizes, min_size=1, max_size=2)))  # (B,) or (B, h)
    T_q, T_k, d, d_v = draw(sizes), draw(sizes), draw(st.integers(1, 8)), draw(sizes)
    q = draw(values((*lead, T_q, d), dtype, bound))
    k = draw(values((*lead, T_k, d), dtype, bound))
    v = draw(values((*lead, T_k, d_v), dtype, bound))
    # padding (..., 1, T_k) or per query (..., T_q, T_k); leading 1s broadcast
    mask_lead = tuple(draw(st.sampled_from([1, n])) for n in lead)
    mask = draw(masks((*mask_lead, draw(st.sampled_from([1, T_q])), T_k)))
    is_causal = draw(st.booleans())
    others = (draw(values(k.shape, dtype, WIDE)), draw(values(v.shape, dtype, WIDE)))
    return q, k, v, mask, is_causal, dtype, others


def allowed_mask(mask, is_causal, T_q, T_k):
    """The mask with the causal one folded in, (..., T_q, T_k)."""
    mask = mask.expand(*mask.shape[:-2], T_q, T_k)
    if is_causal:
        mask = mask & torch.ones(T_q, T_k, dtype=torch.bool).tril()
    return mask


def check_sdpa_finite(attend, q, k, v, mask, is_causal, dtype, others):
    """Output and weights finite wherever the float32 computation is: (out, w, out32, w32)."""
    out, weights = attend(q, k, v, mask, is_causal)
    out32, weights32 = attend(q.float(), k.float(), v.float(), mask, is_causal)
    assert_finite_where_float32_is(out, out32, dtype)
    assert_finite_where_float32_is(weights, weights32, dtype)
    return out, weights, out32, weights32


def check_sdpa(attend, q, k, v, mask, is_causal, dtype, others):
    out, weights, out32, weights32 = check_sdpa_finite(
        attend, q, k, v, mask, is_causal, dtype, others)
    allowed = allowed_mask(mask, is_causal, q.shape[-2], k.shape[-2])
    assert_weights(weights, allowed, dtype)
    assert_rounded_float32(out, out32, dtype)
    assert_rounded_float32(weights, weights32, dtype)
    # other keys and values where no query may attend: the same output, bit for bit
    dead = ~allowed.any(-2).unsqueeze(-1)  # (..., T_k, 1)
    k2, v2 = torch.where(dead, others[0], k), torch.where(dead, others[1], v)
    out2, weights2 = attend(q, k2, v2, mask, is_causal)
    assert torch.equal(out2, out) and torch.equal(weights2, weights)
    return out, allowed


@settings(max_examples=150, **SETTINGS)
@given(case=sdpa_cases(bound=WIDE) | sdpa_cases())
def test_scaled_dot_product_attention(case):
    check_sdpa(scaled_dot_product_attention, *case)


@settings(max_examples=150, **SETTINGS)
@given(case=sdpa_cases())
def test_scaled_dot_product_attention_matches_pytorch(case):
    q, k, v, mask, is_causal, dtype, _ = case
    out, allowed = check_sdpa(scaled_dot_product_attention, *case)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    # PyTorch has no convention for a query that may attend nothing: compare the others
    some = allowed.any(-1, keepdim=True).expand_as(out)
    terms = v.abs().amax(-2, keepdim=True)  # (..., 1, d_v): the largest |v| of each feature
    assert_close(out, reference, dtype, "F.scaled_dot_product_attention", where=some,
                 scale=terms)
    assert (out[~some] == 0).all()


# ---------------------------------------------------------------- additive, multiplicative

@st.composite
def attention_cases(draw, kinds, bound=MODERATE, dtypes=DTYPES):
    """(module, query (B, d_q) or (B, T_q, d_q), keys (B, T_k, d_k), mask (B, T_k), ...)."""
    dtype, kind = draw(st.sampled_from(dtypes)), draw(st.sampled_from(kinds))
    B, T_k, d_q, d_a = draw(sizes), draw(sizes), draw(sizes), draw(sizes)
    d_k = d_q if kind == "dot" else draw(sizes)
    torch.manual_seed(draw(st.integers(0, 2**16)))
    if kind == "bahdanau":
        module = BahdanauAttention(d_q, d_k, attention_size=d_a)
    else:
        module = LuongAttention(d_q, d_k, kind, attention_size=d_a)
    module = module.to(dtype)
    T_q = draw(st.none() | sizes)  # None: one query per example, (B, d_q)
    query = draw(values((B, d_q) if T_q is None else (B, T_q, d_q), dtype, bound))
    keys = draw(values((B, T_k, d_k), dtype, bound))
    mask = draw(st.none() | masks((B, T_k)))
    other = draw(values(keys.shape, dtype, WIDE))
    return module, query, keys, mask, dtype, other


def row_mask(mask, query, keys):
    """The (B, T_k) mask (None = all True) as (B, 1, T_k) for T_q queries, else (B, T_k)."""
    if mask is None:
        mask = torch.ones(keys.shape[:2], dtype=torch.bool)
    return mask.unsqueeze(1) if query.dim() == 3 else mask


def check_attention(module, query, keys, mask, dtype, other):
    context, weights = module(query, keys, mask)
    assert context.dtype == dtype and torch.isfinite(context).all()
    allowed = row_mask(mask, query, keys)
    assert_weights(weights, allowed, dtype)
    # the same module in float32 (same rounded weights), and in float64
    in32 = copy.deepcopy(module).float()(query.float(), keys.float(), mask)
    in64 = copy.deepcopy(module).double()(query.double(), keys.double(), mask)
    for ours, ref32, ref64 in zip((context, weights), in32, in64, strict=True):
        assert_rounded_float32(ours, ref32, dtype)
        if moderate(query, keys):
            assert_close(ours, ref64, dtype, "float64")
    # projected once, then asked: the same answer
    projected = module.project_keys(keys)
    assert all(torch.equal(a, b) for a, b in zip(
        module(query, keys, mask, projected_keys=projected), (context, weights),
        strict=True))
    if mask is not None:  # other content in the masked keys: the same output
        keys2 = torch.where(mask.unsqueeze(-1), keys, other)
        context2, weights2 = module(query, keys2, mask)
        assert torch.equal(context2, context) and torch.equal(weights2, weights)
    return context, weights, allowed


@settings(max_examples=120, **SETTINGS)
@given(case=attention_cases(["bahdanau"], bound=WIDE) | attention_cases(["bahdanau"]))
def test_bahdanau_attention(case):
    module, query, keys, mask, dtype, _ = case
    context, weights, allowed = check_attention(*case)
    # the formula of Bahdanau et al. (2015), appendix A.1.2, in float64
    q, k = query.double(), keys.double()
    q = q.unsqueeze(1) if q.dim() == 2 else q  # (B, T_q, d_q)
    W_q, W_k, v = (layer.weight.double() for layer in (module.W_q, module.W_k, module.v))
    hidden = torch.tanh((q @ W_q.T).unsqueeze(2) + (k @ W_k.T).unsqueeze(1))
    scores = (hidden @ v.T).squeeze(-1)  # (B, T_q, T_k)
    mask_q = allowed if allowed.dim() == 3 else allowed.unsqueeze(1)
    expected = torch.softmax(scores.masked_fill(~mask_q, -math.inf), -1).nan_to_num(0.0)
    expected_context = expected @ k
    if query.dim() == 2:
        expected, expected_context = expected.squeeze(1), expected_context.squeeze(1)
    if moderate(query, keys):
        assert_close(weights, expected, dtype, "float64")
        assert_close(context, expected_context, dtype, "float64")


@settings(max_examples=150, **SETTINGS)
@given(case=attention_cases(["dot", "general", "concat"], bound=WIDE)
       | attention_cases(["dot", "general", "concat"]))
def test_luong_attention(case):
    check_attention(*case)


@settings(max_examples=60, **SETTINGS)
@given(case=attention_cases(["dot"]))
def test_luong_dot_matches_pytorch(case):
    module, query, keys, mask, dtype, _ = case
    context, _, allowed = check_attention(*case)
    q = query.unsqueeze(1) if query.dim() == 2 else query  # (B, T_q, d)
    mask_q = allowed if allowed.dim() == 3 else allowed.unsqueeze(1)
    # dot: s^T h_i, not divided by sqrt(d): scale=1; the keys are the values
    reference = F.scaled_dot_product_attention(q, keys, keys, attn_mask=mask_q, scale=1.0)
    if query.dim() == 2:
        reference, mask_q = reference.squeeze(1), mask_q.squeeze(1)
    some = mask_q.any(-1, keepdim=True).expand_as(context)
    assert_close(context, reference, dtype, "F.scaled_dot_product_attention", where=some)


# ---------------------------------------------------------------- multi-head attention

@st.composite
def mha_cases(draw, bound=MODERATE, dtypes=DTYPES):
    """(ours, nn.MultiheadAttention, query, key, value, mask (B, T_k) or (B, T_q, T_k), ...)."""
    dtype = draw(st.sampled_from(dtypes))
    B, T_q, T_k = draw(sizes), draw(sizes), draw(sizes)
    h, head_dim = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    E = h * head_dim
    torch.manual_seed(draw(st.integers(0, 2**16)))
    reference = nn.MultiheadAttention(E, h, batch_first=True, dtype=dtype,
                                      bias=draw(st.booleans())).eval()
    query = draw(values((B, T_q, E), dtype, bound))
    key = draw(values((B, T_k, E), dtype, bound))
    value = draw(values((B, T_k, E), dtype, bound))
    mask = draw(st.none() | masks((B, T_k)) | masks((B, T_q, T_k)))
    others = (draw(values(key.shape, dtype, WIDE)), draw(values(value.shape, dtype, WIDE)))
    return (MultiHeadAttention.from_torch(reference), reference, query, key, value, mask,
            dtype, others)


def check_mha(ours, query, key, value, mask, dtype, others):
    out, weights = ours(query, key, value, mask)
    B, T_q, T_k = query.shape[0], query.shape[1], key.shape[1]
    if mask is None:
        allowed = torch.ones(B, T_q, T_k, dtype=torch.bool)
    else:
        allowed = mask.unsqueeze(1).expand(B, T_q, T_k) if mask.dim() == 2 else mask
    assert_weights(weights, allowed.unsqueeze(1), dtype)  # (B, h, T_q, T_k)
    ours32 = copy.deepcopy(ours).float()
    out32, weights32 = ours32(query.float(), key.float(), value.float(), mask)
    assert_rounded_float32(out, out32, dtype)
    assert_rounded_float32(weights, weights32, dtype)
    # a query that may attend nothing: zero context, so the output is W_O's bias
    empty = ~allowed.any(-1)  # (B, T_q)
    bias = ours.out_proj.bias
    expected = torch.zeros(query.shape[-1], dtype=dtype) if bias is None else bias
    assert (out[empty] == expected.detach()).all()
    dead = ~allowed.any(1).unsqueeze(-1)  # (B, T_k, 1): keys no query may attend
    key2, value2 = torch.where(dead, others[0], key), torch.where(dead, others[1], value)
    out2, weights2 = ours(query, key2, value2, mask)
    assert torch.equal(out2, out) and torch.equal(weights2, weights)
    return out, weights, allowed


@settings(max_examples=80, **SETTINGS)
@given(case=mha_cases(bound=WIDE))
def test_multi_head_attention(case):
    ours, _, *rest = case
    check_mha(ours, *rest)


@settings(max_examples=150, **SETTINGS)
@given(case=mha_cases())
def test_multi_head_attention_matches_pytorch(case):
    ours, reference, query, key, value, mask, dtype, others = case
    out, weights, allowed = check_mha(ours, query, key, value, mask, dtype, others)
    h = ours.num_heads
    # PyTorch: True = may NOT attend; a per-query mask is given once per head
    kwargs = {} if mask is None else (
        {"key_padding_mask": ~mask} if mask.dim() == 2
        else {"attn_mask": (~mask).repeat_interleave(h, dim=0)})
    with torch.no_grad():
        ref_out, ref_weights = reference(query, key, value, average_attn_weights=False,
                                         **kwargs)
    some = allowed.any(-1)  # (B, T_q): PyTorch gives NaN for the others
    assert_close(out, ref_out, dtype, "nn.MultiheadAttention",
                 where=some.unsqueeze(-1).expand_as(out))
    assert_close(weights, ref_weights, dtype, "nn.MultiheadAttention",
                 where=some[:, None, :, None].expand_as(weights))


# ---------------------------------------------------------------- attention pooling

@st.composite
def pooling_cases(draw, bound=MODERATE, dtypes=DTYPES):
    dtype = draw(st.sampled_from(dtypes))
    B, T, D, d_a = draw(sizes), draw(sizes), draw(sizes), draw(sizes)
    torch.manual_seed(draw(st.integers(0, 2**16)))
    pool = AttentionPooling(D, attention_size=d_a).to(dtype)
    x = draw(values((B, T, D), dtype, bound))
    mask = draw(st.none() | masks((B, T)))
    return pool, x, mask, dtype, draw(values(x.shape, dtype, WIDE))


@settings(max_examples=100, **SETTINGS)
@given(case=pooling_cases(bound=WIDE) | pooling_cases())
def test_attention_pooling(case):
    pool, x, mask, dtype, other = case
    pooled, weights = pool(x, mask)
    assert pooled.dtype == dtype and torch.isfinite(pooled).all()
    assert_weights(weights, torch.ones_like(weights, dtype=torch.bool)
                   if mask is None else mask, dtype)
    in32 = copy.deepcopy(pool).float()(x.float(), mask)
    in64 = copy.deepcopy(pool).double()(x.double(), mask)
    for ours, ref32, ref64 in zip((pooled, weights), in32, in64, strict=True):
        assert_rounded_float32(ours, ref32, dtype)
        if moderate(x):
            assert_close(ours, ref64, dtype, "float64")
    if mask is not None:
        x2 = torch.where(mask.unsqueeze(-1), x, other)
        assert all(torch.equal(a, b) for a, b in zip(pool(x2, mask), (pooled, weights),
                                                       strict=True))


# ---------------------------------------------------------------- the properties can fail

# the example of issue 15: q = k = 40 everywhere, d_k = 64 (q.k = 102400 > 65504)
ISSUE_EXAMPLE = (torch.full((1, 1, 2, 64), 40.0, dtype=torch.float16),
                 torch.full((1, 1, 3, 64), 40.0, dtype=torch.float16),
                 torch.full((1, 1, 3, 64), 40.0, dtype=torch.float16),
                 torch.tensor([True, True, False]), False, torch.float16, None)


def test_the_issue_example_in_float16():
    q, k, v, mask = ISSUE_EXAMPLE[:4]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert weights.tolist() == [[[[0.5, 0.5, 0.0]] * 2]]
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.unsqueeze(0))
    assert torch.equal(out, reference) and torch.isfinite(out).all()


# deterministic searches, no shrinking (the failure is what is tested, not its size)
BROKEN = {"deadline": None, "database": None, "derandomize": True,
          "report_multiple_bugs": False,
          "phases": [Phase.explicit, Phase.reuse, Phase.generate]}


def forgets_the_mask(scores, mask):
    """A masked softmax that forgets the mask."""
    return torch.softmax(scores, -1)


def divides_after_the_product(q, k, v, mask=None, is_causal=False):
    """scaled_dot_product_attention before issue 15: q.k in the inputs' dtype, then / sqrt(d)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # inf in float16 if > 65504
    weights = masked_softmax(scores, allowed_mask(mask, is_causal, *scores.shape[-2:]))
    return weights @ v, weights


def test_the_properties_catch_a_softmax_that_forgets_the_mask():
    @settings(max_examples=100, **BROKEN)
    @given(case=softmax_cases())
    def run(case):
        check_masked_softmax(forgets_the_mask, *case)

    with pytest.raises(AssertionError, match="a masked position got weight"):
        run()


def test_the_properties_catch_the_float16_overflow_of_issue_15():
    @settings(max_examples=100, **BROKEN)
    @given(case=sdpa_cases(bound=WIDE, dtypes=[torch.float16]))
    def run(case):
        check_sdpa_finite(divides_after_the_product, *case)

    with pytest.raises(AssertionError, match="float16: not finite where float32 is"):
        run()
    with pytest.raises(AssertionError, match="not finite"):  # and the issue's example
        check_sdpa_finite(divides_after_the_product, *ISSUE_EXAMPLE)
    check_sdpa_finite(scaled_dot_product_attention, *ISSUE_EXAMPLE)  # fixed: passes

