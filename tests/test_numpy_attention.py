"""attention_course.numpy_attention (chapter 4.3): AttentionWeight, WeightSum and Attention in NumPy,
with hand-written backward passes checked by finite differences and against torch.autograd."""

import ast
import inspect

import numpy as np
import pytest
import torch

from attention_course import numpy_attention
from attention_course.numpy_attention import (
    Attention,
    AttentionWeight,
    WeightSum,
    max_relative_error,
    numerical_gradient,
    softmax,
)

N, T, H = 3, 4, 5


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def data(rng):
    return rng.standard_normal((N, T, H)), rng.standard_normal((N, H))


def test_the_module_uses_numpy_only():
    tree = ast.parse(inspect.getsource(numpy_attention))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"numpy"}


def test_numerical_gradient_of_a_known_function_and_x_restored(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)  # d/dx sum x^3 = 3 x^2
    assert grad.shape == x.shape and np.allclose(grad, 3 * before**2, atol=1e-8)
    assert np.array_equal(x, before)  # every element changed and put back
    assert max_relative_error(grad, 3 * before**2) < 1e-6  # truncation error ~ eps^2


def test_max_relative_error_is_scale_free_and_bounded():
    a = np.array([1.0, -2.0, 1e-8])
    assert max_relative_error(a, a) == 0.0
    assert max_relative_error(a * 1e6, a * 1e6 * (1 + 1e-6)) == pytest.approx(0.5e-6, rel=1e-3)
    assert max_relative_error(np.array([1.0, 0.0]), np.array([1.0, 3.0])) == 1.0  # 0 against 3
    assert max_relative_error(np.zeros(2), np.zeros(2)) == 0.0  # no division by zero


def test_softmax_is_stable_for_huge_inputs():
    x = np.array([[1000.0, 1000.0, -1000.0], [-5e4, 0.0, 5e4]])
    y = softmax(x, axis=1)
    assert np.isfinite(y).all() and np.allclose(y.sum(axis=1), 1)
    assert np.allclose(y[0], [0.5, 0.5, 0.0])


def test_shapes(data):
    hs, h = data
    weight, weight_sum, attention = AttentionWeight(), WeightSum(), Attention()
    a = weight.forward(hs, h)
    assert a.shape == (N, T)
    dhs, dh = weight.backward(np.ones((N, T)))
    assert dhs.shape == (N, T, H) and dh.shape == (N, H)
    c = weight_sum.forward(hs, a)
    assert c.shape == (N, H)
    dhs, da = weight_sum.backward(np.ones((N, H)))
    assert dhs.shape == (N, T, H) and da.shape == (N, T)
    c = attention.forward(hs, h)
    assert c.shape == (N, H)
    dhs, dh = attention.backward(np.ones((N, H)))
    assert dhs.shape == (N, T, H) and dh.shape == (N, H)


def test_forward_values(data):
    hs, h = data
    scores = np.array([[hs[n, t] @ h[n] for t in range(T)] for n in range(N)])
    a = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert np.allclose(AttentionWeight().forward(hs, h), a)
    assert np.allclose(WeightSum().forward(hs, a), np.array([sum(a[n, t] * hs[n, t] for t in range(T))
                                                             for n in range(N)]))


def test_attention_weight_attribute_holds_the_last_weights(data, rng):
    hs, h = data
    layer = Attention()
    assert layer.attention_weight is None
    layer.forward(hs, h)
    first = layer.attention_weight.copy()
    assert first.shape == (N, T) and np.allclose(first.sum(axis=1), 1) and (first > 0).all()
    assert np.allclose(first, AttentionWeight().forward(hs, h))
    h2 = rng.standard_normal((N, H))
    layer.forward(hs, h2)
    assert np.allclose(layer.attention_weight, AttentionWeight().forward(hs, h2))
    assert not np.allclose(layer.attention_weight, first)


CASES = {  # layer, inputs from (hs, h, a), shape of the gradient arriving from above
    "AttentionWeight": (AttentionWeight, ("hs", "h"), (N, T)),
    "WeightSum": (WeightSum, ("hs", "a"), (N, H)),
    "Attention": (Attention, ("hs", "h"), (N, H)),
}


@pytest.mark.parametrize("name", CASES)
def test_gradient_check_against_central_finite_differences(name, data, rng):
    Layer, names, upstream_shape = CASES[name]
    hs, h = data
    values = {"hs": hs, "h": h, "a": rng.standard_normal((N, T))}
    inputs = [values[n] for n in names]
    upstream = rng.standard_normal(upstream_shape)
    layer = Layer()
    layer.forward(*inputs)
    analytic = layer.backward(upstream)
    for gradient, x in zip(analytic, inputs, strict=True):
        numeric = numerical_gradient(lambda: (Layer().forward(*inputs) * upstream).sum(), x)
        assert max_relative_error(gradient, numeric) < 1e-5


@pytest.mark.parametrize("name", CASES)
def test_against_torch_autograd(name, data, rng):
    Layer, names, upstream_shape = CASES[name]
    hs, h = data
    values = {"hs": hs, "h": h, "a": rng.standard_normal((N, T))}
    upstream = rng.standard_normal(upstream_shape)
    tensors = {n: torch.tensor(values[n], requires_grad=True) for n in names}

    def weights(hs_t, h_t):
        return torch.softmax(torch.einsum("nth,nh->nt", hs_t, h_t), dim=1)

    if name == "AttentionWeight":
        output = weights(tensors["hs"], tensors["h"])
    elif name == "WeightSum":
        output = torch.einsum("nt,nth->nh", tensors["a"], tensors["hs"])
    else:
        output = torch.einsum("nt,nth->nh", weights(tensors["hs"], tensors["h"]), tensors["hs"])
    (output * torch.tensor(upstream)).sum().backward()

    layer = Layer()
    result = layer.forward(*[values[n] for n in names])
    assert max_relative_error(result, output.detach().numpy()) < 1e-12
    for gradient, n in zip(layer.backward(upstream), names, strict=True):
        assert max_relative_error(gradient, tensors[n].grad.numpy()) < 1e-12, n


def test_attention_matches_the_course_luong_dot_attention(data):
    from attention_course import LuongAttention

    hs, h = data
    context, weights = LuongAttention(H, H, score="dot")(torch.tensor(h), torch.tensor(hs))
    layer = Attention()
    assert np.allclose(layer.forward(hs, h), context.numpy())
    assert np.allclose(layer.attention_weight, weights.numpy())


def test_hs_gradient_is_the_sum_of_both_branches(data, rng):
    hs, h = data
    dc = rng.standard_normal((N, H))
    layer = Attention()
    layer.forward(hs, h)
    dhs, dh = layer.backward(dc)

    weight_sum, attention_weight = WeightSum(), AttentionWeight()
    a = attention_weight.forward(hs, h)
    weight_sum.forward(hs, a)
    dhs_values, da = weight_sum.backward(dc)
    dhs_keys, dh_alone = attention_weight.backward(da)
    assert np.allclose(dhs, dhs_values + dhs_keys) and np.allclose(dh, dh_alone)

    numeric = numerical_gradient(lambda: (Attention().forward(hs, h) * dc).sum(), hs)
    assert max_relative_error(dhs, numeric) < 1e-5
    assert max_relative_error(dhs_values, numeric) > 1e-2  # either branch alone is wrong
    assert max_relative_error(dhs_keys, numeric) > 1e-2


def test_backward_does_not_change_its_inputs(data, rng):
    hs, h = data
    hs_copy, h_copy = hs.copy(), h.copy()
    layer = Attention()
    layer.forward(hs, h)
    layer.backward(rng.standard_normal((N, H)))
    assert np.array_equal(hs, hs_copy) and np.array_equal(h, h_copy)
