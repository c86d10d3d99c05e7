"""The helpers that teach nothing: device, seed, plot style, progress bars, measuring."""

import math
import random

import matplotlib
import numpy as np
import pytest
import torch

import attention_course
from attention_course import get_device, set_seed, use_course_style
from attention_course.perf.measure import best_seconds, peak_memory_mib
from attention_course.utils import DEVICE_ENV, PROGRESS_ENV, describe_device, progress_bar


@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_helpers_importable_from_the_package():
    assert attention_course.get_device is get_device
    assert attention_course.set_seed is set_seed
    assert attention_course.use_course_style is use_course_style


def test_cpu_when_nothing_else(no_accelerators):
    assert get_device() == torch.device("cpu")


def test_cuda_preferred_over_mps(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_mps_when_no_cuda(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("mps")


@pytest.mark.parametrize("value", ["cpu", "CPU", " cpu "])
def test_env_forces_cpu_even_with_a_gpu(no_accelerators, monkeypatch, value):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(DEVICE_ENV, value)
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["cuda", "mps"])
def test_env_forces_an_available_accelerator(no_accelerators, monkeypatch, value):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setenv(DEVICE_ENV, value)
    assert get_device() == torch.device(value)


@pytest.mark.parametrize("value", ["cuda", "mps"])
def test_env_forcing_a_missing_device_says_so(no_accelerators, monkeypatch, value):
    monkeypatch.setenv(DEVICE_ENV, value)
    with pytest.raises(RuntimeError, match=f"{value.upper()}.*not available"):
        get_device()


@pytest.mark.parametrize("value", ["gpu", "cuda:0", "tpu"])
def test_env_unknown_value_names_the_allowed_ones(no_accelerators, monkeypatch, value):
    monkeypatch.setenv(DEVICE_ENV, value)
    with pytest.raises(ValueError, match="cuda, mps, cpu") as error:
        get_device()
    assert repr(value) in str(error.value)


def test_empty_env_value_means_automatic(no_accelerators, monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "")
    assert get_device() == torch.device("cpu")


def test_describe_device_names_the_cpu():
    assert describe_device(torch.device("cpu")).startswith("cpu (")


def test_set_seed_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    set_seed(123)
    first = draw()
    set_seed(123)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    set_seed(124)
    assert draw()[0] != first[0]


def test_set_seed_rejects_a_non_integer():
    with pytest.raises(TypeError, match="int seed"):
        set_seed("0")


def test_course_style_sets_the_colour_blind_safe_colormap():
    use_course_style()
    assert matplotlib.rcParams["image.cmap"] == "cividis"


# ----------------------------------------------------------------- progress_bar


def test_progress_bar_is_silent_when_outputs_are_stored(monkeypatch, capsys):
    monkeypatch.setenv(PROGRESS_ENV, "0")
    bar = progress_bar(range(5), desc="epoch 1/1", disable=False)
    assert bar.disable  # ATTENTION_COURSE_PROGRESS=0 wins over disable=False
    assert list(bar) == [0, 1, 2, 3, 4]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_draws_otherwise(monkeypatch, capsys):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    bar = progress_bar(range(3), desc="epoch 1/1")
    assert not bar.disable and bar.desc.startswith("epoch 1/1")
    assert list(bar) == [0, 1, 2]
    assert "epoch 1/1" in capsys.readouterr().err  # a text bar outside a notebook


def test_progress_bar_respects_an_explicit_disable(monkeypatch, capsys):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert list(progress_bar([1, 2], disable=True)) == [1, 2]
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------- measure


def test_best_seconds_warms_up_then_keeps_the_best():
    calls = []
    seconds = best_seconds(lambda: calls.append(1), repeat=4)
    assert len(calls) == 5  # one warm-up call, then 4 timed ones
    assert 0 <= seconds < 1


def test_peak_memory_counts_what_a_call_holds_at_once():
    def two_matrices():
        a = torch.ones(1024, 256)  # 1 MiB of float32
        b = torch.ones(1024, 256)  # another MiB, while a is alive
        return a + b  # and a third for the result

    one = peak_memory_mib(lambda: torch.ones(1024, 256))
    assert one == pytest.approx(1.0, abs=0.01)
    assert peak_memory_mib(two_matrices) == pytest.approx(3.0, abs=0.01)


def test_peak_memory_is_nan_where_pytorch_keeps_no_peak():
    calls = []
    assert math.isnan(peak_memory_mib(lambda: calls.append(1), device="mps"))
    assert calls == [1]  # the call still ran
