"""What every exercise check shares: how a check talks about the learner's code.

A graded nbgrader test cell earns its points when it does not raise, so every check
raises AssertionError on a wrong (or missing) answer and says what is off. A check never
crashes on an answer it did not expect: an answer that is missing (`raise
NotImplementedError()`), that raises, or that has the wrong type, shape or dtype, or
holds NaN, becomes an AssertionError that names the problem, with a hint where a common
mistake explains it. The helpers here do that: `_call` calls the learner's function
and explains its errors, `_check` makes a check total, `_fail` raises the message a
learner sees, `needs_answers` guards a given cell that uses the answers, `passed`
prints the good news.
"""

import functools
import math
import sys
import traceback
from pathlib import Path

import torch

# Frames of the course package count as library code, not as the learner's.
_PACKAGE = str(Path(__file__).resolve().parent.parent)
# A check's own AssertionError is raised in this folder (by `_fail`).
_CHECKS = Path(__file__).resolve().parent


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
    """True for an AssertionError raised by the checks: a check's own message.

    An AssertionError raised anywhere else (torch asserts its own shapes, e.g. a
    key_padding_mask of the wrong size) is an error of the answer, and explained.
    """
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, AssertionError) and (
        not frames or Path(frames[-1].filename).resolve().parent == _CHECKS
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

    Used as `with needs_answers(): ...` around the code of a given (not graded) cell.
    An answer still at nbgrader's stub `raise NotImplementedError()` gives "not
    implemented yet: write `NAME` ..."; a name that an earlier cell should have made (it
    stopped at a missing answer) gives "not available yet". Every other error is the
    learner's own and passes through unchanged, with its traceback.

    Raises:
        AssertionError: on leaving the block, when the block raised nbgrader's stub
            ("not implemented yet", naming the unwritten function) or a NameError in the
            cell's own code ("not available yet": run the cells above in order).
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
    """Fail unless `tensor` is one tensor of this shape without NaN; `what` names it."""
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
    """The largest absolute difference of two tensors (or numbers), as a float."""
    return (
        (_as_cpu(torch.as_tensor(a)) - _as_cpu(torch.as_tensor(b))).abs().max().item()
    )


def _model_device(model):
    """The device of a model's first parameter (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def passed(message):
    """Print the good news of a check that passed: "Correct: " and `message`.

    Every check ends with it and returns None: nbgrader would read a returned number as
    partial credit.

    Args:
        message: str, what the answer was seen to do right.
    """
    print(f"Correct: {message}")
