"""get_device, set_seed and use_course_style: the helpers every notebook's setup cell calls."""

import random

import matplotlib
import numpy as np
import pytest
import torch

import attention_course
from attention_course import get_device, set_seed, use_course_style
from attention_course.utils import DEVICE_ENV, describe_device


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
