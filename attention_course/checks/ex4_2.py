"""Checks of exercise 4.2, an interactive attention visualisation tool (chapter 4.6).

The learner reads the attention weights of every layer and head of a small trained
self-attention model on a string of digits, summarises each head (entropy,
concentration) and draws one panel per layer and head.
"""

import math

import torch

from ._common import (
    _as_cpu,
    _call,
    _check,
    _expect_shape,
    _fail,
    _max_error,
    _model_device,
    passed,
)


@_check
def check_collect_attention(collect_attention, model):
    """Check `collect_attention(model, text)`: the tokens and every layer's weights.

    On "31415" the answer must return (tokens, layers): the tokens ['3', '1', '4', '1',
    '5'] and a list with one (h, T, T) tensor per layer, equal (to 1e-6) to the weights
    the model returns in eval mode for the ids of the text. Text with a non-digit
    ("31a15", naming 'a'), empty text and 40 digits must raise ValueError.

    Args:
        collect_attention: the learner's function (model, text) -> (tokens, layers).
        model: the exercise's digit model: called on (1, T) ids it returns its
            per-layer (1, h, T, T) weights last; it is put in eval mode.
    Raises:
        AssertionError: if the answer is unwritten, raises on good text, returns
            something else than (tokens, one weight tensor per layer), weights that
            differ from the model's, or does not raise ValueError (naming the bad
            character) on bad text.
    """
    __tracebackhide__ = True
    model.eval()
    result = _call(
        collect_attention, "collect_attention(model, '31415')", model, "31415"
    )
    if not (isinstance(result, tuple) and len(result) == 2):
        _fail("collect_attention should return (tokens, list of per-layer weights)")
    tokens, layers = result
    if not isinstance(tokens, (list, tuple, str)) or list(tokens) != list("31415"):
        _fail(
            "tokens for '31415' should be ['3', '1', '4', '1', '5'], got "
            f"{tokens!r:.80}"
        )
    ids = torch.tensor([[3, 1, 4, 1, 5]], device=_model_device(model))
    with torch.no_grad():
        *_, reference = model(ids)
    if not isinstance(layers, (list, tuple)) or len(layers) != len(reference):
        _fail(
            f"expected a list with one weight tensor per layer ({len(reference)}), got "
            f"{type(layers).__name__}"
        )
    for index, (got, expected) in enumerate(zip(layers, reference, strict=True)):
        _expect_shape(got, expected.shape[1:], f"weights of layer {index + 1}")
        if _max_error(got, expected[0]) > 1e-6:
            _fail(
                f"the weights of layer {index + 1} differ from the model's: run it in "
                "eval mode on the ids of the text and take the weights it returns"
            )
    for bad in ["31a15", "", "1" * 40]:
        try:
            collect_attention(model, bad)
        except ValueError as error:
            if bad == "31a15" and "a" not in str(error):
                _fail(
                    f"the error for '31a15' should name the bad character 'a': {error}"
                )
            continue
        except Exception as error:
            _fail(
                f"collect_attention(model, {bad!r}) should raise ValueError, not "
                f"{type(error).__name__}: {error}"
            )
        _fail(f"collect_attention(model, {bad!r}) should raise a ValueError saying why")
    passed(
        "collect_attention returns the tokens and every layer's (h, T, T) weights, "
        "and rejects bad input"
    )


@_check
def check_head_statistics(head_statistics):
    """Check `head_statistics(weights)`: each head's mean entropy and concentration.

    For (h, T, T) weights the answer returns {"entropy": (h,), "concentration": (h,)}:
    per head, the mean over the query rows of the row's entropy in nats (0 log 0 = 0)
    and of its largest weight. Tried on uniform rows, one-hot rows and a sharp and a
    uniform head side by side.

    Args:
        head_statistics: the learner's function (weights) -> dict of two tensors.
    Raises:
        AssertionError: if the answer is unwritten, raises, returns another dict or
            shape, gives NaN for zero weights, wrong values, or averages over the
            heads as well as over the rows.
    """
    __tracebackhide__ = True

    def statistics(weights, what):
        __tracebackhide__ = True
        stats = _call(head_statistics, f"head_statistics({what})", weights)
        if not isinstance(stats, dict) or set(stats) != {"entropy", "concentration"}:
            _fail(
                "head_statistics should return {'entropy': ..., 'concentration': ...}"
            )
        if (
            isinstance(stats["entropy"], torch.Tensor)
            and torch.isnan(stats["entropy"]).any()
        ):
            _fail(f"{what} gave an entropy of NaN: 0 log 0 must count as 0")
        _expect_shape(stats["entropy"], (2,), "entropy (one value per head)")
        _expect_shape(
            stats["concentration"], (2,), "concentration (one value per head)"
        )
        return _as_cpu(stats["entropy"]), _as_cpu(stats["concentration"])

    entropy, concentration = statistics(torch.full((2, 4, 4), 0.25), "uniform weights")
    if (entropy - math.log(4)).abs().max() > 1e-4:
        _fail(
            "uniform weights over 4 keys should have entropy log 4 = "
            f"{math.log(4):.4f}, got {entropy.tolist()}"
        )
    if (concentration - 0.25).abs().max() > 1e-4:
        _fail(
            "the concentration of uniform weights over 4 keys is their largest "
            "weight, 0.25"
        )
    entropy, concentration = statistics(torch.eye(4).repeat(2, 1, 1), "one-hot rows")
    if entropy.abs().max() > 1e-4:
        _fail("one-hot rows should have entropy 0 (and never NaN: 0 log 0 = 0)")
    if (concentration - 1).abs().max() > 1e-6:
        _fail("one-hot rows should have concentration 1")
    mixed = torch.stack(
        [torch.eye(4), torch.full((4, 4), 0.25)]
    )  # head 1 sharp, 2 uniform
    entropy, _ = statistics(mixed, "a sharp head and a uniform head")
    if not (entropy[0] < 1e-4 and abs(entropy[1] - math.log(4)) < 1e-4):
        _fail("statistics must be per head: average over the query rows (dim -2) only")
    passed("head_statistics gives each head's mean entropy and mean largest weight")


@_check
def check_show_attention(show_attention, model):
    """Check `show_attention(model, text)`: one panel per layer and head, titled.

    The answer must return the matplotlib Figure it drew for "2718281", with one
    titled panel per (layer, head) of the model, each title starting "Layer l, Head h"
    (l and h from 1). The figure is closed afterwards.

    Args:
        show_attention: the learner's function (model, text) -> Figure.
        model: the exercise's digit model (`model.layers[i].attention.num_heads`).
    Raises:
        AssertionError: if the answer is unwritten, raises, returns no Figure, or the
            figure has another number of titled panels or lacks a "Layer l, Head h"
            title.
    """
    __tracebackhide__ = True
    import matplotlib.pyplot as plt

    figure = _call(show_attention, "show_attention(model, '2718281')", model, "2718281")
    if not hasattr(figure, "axes") or not hasattr(figure, "savefig"):
        _fail(
            "show_attention should return the matplotlib Figure it drew, got "
            f"{type(figure).__name__}"
        )
    layers, heads = len(model.layers), model.layers[0].attention.num_heads
    panels = [ax for ax in figure.axes if ax.get_title()]
    titles = [ax.get_title() for ax in panels]
    plt.close(figure)
    if len(panels) != layers * heads:
        _fail(
            f"expected {layers * heads} titled panels (layers x heads), got "
            f"{len(panels)}"
        )
    for layer in range(1, layers + 1):
        for head in range(1, heads + 1):
            if not any(t.startswith(f"Layer {layer}, Head {head}") for t in titles):
                _fail(f"no panel titled 'Layer {layer}, Head {head}'; titles: {titles}")
    passed("one panel per layer and head, titled 'Layer l, Head h'")
