"""The helpers that teach nothing: device, seed, plot style, progress bars, measuring."""

import math
import random
import time

import matplotlib
import numpy as np
import pytest
import torch

import attention_course
from attention_course import get_device, set_seed, use_course_style
from attention_course.perf.measure import (
    interleaved_medians,
    interleaved_rounds,
    median_seconds,
    peak_memory_mib,
)
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


def test_median_seconds_measures_a_known_duration():
    seconds = median_seconds(lambda: time.sleep(0.01), min_run_time=0.05)
    assert 0.01 <= seconds < 0.03  # a sleep never ends early; waking up late costs < 20 ms


def test_median_seconds_divides_a_block_by_its_calls():
    calls = []
    seconds = median_seconds(lambda: calls.append(1), min_run_time=0.01)
    assert len(calls) > 100  # fast calls are timed in blocks of many
    assert 0 < seconds < 1e-4


def test_interleaved_medians_keeps_the_ratio_of_two_candidates():
    seconds = interleaved_medians({"short": lambda: time.sleep(0.005),
                                   "long": lambda: time.sleep(0.015)},
                                  rounds=3, min_run_time=0.03)
    assert seconds.keys() == {"short", "long"}
    assert 0.005 <= seconds["short"] < 0.015
    assert 2 < seconds["long"] / seconds["short"] < 3.5  # 3, less what waking up late costs


def test_rounds_interleave_the_candidates():
    order = []
    rounds = list(interleaved_rounds({"a": lambda: order.append("a"),
                                      "b": lambda: order.append("b")},
                                     rounds=3, min_run_time=0.001))
    assert len(rounds) == 3 and all(r.keys() == {"a", "b"} for r in rounds)
    turns = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert turns == ["a", "b"] * 3  # each round: all of a's calls, then all of b's


def test_each_candidate_runs_on_its_thread_count_and_the_count_comes_back():
    before = torch.get_num_threads()
    seen = {"one": set(), "two": set()}
    next(interleaved_rounds({name: (lambda name=name: seen[name].add(torch.get_num_threads()))
                             for name in seen}, min_run_time=0.001,
                            num_threads={"one": 1, "two": 2}))
    assert seen == {"one": {1}, "two": {2}}
    assert torch.get_num_threads() == before
    seen = {"one": set()}
    median_seconds(lambda: seen["one"].add(torch.get_num_threads()), min_run_time=0.001)
    assert seen["one"] == {before}  # default: the current count (Timer's own default is 1)


@pytest.mark.parametrize("candidates, options, message", [
    ({}, {}, "at least one candidate"),
    ({"a": int}, {"rounds": 0}, "rounds >= 1"),
    ({"a": int}, {"min_run_time": 0}, "min_run_time"),
    ({"a": int}, {"num_threads": 0}, "num_threads"),
    ({"a": int, "b": int}, {"num_threads": {"a": 1}}, r"no thread count for \['b'\]"),
])
def test_interleaved_timing_rejects_what_it_cannot_time(candidates, options, message):
    with pytest.raises(ValueError, match=message):
        interleaved_medians(candidates, **options)
    with pytest.raises(ValueError, match=message):  # before any round runs
        interleaved_rounds(candidates, **options)


def test_median_seconds_rejects_a_bad_setting():
    with pytest.raises(ValueError, match="min_run_time"):
        median_seconds(int, min_run_time=-1)
    with pytest.raises(ValueError, match="num_threads"):
        median_seconds(int, num_threads=0)


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
