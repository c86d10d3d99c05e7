"""Checks of exercise 4.6, a multi-head attention prototype (chapter 4.6).

The learner splits (B, T, E) into h heads of width d_k = E / h, merges them back, writes
multi-head attention from the projection weights of `nn.MultiheadAttention` (the check's
reference), and trains a two-head model whose heads should read the left and the right
neighbour.
"""

import torch
from torch import nn

from ._common import (
    _as_cpu,
    _call,
    _check,
    _expect_shape,
    _fail,
    _max_error,
    passed,
)


@_check
def check_split_heads(split_heads):
    """Check `split_heads(x, num_heads)`: (B, T, E) -> (B, h, T, d_k), d_k = E / h.

    Head i must hold features i*d_k .. (i+1)*d_k - 1 of every position, the layout of
    `nn.MultiheadAttention` (and of the course's `split_heads`).

    Args:
        split_heads: the learner's function (x, num_heads) -> tensor; it is called on a
            (2, 5, 12) float tensor with num_heads = 3.
    Raises:
        AssertionError: if the answer is unwritten, raises, has the wrong shape or puts
            the features in the wrong heads (hint: reshape to (B, T, h, d_k), then
            `.transpose(1, 2)`).
    """
    __tracebackhide__ = True
    B, T, E, h = 2, 5, 12, 3
    d = E // h
    x = torch.arange(B * T * E, dtype=torch.float32).reshape(B, T, E)
    heads = _call(
        split_heads,
        "split_heads(x, 3)",
        x,
        h,
        hints=[("shape", "reshape to (B, T, h, d), then .transpose(1, 2)")],
    )
    _expect_shape(
        heads, (B, h, T, d), f"split_heads(x of shape {(B, T, E)}, num_heads={h})"
    )
    for i in range(h):
        expected = x[:, :, i * d : (i + 1) * d]
        if not torch.equal(_as_cpu(heads[:, i]), _as_cpu(expected)):
            _fail(
                f"head {i} should hold features {i * d}..{(i + 1) * d - 1} of every "
                "position; it does not. Did you reshape (B, T, E) straight to (B, h, "
                "T, d)? Reshape to (B, T, h, d) first, then move the head axis with "
                ".transpose(1, 2)."
            )
    passed("split_heads gives (B, h, T, d) with head i = features i*d .. (i+1)*d - 1")


@_check
def check_merge_heads(merge_heads):
    """Check `merge_heads(x)`: (B, h, T, d_k) -> (B, T, h * d_k), undoing split_heads.

    Args:
        merge_heads: the learner's function (x) -> tensor; it is called on a contiguous
            (2, 3, 5, 4) tensor, like the output of `weights @ values`.
    Raises:
        AssertionError: if the answer is unwritten, raises (a `.view` after
            `.transpose` gets the hint to use `.reshape`), has the wrong shape, or does
            not give the (B, T, E) tensor the heads were split from.
    """
    __tracebackhide__ = True
    x = torch.randn(2, 5, 12)
    # (B, h, T, d), the reference split, contiguous like the output of `weights @ v`
    heads = x.reshape(2, 5, 3, 4).transpose(1, 2).contiguous()
    merged = _call(
        merge_heads,
        "merge_heads(heads)",
        heads,
        hints=[
            (
                "view size is not compatible",
                "after .transpose the tensor is not contiguous, so .view cannot join "
                "its axes: use .reshape (or .contiguous().view)",
            )
        ],
    )
    _expect_shape(merged, (2, 5, 12), "merge_heads(heads of shape (2, 3, 5, 4))")
    if not torch.equal(_as_cpu(merged), _as_cpu(x)):
        _fail(
            "merging the heads should give the original (B, T, E) tensor back; max "
            f"difference {_max_error(merged, x):.3g}. Transpose back to (B, T, h, d) "
            "before reshaping to (B, T, E)."
        )
    passed("merge_heads joins the heads back into (B, T, E)")


def _reference_mha(embed_dim=12, num_heads=3, seed=0):
    """The reference: PyTorch's multi-head attention, biases made non-zero."""
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_(0, 0.1)
        mha.out_proj.bias.normal_(0, 0.1)
    return mha


_MASK_HINTS = [
    (
        "must match the size",
        "the mask is (B, T_k): broadcast it over heads and queries as mask[:, None, "
        "None, :] to match the scores (B, h, T_q, T_k)",
    ),
    (
        "size of tensor",
        "check the shapes: scores (B, h, T_q, T_k), mask (B, T_k) -> mask[:, None, "
        "None, :]",
    ),
]


@_check
def check_multi_head_attention(multi_head_attention):
    """Check multi-head attention against `nn.MultiheadAttention`, masked or not.

    The learner's function is called as `multi_head_attention(query, key, value,
    in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, mask)`
    with query (2, 4, 12), key and value (2, 6, 12), h = 3 and mask None or a (B, T_k)
    bool tensor (True = may attend; the first sequence has 2 padded keys). It must
    return (output (B, T_q, E), weights (B, h, T_q, T_k)), both within 1e-5 of PyTorch's
    (`average_attn_weights=False`).

    Args:
        multi_head_attention: the learner's function, as above.
    Raises:
        AssertionError: if the answer is unwritten, raises (a mask of the wrong shape
            gets the hint `mask[:, None, None, :]`), returns something other than two
            tensors of those shapes, weights that do not sum to 1, an inverted or
            ignored mask, weights sharper than PyTorch's (the missing 1/sqrt(d_k)), or
            an output that differs.
    Source: Vaswani et al. (2017), "Attention is all you need", section 3.2.2.
    """
    __tracebackhide__ = True
    mha = _reference_mha()
    B, T_q, T_k, E, h = 2, 4, 6, 12, 3
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(B, T_q, E, generator=generator)
    key = torch.randn(B, T_k, E, generator=generator)
    value = torch.randn(B, T_k, E, generator=generator)
    mask = torch.ones(B, T_k, dtype=torch.bool)
    mask[0, 4:] = False  # the first sequence has 2 padded key positions
    weights_in = (
        mha.in_proj_weight,
        mha.in_proj_bias,
        mha.out_proj.weight,
        mha.out_proj.bias,
    )
    with torch.no_grad():
        for name, m in (("without a mask", None), ("with a padding mask", mask)):
            result = _call(
                multi_head_attention,
                f"multi_head_attention {name}",
                query,
                key,
                value,
                *weights_in,
                h,
                m,
                hints=_MASK_HINTS,
            )
            if not (isinstance(result, tuple) and len(result) == 2):
                _fail(
                    "multi_head_attention should return a tuple (output, weights), "
                    f"got {type(result).__name__}"
                )
            output, weights = result
            _expect_shape(output, (B, T_q, E), f"output {name}")
            _expect_shape(weights, (B, h, T_q, T_k), f"weights {name}")
            output, weights = _as_cpu(output), _as_cpu(weights)
            row_sums = weights.sum(-1)  # (B, h, T_q)
            if m is not None and row_sums[1].abs().max() < 1e-6:
                _fail(
                    "the second sequence has no padding, yet all its weights are 0: "
                    "is the mask inverted? In the course, True = this key may be "
                    "attended"
                )
            if (row_sums - 1).abs().max() > 1e-5:
                _fail(f"the weights {name} should sum to 1 over the keys (last axis)")
            if m is not None and weights[0, :, :, 4:].abs().max() > 1e-6:
                _fail(
                    "padded key positions (mask False) got weight "
                    f"{weights[0, :, :, 4:].abs().max().item():.3f}: the mask is "
                    "ignored. Set their scores to torch.finfo(scores.dtype).min (or "
                    "use masked_softmax) before the softmax."
                )
            ref_out, ref_weights = mha(
                query,
                key,
                value,
                key_padding_mask=None if m is None else ~m,
                average_attn_weights=False,
            )
            if _max_error(weights, ref_weights) > 1e-5:
                sharper = (
                    weights.max(-1).values.mean() > ref_weights.max(-1).values.mean()
                )
                hint = (
                    (
                        " Your weights are sharper than PyTorch's: did you forget to "
                        "divide the scores by sqrt(d_k), the width of one head?"
                    )
                    if sharper
                    else ""
                )
                _fail(
                    f"the attention weights {name} differ from nn.MultiheadAttention's "
                    f"by up to {_max_error(weights, ref_weights):.3g}.{hint}"
                )
            if _max_error(output, ref_out) > 1e-5:
                _fail(
                    f"the weights match but the output {name} differs from "
                    "nn.MultiheadAttention's by up to "
                    f"{_max_error(output, ref_out):.3g}: check the merge of the heads "
                    "and the out projection"
                )
    passed(
        "output and weights match nn.MultiheadAttention (max error <= 1e-5; scale "
        f"1/sqrt({E // h}))"
    )


@_check
def check_heads_specialise(weights, offsets=(-1, 1), threshold=0.8):
    """Check the trained two-head model: one head reads t-1, the other t+1.

    Averaged over the inner positions (not the first and last), the two heads must
    put at least `threshold` of their weight on the neighbour each reads, whichever head
    reads which side.

    Args:
        weights: (B, 2, T, T) float tensor, the attention weights of both heads of the
            trained model on a batch of strings (T >= 3); None while untrained.
        offsets: the two neighbours, as offsets from the query position.
        threshold: float, the least mean weight on the right neighbour.
    Raises:
        AssertionError: if there are no weights yet, they are not one (B, 2, T, T) map
            per head (e.g. averaged over the heads), T < 3, or the heads put less than
            `threshold` on their neighbours (train longer, or check
            multi_head_attention).
    """
    __tracebackhide__ = True
    if weights is None:
        _fail(
            "not implemented yet: there are no trained weights; finish "
            "multi_head_attention, then run the training cell above"
        )
    if (
        not isinstance(weights, torch.Tensor)
        or weights.dim() != 4
        or weights.shape[1] != 2
    ):
        shape = (
            tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights)
        )
        _fail(
            f"expected the weights of both heads, shape (B, 2, T, T), got {shape}: "
            "keep one map per head (do not average over the heads)"
        )
    _expect_shape(
        weights, (weights.shape[0], 2, weights.shape[2], weights.shape[2]), "weights"
    )
    weights = _as_cpu(weights)
    T = weights.shape[-1]
    if T < 3:
        _fail(f"expected strings of at least 3 positions, got T = {T}")
    inner = torch.arange(1, T - 1)
    share = {
        (head, offset): weights[:, head, inner, inner + offset].mean().item()
        for head in range(2)
        for offset in offsets
    }
    left_first = share[(0, -1)] + share[(1, 1)]
    right_first = share[(0, 1)] + share[(1, -1)]
    best = max(left_first, right_first) / 2
    if not best >= threshold:  # also catches NaN
        _fail(
            f"the heads put on average {best:.2f} of their weight on the neighbour "
            f"they should read (expected >= {threshold}): train longer, or check "
            "multi_head_attention"
        )
    left, right = (1, 2) if left_first >= right_first else (2, 1)
    # Return nothing: nbgrader would read a returned number as partial credit.
    passed(
        f"head {left} reads the left neighbour and head {right} the right one; on "
        f"average the two put {best:.2f} of their weight on the neighbour each reads "
        f"(at least {threshold} needed)"
    )
