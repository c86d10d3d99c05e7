"""Every exercise check accepts a right answer and rejects plausible wrong ones, saying why."""

import math

import pytest
import torch

from attention_course import Seq2Seq, make_reversal_batch, masked_softmax
from attention_course.checks import (
    BUCKETS,
    check_attention_entropy,
    check_heads_specialise,
    check_length_findings,
    check_length_report,
    check_merge_heads,
    check_multi_head_attention,
    check_split_heads,
)


def split_heads(x, num_heads):
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).transpose(1, 2)


def merge_heads(x):
    B, h, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, h * d)


def make_mha(split=split_heads, scale=True, use_mask=True):
    def multi_head_attention(query, key, value, w_in, b_in, w_out, b_out, num_heads, mask=None):
        W_q, W_k, W_v = w_in.chunk(3)
        b_q, b_k, b_v = b_in.chunk(3)
        q, k, v = (split(x @ W.T + b, num_heads) for x, W, b in
                   ((query, W_q, b_q), (key, W_k, b_k), (value, W_v, b_v)))
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
        weights = masked_softmax(scores, mask[:, None, None, :] if (mask is not None and use_mask) else None)
        return merge_heads(weights @ v) @ w_out.T + b_out, weights
    return multi_head_attention


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def test_right_answers_pass(capsys):
    check_split_heads(split_heads)
    check_merge_heads(merge_heads)
    check_multi_head_attention(make_mha())
    assert capsys.readouterr().out.count("Correct:") == 3


@pytest.mark.parametrize("check", [check_split_heads, check_merge_heads, check_multi_head_attention])
def test_missing_answer_says_not_implemented_yet(check):
    with pytest.raises(AssertionError, match="not implemented yet: write"):
        check(not_implemented)


def test_split_without_transpose_is_rejected():
    def reshape_only(x, num_heads):
        B, T, E = x.shape
        return x.reshape(B, num_heads, T, E // num_heads)
    with pytest.raises(AssertionError, match="transpose"):
        check_split_heads(reshape_only)


def test_split_with_wrong_shape_is_rejected():
    with pytest.raises(AssertionError, match=r"shape \(2, 5, 12\), expected \(2, 3, 5, 4\)"):
        check_split_heads(lambda x, h: x)


def test_merge_without_transpose_is_rejected():
    with pytest.raises(AssertionError, match="Transpose back"):
        check_merge_heads(lambda x: x.reshape(x.shape[0], x.shape[2], -1))


def test_forgotten_scale_is_rejected():
    with pytest.raises(AssertionError, match="sqrt"):
        check_multi_head_attention(make_mha(scale=False))


def test_ignored_mask_is_rejected():
    with pytest.raises(AssertionError, match="mask is ignored"):
        check_multi_head_attention(make_mha(use_mask=False))


def test_wrong_head_split_inside_attention_is_rejected():
    def reshape_only(x, num_heads):
        B, T, E = x.shape
        return x.reshape(B, num_heads, T, E // num_heads)
    with pytest.raises(AssertionError, match="differ from nn.MultiheadAttention"):
        check_multi_head_attention(make_mha(split=reshape_only))


def test_heads_check_rejects_untrained_or_missing_weights():
    uniform = torch.full((4, 2, 8, 8), 1 / 8)
    with pytest.raises(AssertionError, match="expected >= 0.8"):
        check_heads_specialise(uniform)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_heads_specialise(None)
    left_right = torch.zeros(4, 2, 8, 8)
    positions = torch.arange(8)
    left_right[:, 0, positions, (positions - 1) % 8] = 1
    left_right[:, 1, positions, (positions + 1) % 8] = 1
    assert check_heads_specialise(left_right) is None  # nbgrader reads a returned number as partial credit


# ---- Exercise 4.4 ---------------------------------------------------------------------------

def entropy(weights):
    return -torch.xlogy(weights, weights).sum(-1)


@pytest.mark.parametrize("wrong, message", [
    (lambda w: torch.xlogy(w, w).sum(-1), "MINUS"),
    (lambda w: -(w * torch.log2(w.clamp_min(1e-30))).sum(-1), "natural log"),
    (lambda w: -(w * torch.log(w)).sum(-1), "NaN"),
    (lambda w: -torch.xlogy(w, w).mean(-1), "should give log 8"),
])
def test_entropy_check_rejects_wrong_formulas(wrong, message):
    check_attention_entropy(entropy)
    with pytest.raises(AssertionError, match=message):
        check_attention_entropy(wrong)


def tiny_model():
    torch.manual_seed(0)
    return Seq2Seq(use_attention=True, hidden_size=16).eval()


def length_report(model, buckets, n=100, normalise=True, lengths=lambda low, high: range(low, high + 1)):
    report = {}
    for name, (low, high) in buckets.items():
        rows = []
        for T in lengths(low, high):
            source, target = make_reversal_batch(n, T, torch.Generator().manual_seed(T))
            tokens, weights = model.generate(source, T)
            h = entropy(weights).mean().item()
            rows.append(((tokens == target).float().mean().item(), h, h / math.log(T) if normalise else h))
        accuracy, h, normalised = (sum(c) / len(rows) for c in zip(*rows, strict=True))
        report[name] = {"accuracy": accuracy, "entropy": h, "normalised_entropy": normalised}
    return report


def test_length_report_check_accepts_the_right_report_and_rejects_wrong_ones():
    model = tiny_model()
    check_length_report(length_report, model)
    with pytest.raises(AssertionError, match="normalised_entropy"):
        check_length_report(lambda m, b, n: length_report(m, b, n, normalise=False), model)
    with pytest.raises(AssertionError, match="inclusive"):  # only the two ends of each bucket
        check_length_report(lambda m, b, n: length_report(m, b, n, lengths=lambda lo, hi: (lo, hi)), model)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_length_report(not_implemented, model)


def test_length_findings_reject_an_untrained_model():
    report = length_report(tiny_model(), BUCKETS, n=5)
    with pytest.raises(AssertionError, match="was the model trained"):
        check_length_findings(report)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_length_findings(None)
