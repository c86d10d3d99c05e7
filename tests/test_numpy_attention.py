"""attention_course.numpy_attention (chapter 4.3): AttentionWeight, WeightSum and Attention in NumPy,
with hand-written backward passes checked by finite differences and against torch.autograd."""

import ast
import inspect
import re

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


# Bad input (issue 15, kind 7): plausible learner mistakes get a clear error, raised by the
# course before NumPy fails inside np.einsum, naming the arrays and the shapes expected.
def _inputs():
    rng = np.random.default_rng(1)
    return rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.random((N, T))


hs_, h_, a_ = _inputs()
BAD_FORWARD = {  # name: (layer, args, a fragment the message must contain)
    "AttentionWeight swapped": (AttentionWeight, (h_, hs_), "swapped"),
    "AttentionWeight no batch axis": (AttentionWeight, (hs_[0], h_[0]), "batch axis"),
    "AttentionWeight h of the wrong width": (AttentionWeight, (hs_, h_[:, :-1]), f"({N}, {H})"),
    "AttentionWeight h of another batch": (AttentionWeight, (hs_, h_[:-1]), f"({N}, {H})"),
    "AttentionWeight h with a time axis": (AttentionWeight, (hs_, h_[:, None, :]), f"({N}, {H})"),
    "AttentionWeight hs as (N, H, T)": (AttentionWeight, (hs_.transpose(0, 2, 1), h_), "(N, T, H)"),
    "AttentionWeight bool h": (AttentionWeight, (hs_, h_ > 0), "h must be an array of real numbers"),
    "AttentionWeight str hs": (AttentionWeight, (np.full((N, T, H), "x"), h_), "hs must be an array of real"),
    "WeightSum swapped": (WeightSum, (a_, hs_), "swapped"),
    "WeightSum no batch axis": (WeightSum, (hs_[0], a_[0]), "batch axis"),
    "WeightSum a as (N, T, 1)": (WeightSum, (hs_, a_[:, :, None]), f"({N}, {T})"),
    "WeightSum a of shape (N, H)": (WeightSum, (hs_, a_[:, :1].repeat(H, 1)), f"({N}, {T})"),
    "Attention swapped": (Attention, (h_, hs_), "swapped"),
    "Attention no batch axis": (Attention, (hs_[0], h_[0]), "batch axis"),
    "Attention h of the wrong width": (Attention, (hs_, h_[:, :-1]), f"({N}, {H})"),
}


@pytest.mark.parametrize("name", BAD_FORWARD)
def test_forward_rejects_wrong_shapes_and_dtypes_by_name(name):
    Layer, args, fragment = BAD_FORWARD[name]
    with pytest.raises(ValueError) as error:
        Layer().forward(*args)
    message = str(error.value)
    assert fragment in message and message.startswith(("hs must", "h must")), message
    assert "einsum" not in message and "operand" not in message


@pytest.mark.parametrize("Layer, upstream", [(AttentionWeight, (N, T)), (WeightSum, (N, H)),
                                             (Attention, (N, H))])
def test_backward_before_forward_is_a_runtime_error_that_says_so(Layer, upstream):
    with pytest.raises(RuntimeError, match=rf"{Layer.__name__}\.backward was called before "
                                           rf"{Layer.__name__}\.forward"):
        Layer().backward(np.ones(upstream))


BAD_UPSTREAM = {  # name: (layer, inputs, upstream gradient of a wrong shape, its name)
    "AttentionWeight da of the context's shape": (AttentionWeight, (hs_, h_), np.ones((N, H)), "da"),
    "AttentionWeight da with a trailing axis": (AttentionWeight, (hs_, h_), np.ones((N, T, 1)), "da"),
    "WeightSum dc of the weights' shape": (WeightSum, (hs_, a_), np.ones((N, T)), "dc"),
    "WeightSum dc without the batch axis": (WeightSum, (hs_, a_), np.ones(H), "dc"),
    "Attention dc of the weights' shape": (Attention, (hs_, h_), np.ones((N, T)), "dc"),
    "Attention dc a scalar": (Attention, (hs_, h_), 1.0, "dc"),
}


@pytest.mark.parametrize("name", BAD_UPSTREAM)
def test_backward_rejects_an_upstream_gradient_of_the_wrong_shape(name):
    Layer, inputs, upstream, argument = BAD_UPSTREAM[name]
    layer = Layer()
    output = layer.forward(*inputs)
    expected = re.escape(f"{argument} must have the shape {output.shape}")
    with pytest.raises(ValueError, match=expected):
        layer.backward(upstream)


@pytest.mark.parametrize("Layer, names", [(AttentionWeight, ("hs", "h")), (WeightSum, ("hs", "a")),
                                          (Attention, ("hs", "h"))])
def test_backward_twice_gives_the_same_gradients_and_changes_nothing(Layer, names):
    """Documented: backward reads what forward kept, so it may be called again."""
    values = dict(zip(("hs", "h", "a"), _inputs(), strict=True))
    layer = Layer()
    output = layer.forward(*[values[n] for n in names])
    upstream = np.random.default_rng(2).standard_normal(output.shape)
    first = layer.backward(upstream)
    second = layer.backward(upstream)
    for g1, g2 in zip(first, second, strict=True):
        assert np.array_equal(g1, g2)
    assert layer.params == [] and layer.grads == []


def test_lists_and_ints_are_accepted_as_arrays(data):
    hs, h = data
    reference = Attention().forward(hs, h)
    assert np.allclose(Attention().forward(hs.tolist(), h.tolist()), reference)
    ints = np.arange(N * T * H).reshape(N, T, H) % 3, np.ones((N, H), dtype=int)
    assert np.allclose(Attention().forward(*ints), Attention().forward(*(x.astype(float) for x in ints)))


BAD_SOFTMAX = {
    "empty axis": (np.zeros((2, 0)), -1),
    "axis out of range": (np.zeros((2, 3)), 2),
    "strings": (np.array(["a", "b"]), -1),
}


@pytest.mark.parametrize("name", BAD_SOFTMAX)
def test_softmax_rejects_what_it_cannot_normalise(name):
    x, axis = BAD_SOFTMAX[name]
    with pytest.raises(ValueError, match="x"):
        softmax(x, axis=axis)


def test_numerical_gradient_rejects_what_would_give_a_wrong_gradient(rng):
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        numerical_gradient(lambda: 0.0, [1.0, 2.0])  # a list cannot be changed in place
    x_int = np.array([1, 2, 3])  # x + 1e-5 rounds back to x: the gradient would be 0
    with pytest.raises(ValueError, match="float array.*int"):
        numerical_gradient(lambda: float(np.sum(x_int**2)), x_int)
    x = rng.standard_normal(3)
    with pytest.raises(ValueError, match="loss\\(\\) must return a scalar, got shape \\(3,\\)"):
        numerical_gradient(lambda: x**2, x)


def test_max_relative_error_rejects_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"\(3, 4, 5\) and \(4, 5\)"):
        max_relative_error(np.ones((3, 4, 5)), np.ones((4, 5)))
