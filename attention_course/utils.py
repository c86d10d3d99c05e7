"""Helpers that teach nothing: device choice, seeding, the course's plot style."""

import os
import random

import numpy as np
import torch

DEVICE_ENV = "ATTENTION_COURSE_DEVICE"
ALLOWED_DEVICES = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device() -> torch.device:
    """Return the device the course runs on: CUDA, else Apple MPS, else CPU.

    Set the environment variable ``ATTENTION_COURSE_DEVICE`` to ``cuda``, ``mps`` or
    ``cpu`` to force one.

    Returns:
        The torch.device every chapter puts its models and tensors on.
    Raises:
        ValueError: if ``ATTENTION_COURSE_DEVICE`` names a device the course does not
            know.
        RuntimeError: if it names a device this machine does not have.
    """
    forced = os.environ.get(DEVICE_ENV, "").strip().lower()
    if forced:
        if forced not in ALLOWED_DEVICES:
            raise ValueError(
                f"{DEVICE_ENV}={os.environ[DEVICE_ENV]!r} is not a device this course "
                f"knows; use one of {', '.join(ALLOWED_DEVICES)} (or unset it to "
                "choose automatically)."
            )
        available = {
            "cuda": torch.cuda.is_available(),
            "mps": _mps_available(),
            "cpu": True,
        }
        if not available[forced]:
            raise RuntimeError(
                f"{DEVICE_ENV}={forced} asks for the {forced.upper()} device, but "
                "PyTorch reports it is not available on this machine; unset "
                f"{DEVICE_ENV} or set it to cpu."
            )
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """A one-line description of a device, for the setup cell's printout."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def set_seed(seed: int = 0) -> None:
    """Seed Python's random, NumPy and torch (and every CUDA device when present).

    Raises:
        TypeError: if `seed` is not an int.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(
            f"set_seed expects an int seed, got {type(seed).__name__}: {seed!r}"
        )
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


PROGRESS_ENV = "ATTENTION_COURSE_PROGRESS"


def progress_bar(iterable, **kwargs):
    """Wrap ``iterable`` in a progress bar: live in JupyterLab, absent when stored.

    In a running notebook (JupyterLab, Colab) the bar is tqdm's widget; in a terminal it
    is tqdm's text bar. When the environment variable ``ATTENTION_COURSE_PROGRESS`` is
    ``0`` (set by ``make execute``, ``make test`` and ``make gpu-check``, which store or
    compare outputs) no bar is drawn, so saved notebooks carry no progress output.
    Keyword arguments go to tqdm (``desc``, ``leave``, ``disable`` ...).
    """
    from tqdm.auto import tqdm

    if os.environ.get(PROGRESS_ENV, "").strip() == "0":
        kwargs["disable"] = True
    kwargs.setdefault("mininterval", 1.0)
    return tqdm(iterable, **kwargs)
