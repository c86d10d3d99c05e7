"""Checks of exercise 4.4, attention and sequence length (chapters 4.1 and 4.4).

The learner writes the entropy of attention weights, then a report that averages the
accuracy and the entropy of the chapter 4.1 reversal model over buckets of input
lengths, and reads it on a trained model.
"""

import math

import torch

from ..bahdanau import attention_entropy as _reference_entropy
from ..tasks.reversal import make_reversal_batch
from ._common import (
    _as_cpu,
    _call,
    _check,
    _expect_shape,
    _fail,
    _model_device,
    _number,
    passed,
)


@_check
def check_attention_entropy(attention_entropy):
    """Check `attention_entropy(weights)`: the entropy in nats of every row.

    (..., T_src) -> (...): H(alpha) = -sum_i alpha_i log alpha_i over the last axis,
    with 0 log 0 counted as 0, so that padded positions (weight 0) add nothing. Tried on
    uniform weights (log 8), one-hot weights (0) and (0.5, 0.5, 0, 0) (log 2).

    Args:
        attention_entropy: the learner's function (weights) -> tensor.
    Raises:
        AssertionError: if the answer is unwritten, raises, has the wrong shape, gives
            NaN for a zero weight, or a wrong value (with a hint for -H, for log base 2
            and for a mean instead of a sum).
    """
    __tracebackhide__ = True
    uniform = torch.full((2, 3, 8), 1 / 8)
    one_hot = torch.zeros(2, 3, 8)
    one_hot[..., 2] = 1.0
    padded = torch.tensor(
        [[[0.5, 0.5, 0.0, 0.0]]]
    )  # two padded positions with weight 0
    result = _call(attention_entropy, "attention_entropy(uniform weights)", uniform)
    _expect_shape(result, (2, 3), "attention_entropy(weights of shape (2, 3, 8))")
    result = _as_cpu(result)
    expected = math.log(8)
    if (result + expected).abs().max() < 1e-4:
        _fail("uniform weights gave -log 8: the entropy is MINUS the sum of p log p")
    if (result - math.log2(8)).abs().max() < 1e-4:
        _fail("uniform weights gave log2(8) = 3: use the natural log (nats), torch.log")
    if (result - expected).abs().max() > 1e-4:
        _fail(
            f"uniform weights over 8 positions should give log 8 = {expected:.4f} "
            f"nats, got {result.flatten()[0].item():.4f}"
        )
    sharp = _call(attention_entropy, "attention_entropy(one-hot weights)", one_hot)
    if isinstance(sharp, torch.Tensor) and torch.isnan(sharp).any():
        _fail(
            "one-hot weights gave NaN: 0 * log 0 must count as 0 (e.g. use "
            "torch.xlogy, or clamp the weights before the log)"
        )
    _expect_shape(
        sharp, (2, 3), "attention_entropy(one-hot weights of shape (2, 3, 8))"
    )
    if _as_cpu(sharp).abs().max() > 1e-4:
        _fail(
            "one-hot weights should give entropy 0, got "
            f"{sharp.flatten()[0].item():.4f}"
        )
    half = _call(
        attention_entropy, "attention_entropy(weights (0.5, 0.5, 0, 0))", padded
    )
    if isinstance(half, torch.Tensor) and torch.isnan(half).any():
        _fail("weights (0.5, 0.5, 0, 0) gave NaN: 0 * log 0 must count as 0")
    _expect_shape(half, (1, 1), "attention_entropy(weights of shape (1, 1, 4))")
    if abs(half.item() - math.log(2)) > 1e-4:
        _fail(
            "weights (0.5, 0.5, 0, 0) should give log 2 (padded positions add "
            f"nothing), got {half.item():.4f}"
        )
    passed(
        "attention_entropy: log T for uniform weights, 0 for one-hot, no NaN for zero "
        "weights"
    )


#: The length buckets of exercise 4.4: name -> (shortest, longest) input, inclusive.
BUCKETS = {"short": (5, 10), "medium": (20, 30), "long": (50, 100)}
_REPORT_KEYS = ("accuracy", "entropy", "normalised_entropy")


@_check
def check_length_report(length_report, model):
    """Check `length_report(model, buckets, n)` against the same report computed here.

    For each bucket (low, high) the report averages, over every length T from low to
    high inclusive, n strings of `make_reversal_batch(n, T,
    torch.Generator().manual_seed(T))` decoded by `model.generate`: the accuracy, the
    mean entropy of the weight rows, and that entropy divided by log T. Checked with
    n = 20 on the buckets {"tiny": (3, 5), "small": (6, 6)}, to 1e-3.

    Args:
        length_report: the learner's function (model, buckets, n=100) -> dict
            {bucket: {"accuracy", "entropy", "normalised_entropy"}} of numbers.
        model: the chapter 4.1 `Seq2Seq` with attention (trained or not) the report
            reads; it is put in eval mode.
    Raises:
        AssertionError: if the answer is unwritten, raises (an off-by-one bucket range
            gets the hint "inclusive"), lacks a bucket or a key, holds something other
            than a number, or a number that differs from the expected report.
    """
    __tracebackhide__ = True
    buckets = {"tiny": (3, 5), "small": (6, 6)}
    inclusive = (
        "Did a bucket give no length to average? Its range is inclusive: loop over "
        "range(low, high + 1) (the bucket (6, 6) holds one length, 6)"
    )
    hints = [
        (TypeError, "The function is length_report(model, buckets, n=100)"),
        (ZeroDivisionError, inclusive),
        (ValueError, inclusive),
        (IndexError, inclusive),
    ]
    report = _call(
        length_report,
        f"length_report(model, {buckets}, n=20)",
        model,
        buckets,
        n=20,
        hints=hints,
    )
    if not isinstance(report, dict) or set(report) != set(buckets):
        got = (
            sorted(map(str, report))
            if isinstance(report, dict)
            else type(report).__name__
        )
        _fail(
            "length_report should return a dict with one entry per bucket "
            f"{sorted(buckets)}, got {got}"
        )
    device = _model_device(model)
    model.eval()
    for name, (low, high) in buckets.items():
        accuracy, entropy, normalised = [], [], []
        for T in range(low, high + 1):
            source, target = make_reversal_batch(
                20, T, torch.Generator().manual_seed(T)
            )
            with torch.no_grad():
                tokens, weights = model.generate(source.to(device), T)
            accuracy.append((tokens.cpu() == target).float().mean().item())
            row = _reference_entropy(weights.cpu()).mean().item()
            entropy.append(row)
            normalised.append(row / math.log(T))
        expected = {
            "accuracy": sum(accuracy) / len(accuracy),
            "entropy": sum(entropy) / len(entropy),
            "normalised_entropy": sum(normalised) / len(normalised),
        }
        got = report[name]
        if not isinstance(got, dict):
            _fail(
                f"report[{name!r}] should be a dict with {list(_REPORT_KEYS)}, got "
                f"{type(got).__name__}"
            )
        for key, value in expected.items():
            if key not in got:
                _fail(
                    f"report[{name!r}] has no {key!r}: it needs "
                    f"{', '.join(_REPORT_KEYS)}"
                )
            number = _number(got[key], f"report[{name!r}][{key!r}]")
            if abs(number - value) > 1e-3:
                _fail(
                    f"report[{name!r}][{key!r}] is {number:.4f}, expected {value:.4f} "
                    f"(off by {abs(number - value):.4f}). Average over every length "
                    f"from {low} to {high} inclusive, n strings each from "
                    "make_reversal_batch(n, T, torch.Generator().manual_seed(T)); the "
                    "normalised entropy is the entropy / log T."
                )
    passed(
        "length_report averages accuracy and entropy over every length of each bucket"
    )


@_check
def check_length_findings(report):
    """Check the report of the trained model: accurate, and sharp at every length.

    Needs short inputs nearly perfect (accuracy >= 0.95), long ones at least 0.6, the
    raw entropy growing from the short to the long bucket, and a normalised entropy of
    at most 0.3 in every bucket.

    Args:
        report: dict {bucket: {"accuracy", "entropy", "normalised_entropy"}} for the
            buckets of `BUCKETS`, as length_report returns it; None before it ran.
    Raises:
        AssertionError: if the report is missing, lacks a bucket or a key, holds
            something other than a number, or does not look like that of a trained
            attention model (the message says which number, and to train longer).
    """
    __tracebackhide__ = True
    if report is None:
        _fail("not implemented yet: there is no report; run the cells above first")
    if not isinstance(report, dict) or not set(BUCKETS) <= set(report):
        _fail(f"the report should have the buckets {list(BUCKETS)}")
    values = {}
    for name in BUCKETS:
        if not isinstance(report[name], dict):
            _fail(f"report[{name!r}] should be a dict")
        for key in _REPORT_KEYS:
            if key not in report[name]:
                _fail(f"report[{name!r}] has no {key!r}")
            values[name, key] = _number(report[name][key], f"report[{name!r}][{key!r}]")
    if values["short", "accuracy"] < 0.95:
        _fail(
            "short inputs should be nearly perfect, got "
            f"{values['short', 'accuracy']:.2f}: was the model trained?"
        )
    if values["long", "accuracy"] < 0.6:
        _fail(
            f"long inputs reached only {values['long', 'accuracy']:.2f}: train longer"
        )
    if not values["short", "entropy"] < values["long", "entropy"]:
        _fail(
            "expected the raw entropy to grow with length (more positions to spread "
            "over)"
        )
    if max(values[name, "normalised_entropy"] for name in BUCKETS) > 0.3:
        _fail("normalised entropy above 0.3: the attention is not sharp; train longer")
    passed("accuracy and entropy by bucket look like a trained attention model")
