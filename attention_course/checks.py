"""Self-checks for the exercises: each raises AssertionError with a plain-words message.

A graded nbgrader test cell earns its points when it does not raise, so every check
here raises on a wrong (or missing) answer and says what is off. A check never crashes
on an answer it did not expect: an answer that is missing (`raise
NotImplementedError()`), that raises, or that has the wrong type, shape or dtype, or
holds NaN, becomes an AssertionError that names the problem, with a hint where a common
mistake explains it. Tests in tests/ run each check against plausible wrong
implementations and assert that it rejects them.
"""

import functools
import math
import sys
import traceback
from pathlib import Path

import torch
from torch import nn

_PACKAGE = str(Path(__file__).resolve().parent)


# ---- How a check talks about the learner's code --------------------------------------


def _is_library(filename):
    """True for frames of this package, of Python or of installed libraries."""
    return (
        filename.startswith(_PACKAGE)
        or "site-packages" in filename
        or filename.startswith(sys.prefix)
        or filename.startswith(sys.base_prefix)
    )


def _unwritten(error):
    """The name of the unwritten answer when `error` is nbgrader's stub, else None.

    nbgrader replaces an answer by `raise NotImplementedError()`: no message, raised
    from the learner's cell. PyTorch's own NotImplementedError (an operator missing on a
    device) has a message and comes from a library: it is reported as the error it is.
    """
    if not isinstance(error, NotImplementedError) or error.args:
        return None
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return None if _is_library(code.co_filename) else code.co_qualname


def _fail(message):
    """Raise the AssertionError a learner sees (a short function: a short traceback)."""
    raise AssertionError(message) from None


def _not_implemented(name):
    _fail(
        f"not implemented yet: write `{name}` in its cell above (replace the `raise "
        "NotImplementedError()` line), run that cell, then run this cell again"
    )


def _where(error):
    """' (in `f`, line N of its cell: `code`)' for the learner's frame that raised."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not _is_library(f.filename)
    ]
    if not frames:
        return ""
    frame = frames[-1]
    line = frame.line if len(frame.line) <= 60 else frame.line[:57] + "..."
    return f" (in `{frame.name}`, line {frame.lineno} of its cell: `{line}`)"


def _raised_here(error):
    """True for an AssertionError raised by this module: a check's own message.

    An AssertionError raised anywhere else (torch asserts its own shapes, e.g. a
    key_padding_mask of the wrong size) is an error of the answer, and explained.
    """
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, AssertionError) and (
        not frames or Path(frames[-1].filename).resolve() == Path(__file__).resolve()
    )


def _call(function, name, *args, hints=(), **kwargs):
    """Call the learner's function; an error inside it becomes a clear AssertionError.

    A missing answer says "not implemented yet"; any other error names the call, the
    error, the learner's line that raised it and, when `hints` has one for it, what
    probably caused it. `hints` holds pairs (exception type or message text, hint).
    """
    __tracebackhide__ = True
    try:
        return function(*args, **kwargs)
    except Exception as error:  # every error of the learner's code is explained
        if _raised_here(error):
            raise  # a check's own message, from a check the answer called
        missing = _unwritten(error)
        if missing is not None:
            _not_implemented(missing)
        message = f"{type(error).__name__}: {error}".strip()
        hint = next(
            (
                text
                for key, text in hints
                if (isinstance(key, str) and key in str(error))
                or (isinstance(key, type) and isinstance(error, key))
            ),
            "",
        )
        _fail(
            f"{name} raised {message}{_where(error)}"
            + (f". {hint[0].upper()}{hint[1:]}" if hint else "")
        )


class needs_answers:  # noqa: N801 (used like a function: `with needs_answers():`)
    """Run a given cell that uses the learner's answers; a missing one says so plainly.

    An answer still at `raise NotImplementedError()` gives "not implemented yet: write
    ..."; a name that an earlier cell should have made (it stopped at a missing answer)
    gives "not available yet". Every other error is the learner's own, shown as it is.
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        __tracebackhide__ = True
        if isinstance(error, NotImplementedError):
            missing = _unwritten(error)
            if missing is not None:
                _not_implemented(missing)
        if isinstance(error, NameError) and len(traceback.extract_tb(tb)) == 1:
            # raised by the cell itself, not inside a function: an earlier cell stopped
            _fail(
                f"not available yet: {error}. An earlier cell makes it and stopped (an "
                "answer is not written yet, or the cell was not run): run the cells "
                "above in order"
            )
        return False


def _check(function):
    """Make a check total: whatever it meets, it raises AssertionError, nothing else."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return function(*args, **kwargs)
        except Exception as error:  # an answer of an unexpected form
            if _raised_here(error):
                raise  # the check's own message
            missing = _unwritten(error)
            if missing is not None:
                _not_implemented(missing)
            _fail(
                f"{function.__name__} could not use this answer: "
                f"{type(error).__name__}: {error}{_where(error)}. Compare your "
                "answer's type and shape with what the task asks for"
            )

    return checked


def _expect_shape(tensor, shape, what):
    __tracebackhide__ = True
    if (
        isinstance(tensor, (tuple, list))
        and tensor
        and isinstance(tensor[0], torch.Tensor)
    ):
        _fail(
            f"{what} should be one torch.Tensor, got a {type(tensor).__name__} of "
            f"{len(tensor)} tensors: combine them (torch.stack or torch.cat)"
        )
    if not isinstance(tensor, torch.Tensor):
        _fail(
            f"{what} should be a torch.Tensor, got {type(tensor).__name__}: "
            f"{tensor!r:.80}"
        )
    if tuple(tensor.shape) != tuple(shape):
        _fail(f"{what} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")
    if tensor.is_floating_point() and torch.isnan(tensor).any():
        _fail(f"{what} contains NaN")


def _as_cpu(tensor):
    """A float64 CPU copy, so that comparisons work whatever the dtype or device."""
    return tensor.detach().to("cpu", torch.float64)


def _number(value, what):
    """A float from a Python number or a one-element tensor/array, else explained."""
    __tracebackhide__ = True
    if isinstance(value, (bool, str)) or value is None:
        _fail(f"{what} should be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        _fail(f"{what} should be one number, got {type(value).__name__}: {value!r:.80}")
    if math.isnan(number):
        _fail(f"{what} is NaN")
    return number


def _max_error(a, b):
    return (
        (_as_cpu(torch.as_tensor(a)) - _as_cpu(torch.as_tensor(b))).abs().max().item()
    )


def _model_device(model):
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def passed(message):
    """Print the good news. Checks return None: nbgrader reads a number as points."""
    print(f"Correct: {message}")


# ---- Exercise 4.6: multi-head attention ----------------------------------------------


@_check
def check_split_heads(split_heads):
    """(B, T, E) -> (B, h, T, E/h), where head i holds features i*d .. (i+1)*d - 1."""
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
    """merge_heads undoes the split into heads: (B, h, T, d) -> (B, T, h*d)."""
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
    """Output and per-head weights equal nn.MultiheadAttention's, masked or not."""
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
    """Trained two-head model: one head should attend to t-1, the other to t+1."""
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


# ---- Exercise 4.4: attention and sequence length -------------------------------------


@_check
def check_attention_entropy(attention_entropy):
    """Entropy in nats of every row: (..., T_src) -> (...), 0 log 0 counted as 0."""
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


BUCKETS = {"short": (5, 10), "medium": (20, 30), "long": (50, 100)}
_REPORT_KEYS = ("accuracy", "entropy", "normalised_entropy")


@_check
def check_length_report(length_report, model):
    """length_report(model, buckets, n) -> {bucket: {accuracy, entropy, normalised}}."""
    __tracebackhide__ = True
    from .tasks.reversal import make_reversal_batch
    from .interpret import attention_entropy

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
            row = attention_entropy(weights.cpu()).mean().item()
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
    """The trained model: accurate on short inputs, attention sharp at every length."""
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


# ---- Exercise 4.1: Bahdanau vs Luong on dates ----------------------------------------


def _ngram_counts(text, n):
    from collections import Counter

    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def _reference_chrf(hypothesis, reference, max_n=6, beta=2.0):
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        hyp, ref = _ngram_counts(hypothesis, n), _ngram_counts(reference, n)
        if not hyp or not ref:
            continue
        matches = sum((hyp & ref).values())
        precisions.append(matches / sum(hyp.values()))
        recalls.append(matches / sum(ref.values()))
    if not precisions:
        return 0.0
    precision, recall = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if precision + recall == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


CHRF_CASES = [
    ("1994-09-27", "1994-09-27"),
    ("1994-09-27", "1994-09-28"),
    ("1994-09-27", "2094-09-27"),
    ("1994-09", "1994-09-27"),
    ("1994-09-27-27", "1994-09-27"),
    ("abc", "xyz"),
    ("", "1994-09-27"),
    ("2001-01-01", "2001-10-10"),
]

_CHRF_HINTS = [
    (
        ZeroDivisionError,
        "Skip the orders n where either string has no n-gram (the empty output '' has "
        "none), return 0.0 when no order is left, and return 0.0 when P + R = 0 "
        "(strings that share no character)",
    )
]


@_check
def check_chrf(chrf):
    """chrF (Popovic, 2015): character n-gram F-beta, n = 1..6, beta = 2."""
    __tracebackhide__ = True
    for hypothesis, reference in CHRF_CASES:
        got = _call(
            chrf,
            f"chrf({hypothesis!r}, {reference!r})",
            hypothesis,
            reference,
            hints=_CHRF_HINTS,
        )
        got = _number(got, f"chrf({hypothesis!r}, {reference!r})")
        expected = _reference_chrf(hypothesis, reference)
        if abs(got - expected) > 1e-6:
            hint = ""
            if abs(got - _reference_chrf(reference, hypothesis)) < 1e-6:
                hint = (
                    " It equals chrf(reference, hypothesis): are precision and recall "
                    "swapped?"
                )
            elif abs(got - _reference_chrf(hypothesis, reference, beta=1.0)) < 1e-6:
                hint = (
                    " That is the F1 score: chrF here uses beta = 2, which weighs "
                    "recall more than precision."
                )
            elif abs(got - 100 * expected) < 1e-4:
                hint = (
                    " That is 100 times the score: return a fraction between 0 and 1."
                )
            _fail(
                f"chrf({hypothesis!r}, {reference!r}) = {got:.4f}, expected "
                f"{expected:.4f} (off by {abs(got - expected):.4f}).{hint}"
            )
    passed(
        "chrf agrees with the reference on identical, near and disjoint strings, and "
        "on empty output"
    )


RESULT_KEYS = (
    "exact_match",
    "chrf",
    "train_seconds",
    "peak_mib",
    "entropy",
    "parameters",
)


@_check
def check_experiment(result, model, test_pairs, source_vocab, target_vocab):
    """The dict run_experiment returns: every number present, in range, consistent."""
    __tracebackhide__ = True
    from .tasks.dates import translate_batch

    if result is None:
        _fail(
            "not implemented yet: write `run_experiment` and run it in the cell above"
        )
    if not isinstance(result, dict):
        _fail(
            f"the result should be a dict, got {type(result).__name__}: run_experiment "
            "returns (model, result), in that order"
        )
    missing = [key for key in RESULT_KEYS if key not in result]
    if missing:
        _fail(
            f"the result lacks {missing}; run_experiment must return "
            f"{list(RESULT_KEYS)}"
        )
    if not isinstance(model, nn.Module):
        _fail(f"the model should be an nn.Module, got {type(model).__name__}")
    # PyTorch keeps no peak memory on an Apple GPU: peak_memory_mib returns NaN there
    no_peak = _model_device(model).type == "mps"
    numbers = {
        key: _number(result[key], f"result[{key!r}]")
        for key in RESULT_KEYS
        if not (no_peak and key == "peak_mib")
    }
    numbers.setdefault("peak_mib", 1.0)
    sample = test_pairs[:100]
    outputs = translate_batch(model, [s for s, _ in sample], source_vocab, target_vocab)
    pairs = list(zip(outputs, sample, strict=True))
    exact = sum(o == t for o, (_, t) in pairs) / len(sample)
    chrf = sum(_reference_chrf(o, t) for o, (_, t) in pairs) / len(sample)
    full_exact = numbers["exact_match"]
    if not 0 <= full_exact <= 1 or abs(full_exact - exact) > 0.1:
        _fail(
            f"exact_match {full_exact:.3f} does not match the model's outputs (the "
            f"first 100 test dates give {exact:.3f}); it is a fraction between 0 and 1"
        )
    if abs(numbers["chrf"] - chrf) > 0.1:
        _fail(
            f"chrf {numbers['chrf']:.3f} does not match the model's outputs (the first "
            f"100 test dates give {chrf:.3f}); average chrf over the test pairs"
        )
    if numbers["parameters"] != sum(p.numel() for p in model.parameters()):
        _fail("parameters should count every number the model trains")
    if not (numbers["train_seconds"] > 0 and numbers["peak_mib"] > 0):
        _fail("train_seconds and peak_mib should be positive measurements")
    longest = max(len(s) for s, _ in test_pairs)
    if not 0 <= numbers["entropy"] <= math.log(longest):
        _fail(
            f"the mean entropy {numbers['entropy']:.3f} should lie between 0 and "
            f"log(longest source) = {math.log(longest):.3f} nats"
        )
    passed(
        "the result is complete and consistent with the model (exact match "
        f"{full_exact:.3f})"
    )


@_check
def check_comparison(results, kinds=("bahdanau", "luong-general")):
    """Both attention models learn the task; attention rows far sharper than uniform."""
    __tracebackhide__ = True
    if not results or not isinstance(results, dict):
        _fail("not implemented yet: run the comparison cell above")
    absent = [kind for kind in kinds if kind not in results]
    if absent:
        _fail(f"no result for {absent} yet: run the cells above that train them")
    for kind in kinds:
        result = results[kind]
        if not isinstance(result, dict):
            _fail(f"results[{kind!r}] should be run_experiment's dict")
        exact = _number(result.get("exact_match"), f"{kind}'s exact_match")
        entropy = _number(result.get("entropy"), f"{kind}'s entropy")
        if exact < 0.9:
            _fail(f"{kind} reached only {exact:.3f} exact match: train longer")
        if entropy > 1.5:  # uniform over a 10-17 character date: log T = 2.3-2.8 nats
            _fail(
                f"{kind}'s attention has mean entropy {entropy:.2f} nats, close to "
                "uniform (log T = 2.3-2.8): was the entropy computed on the model's "
                "weights?"
            )
    passed("both attention models learned the task, with sharp attention")


# ---- Exercise 4.3: sentiment classification with self-attention ----------------------

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
    """Embedding -> self-attention -> pooling -> linear, masked, for any length."""
    __tracebackhide__ = True
    from .self_attention import MultiHeadAttention

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


# ---- Exercise 4.5: attention dropout -------------------------------------------------


@_check
def check_attention_dropout(dropout_class):
    """Inverted dropout on the attention weights, in training mode only, masks kept."""
    __tracebackhide__ = True
    from .attention import BahdanauAttention

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


# ---- Exercise 4.2: an attention visualisation tool -----------------------------------


@_check
def check_collect_attention(collect_attention, model):
    """(model, text) -> (tokens, [(h, T, T) per layer]); ValueError for bad text."""
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
    """(h, T, T) weights -> {"entropy": (h,), "concentration": (h,)}, row means."""
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
    """A figure with one panel per (layer, head), titled "Layer l, Head h"."""
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
