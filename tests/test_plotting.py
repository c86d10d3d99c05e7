"""The course's one plotting helper: labels, shapes and clear errors."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from attention_course import plot_attention  # noqa: E402


def test_plot_attention_labels_tokens_and_axes():
    ax = plot_attention(torch.eye(3), ["a", "b", "c"], ["x", "y", "z"], title="Layer 1, Head 1",
                        xlabel="key position", ylabel="query position")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Layer 1, Head 1", "key position",
                                                                  "query position")
    plt.close("all")


def test_plot_attention_rejects_a_batch_and_mismatched_labels():
    with pytest.raises(ValueError, match=r"shape \(T_out, T_in\), got shape \(2, 3, 3\)"):
        plot_attention(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="source_tokens has 2 labels but the attention map has 3 columns"):
        plot_attention(torch.rand(4, 3), source_tokens=["a", "b"])
    plt.close("all")
