"""Checks of exercise 4.5, attention dropout and generalisation (chapters 4.2 and 4.5).

The learner wraps a course attention module in inverted dropout on its weights
(training only, masked positions kept at 0), then sweeps the dropout rate on the date
task and reports train and test exact match.
"""

import torch
from torch import nn

from ..attention import BahdanauAttention
from ._common import (
    _as_cpu,
    _call,
    _check,
    _expect_shape,
    _fail,
    _max_error,
    _number,
    passed,
)


@_check
def check_attention_dropout(dropout_class):
    """Check the dropout wrapper: inverted dropout on the weights, in training only.

    `dropout_class(attention, p)` wraps a `BahdanauAttention(8, 6, 8)` with p = 0.5 and
    is called like it, (query (64, 8), keys (64, 20, 6), mask (64, 20)) -> (context
    (64, 6), weights (64, 20)). In eval mode it must return the wrapped module's output
    exactly; in training mode it must zero about half of the weights, give masked
    positions 0, divide the kept weights by 1 - p (no renormalisation), and build the
    context from the dropped weights. It copies `query_size` and `key_size`.

    Args:
        dropout_class: the learner's class, AttentionDropout(attention, p), an
            nn.Module (an `AttentionBase`).
    Raises:
        AssertionError: if the class is unwritten, raises (p given as a percentage
            gets a hint), is not an nn.Module, lacks query_size or key_size, returns
            another form or shape, drops in eval mode, or its training-mode weights
            or context are not those of inverted dropout (the message says which).
    """
    __tracebackhide__ = True
    torch.manual_seed(0)
    inner = BahdanauAttention(8, 6, 8)
    query, keys = torch.randn(64, 8), torch.randn(64, 20, 6)
    mask = torch.ones(64, 20, dtype=torch.bool)
    mask[:, 15:] = False
    reference_context, reference = inner(query, keys, mask)
    reference_context, reference = _as_cpu(reference_context), _as_cpu(reference)
    wrapped = _call(
        dropout_class,
        "AttentionDropout(attention, 0.5)",
        inner,
        0.5,
        hints=[(TypeError, "the wrapper is AttentionDropout(attention, p)")],
    )
    if not isinstance(wrapped, nn.Module):
        _fail("AttentionDropout(...) should be an nn.Module (an AttentionBase)")
    for name in ("query_size", "key_size"):
        if getattr(wrapped, name, None) != getattr(inner, name):
            _fail(f"AttentionDropout should copy {name} from the attention it wraps")

    def forward(mode):
        __tracebackhide__ = True
        result = _call(
            wrapped,
            f"AttentionDropout.forward in {mode} mode",
            query,
            keys,
            mask,
            hints=[(ValueError, "The rate p is a probability (0.5, not 50)")],
        )
        if not (isinstance(result, tuple) and len(result) == 2):
            _fail(
                "forward should return (context, weights), like every course attention"
            )
        context, weights = result
        _expect_shape(
            context, (64, 6), f"the context of a single-step query in {mode} mode"
        )
        _expect_shape(
            weights, (64, 20), f"the weights of a single-step query in {mode} mode"
        )
        return _as_cpu(context), _as_cpu(weights)

    wrapped.eval()
    context, weights = forward("evaluation")
    if (
        _max_error(weights, reference) > 1e-6
        or _max_error(context, reference_context) > 1e-5
    ):
        _fail(
            "in evaluation mode (model.eval()) the weights must be exactly those of "
            "the wrapped attention: dropout is for training only "
            "(training=self.training)"
        )
    wrapped.train()
    context, weights = forward("training")
    if weights[:, 15:].abs().max() > 0:
        _fail(
            "masked positions got weight after dropout: drop the masked softmax's "
            "weights"
        )
    real = weights[:, :15]
    dropped = (real == 0).double().mean().item()
    if not 0.4 < dropped < 0.6:
        _fail(
            "with p = 0.5 about half of the weights should be zeroed in training, "
            f"{dropped:.0%} were: apply dropout to the weights"
        )
    kept = real != 0
    if (weights.sum(-1) - 1).abs().max() < 1e-4:
        _fail(
            "the weights were renormalised after dropout; keep inverted dropout's "
            "scaling (divide by 1 - p) instead, so their expectation is unchanged"
        )
    if _max_error(real[kept], 2 * reference[:, :15][kept]) > 1e-5:
        _fail(
            "the weights that survive dropout should be divided by 1 - p (= doubled "
            "for p = 0.5), as F.dropout does, so that their expected value is "
            "unchanged"
        )
    if _max_error(context, (weights.unsqueeze(1) @ _as_cpu(keys)).squeeze(1)) > 1e-5:
        _fail(
            "the context must be the weighted sum of the keys with the dropped weights"
        )
    passed(
        "inverted dropout on the weights in training only; masked positions stay at 0"
    )


@_check
def check_dropout_sweep(results, rates=(0.0, 0.1, 0.2, 0.3)):
    """Check the dropout sweep: every rate, with train and test exact match and gap.

    Args:
        results: dict {p: {"train_exact", "test_exact", "gap"}} with the rates p as
            fractions, exact matches between 0 and 1 and gap = train_exact -
            test_exact; without dropout (p = 0.0) the model must fit its training
            dates (>= 0.95). Empty or None before the sweep ran.
        rates: the dropout rates the sweep must cover.
    Raises:
        AssertionError: if there are no results yet, they are not such a dict, miss
            or add a rate (percentages instead of fractions), a row lacks a key or
            holds something other than a number, a gap is not the difference, or the
            model without dropout did not fit its training dates.
    """
    __tracebackhide__ = True
    if not results:
        _fail("not implemented yet: write `dropout_sweep` and run it above")
    if not isinstance(results, dict):
        _fail(
            "dropout_sweep should return a dict {p: row}, got "
            f"{type(results).__name__}"
        )
    if sorted(results, key=str) != sorted(rates, key=str):
        _fail(
            f"the sweep should cover the rates {list(rates)} (as fractions), got "
            f"{sorted(results, key=str)}"
        )
    for rate, row in results.items():
        if not isinstance(row, dict):
            _fail(
                f"results[{rate}] should be a dict with train_exact, test_exact and gap"
            )
        for key in ("train_exact", "test_exact", "gap"):
            if key not in row:
                _fail(f"results[{rate}] lacks {key!r}")
        train = _number(row["train_exact"], f"results[{rate}]['train_exact']")
        test = _number(row["test_exact"], f"results[{rate}]['test_exact']")
        gap = _number(row["gap"], f"results[{rate}]['gap']")
        if not (0 <= train <= 1 and 0 <= test <= 1):
            _fail(f"results[{rate}]: exact match is a fraction between 0 and 1")
        if abs(gap - (train - test)) > 1e-6:
            _fail(f"results[{rate}]['gap'] should be train_exact - test_exact")
    if _number(results[0.0]["train_exact"], "train_exact") < 0.95:
        _fail(
            "without dropout the model should fit its training dates (>= 0.95): was "
            "it trained?"
        )
    passed("the sweep covers every rate, with train and test exact match and their gap")
