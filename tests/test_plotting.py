"""The course's one plotting helper: labels, shapes and clear errors."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from attention_course import plot_attention  # noqa: E402
from attention_course.plotting import add_colorbar  # noqa: E402


def test_plot_attention_labels_tokens_and_axes():
    ax = plot_attention(torch.eye(3), ["a", "b", "c"], ["x", "y", "z"],
                        title="Layer 1, Head 1", xlabel="key position",
                        ylabel="query position")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    labels = (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
    assert labels == ("Layer 1, Head 1", "key position", "query position")
    plt.close("all")


def test_plot_attention_rejects_a_batch_and_mismatched_labels():
    with pytest.raises(ValueError, match=r"\(T_out, T_in\), got shape \(2, 3, 3\)"):
        plot_attention(torch.rand(2, 3, 3))
    expected = "source_tokens has 2 labels but the attention map has 3 columns"
    with pytest.raises(ValueError, match=expected):
        plot_attention(torch.rand(4, 3), source_tokens=["a", "b"])
    plt.close("all")


def test_every_map_has_the_same_colour_scale_and_a_colour_bar():
    faint = torch.full((3, 3), 0.22).fill_diagonal_(0.56)  # a flat head ...
    sharp = torch.eye(3) * 0.9 + 0.05  # ... and a sharp one
    fig, axes = plt.subplots(1, 2)
    for ax, weights in zip(axes, [faint, sharp], strict=True):
        plot_attention(weights, ax=ax, colorbar=False)
    assert [ax.get_images()[0].get_clim() for ax in axes] == [(0.0, 1.0), (0.0, 1.0)]
    bar = add_colorbar(axes)
    assert bar.mappable.get_clim() == (0.0, 1.0)
    assert bar.ax.get_ylabel() == "attention weight"
    alone = plot_attention(faint)  # its own figure: a colour bar by default
    assert len(alone.figure.axes) == 2
    plt.close("all")


def test_add_colorbar_refuses_maps_on_different_scales():
    fig, axes = plt.subplots(1, 2)
    plot_attention(torch.eye(2), ax=axes[0], colorbar=False)
    plot_attention(torch.eye(2) * 0.2, ax=axes[1], colorbar=False, vmax=0.2)
    with pytest.raises(ValueError, match="different colour scales"):
        add_colorbar(axes)
    with pytest.raises(ValueError, match="no attention map"):
        add_colorbar(plt.subplots()[1])
    with pytest.raises(ValueError, match="vmax must be positive"):
        plot_attention(torch.eye(2), vmax=0)
    plt.close("all")
