"""Checks of exercise 4.3, sentiment classification with self-attention (chapter 4.6).

The learner builds a classifier of movie reviews (embedding, positions, multi-head
self-attention, attention pooling, a linear layer), masks the padding everywhere, and
trains it past a test accuracy of 0.7.
"""

import torch
from torch import nn

from ..self_attention import MultiHeadAttention
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

_FORWARD_HINTS = [
    (
        "index out of range",
        "an index is out of range: are the position ids torch.arange(T), and "
        "max_length large enough?",
    ),
    (
        "size of tensor",
        "check the shapes: ids (B, T), mask (B, T), embeddings (B, T, E)",
    ),
]


@_check
def check_sentiment_model(model_class, vocab_size=50):
    """Check the classifier class: self-attention, padding masked, any length.

    `model_class(vocab_size)` must build an nn.Module holding a self-attention layer
    (the course's `MultiHeadAttention` or `nn.MultiheadAttention`) whose forward takes
    (ids (B, T) long, mask (B, T) bool, True = a real token) and returns (logits (B,
    num_classes), pooling weights (B, T)). The pooling weights sum to 1 and give 0 to
    padding; more padding leaves the logits unchanged (to 1e-4), a sentence alone gets
    the same logits as in a batch, and 40-token inputs work.

    Args:
        model_class: the learner's class, SelfAttentionClassifier(vocab_size,
            embed_size=64, num_heads=4, num_classes=2, max_length=128, dropout=0.0).
        vocab_size: int, |V| for the model built here (ids 2 .. |V| - 1 are used).
    Raises:
        AssertionError: if the class is unwritten, raises (with a hint for a wrong
            signature, out-of-range position ids and mismatched shapes), has no
            self-attention, returns another form or shape, or lets padding change the
            pooling weights or the logits.
    """
    __tracebackhide__ = True
    torch.manual_seed(0)
    model = _call(
        model_class,
        f"SelfAttentionClassifier({vocab_size})",
        vocab_size,
        hints=[
            (
                TypeError,
                "the class is SelfAttentionClassifier(vocab_size, embed_size=64, "
                "num_heads=4, num_classes=2, max_length=128, dropout=0.0)",
            )
        ],
    )
    if not isinstance(model, nn.Module):
        _fail(
            "SelfAttentionClassifier(...) should be an nn.Module, got "
            f"{type(model).__name__}"
        )
    if not any(
        isinstance(m, (MultiHeadAttention, nn.MultiheadAttention))
        for m in model.modules()
    ):
        _fail(
            "the model has no self-attention layer: use MultiHeadAttention(embed, "
            "heads)"
        )
    model.eval()
    ids = torch.tensor(
        [[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]]
    )  # (B=2, T=6), 0 = <pad>
    mask = ids != 0

    def forward(what, *args):
        __tracebackhide__ = True
        result = _call(
            model, f"the model's forward on {what}", *args, hints=_FORWARD_HINTS
        )
        if not (isinstance(result, tuple) and len(result) == 2):
            _fail(
                "forward should return (logits (B, num_classes), pooling weights (B, "
                "T))"
            )
        return result

    with torch.no_grad():
        logits, weights = forward("a batch (2, 6) with padding", ids, mask)
        _expect_shape(logits, (2, 2), "logits")
        _expect_shape(weights, (2, 6), "pooling weights")
        logits, weights = _as_cpu(logits), _as_cpu(weights)
        if (weights.sum(-1) - 1).abs().max() > 1e-5:
            _fail("the pooling weights of each sentence should sum to 1")
        if weights[0, 4:].abs().max() > 1e-6:
            _fail(
                "padded positions got pooling weight: pass the mask to AttentionPooling"
            )
        longer_ids = torch.cat(
            [ids, torch.zeros(2, 5, dtype=torch.long)], dim=1
        )  # more <pad>
        longer_logits, _ = forward(
            "the same batch with 5 more <pad>", longer_ids, longer_ids != 0
        )
        if _max_error(longer_logits, logits) > 1e-4:
            _fail(
                "adding padding changed the logits by "
                f"{_max_error(longer_logits, logits):.3g}: the padding mask is ignored "
                "somewhere (pass mask= to the self-attention and to the pooling)"
            )
        one, _ = forward("one sentence alone", ids[1:], mask[1:])
        if _max_error(one, logits[1:]) > 1e-4:
            _fail("a sentence alone and in a batch should get the same logits")
        forward(
            "3 sentences of 40 tokens",
            torch.randint(2, vocab_size, (3, 40)),
            torch.ones(3, 40, dtype=torch.bool),
        )  # any length up to max_length
    passed(
        "embedding -> self-attention -> pooling -> linear, padding ignored, any length"
    )


@_check
def check_sentiment_accuracy(test_accuracy, threshold=0.7):
    """Check the trained classifier's test accuracy: a fraction of at least `threshold`.

    Args:
        test_accuracy: the test accuracy, a number between 0 and 1 (a float or a
            one-element tensor); None before the model was trained.
        threshold: float, the least accuracy that passes.
    Raises:
        AssertionError: if there is no accuracy yet, it is not a number (or NaN), not
            a fraction between 0 and 1 (74.4 instead of 0.744), or below `threshold`
            (train it, 3 epochs, and check the model).
    """
    __tracebackhide__ = True
    if test_accuracy is None:
        _fail("not implemented yet: train the model in the cells above")
    accuracy = _number(test_accuracy, "the test accuracy")
    if not 0 <= accuracy <= 1:
        _fail(f"the test accuracy {accuracy} should be a fraction between 0 and 1")
    if accuracy < threshold:
        _fail(
            f"test accuracy {accuracy:.3f} is below {threshold}: train it (3 epochs) "
            "and check the model"
        )
    passed(f"test accuracy {accuracy:.3f} >= {threshold}")
