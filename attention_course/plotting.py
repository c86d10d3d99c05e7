"""The course's one plotting module: plot style and attention heatmaps."""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

#: Colour-blind-safe sequential colormap for every attention map in the course.
ATTENTION_CMAP = "cividis"
#: Colour-blind-safe palette for lines and bars (seaborn's "colorblind", after Okabe & Ito).
PALETTE = sns.color_palette("colorblind")


def use_course_style() -> None:
    """Apply the course's plot style: readable sizes, a colour-blind-safe palette, light grid."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "image.cmap": ATTENTION_CMAP,
            "figure.constrained_layout.use": True,
        }
    )


def _as_matrix(weights) -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().float().cpu().numpy()
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise ValueError(
            f"plot_attention expects one attention map of shape (T_out, T_in), got shape {weights.shape}"
        )
    return weights


def plot_attention(
    weights,
    source_tokens: Sequence[str] | None = None,
    output_tokens: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    colorbar: bool = True,
    xlabel: str = "source position (key)",
    ylabel: str = "output step (query)",
):
    """Draw one attention map: output tokens on the rows, source tokens on the columns.

    ``weights`` has shape (T_out, T_in) (a tensor or an array). Token labels, when given,
    must match those lengths. For self-attention pass e.g. xlabel="key position",
    ylabel="query position". Returns the matplotlib Axes.
    """
    matrix = _as_matrix(weights)
    for name, tokens, size in (("source_tokens", source_tokens, matrix.shape[1]),
                               ("output_tokens", output_tokens, matrix.shape[0])):
        if tokens is not None and len(tokens) != size:
            raise ValueError(
                f"{name} has {len(tokens)} labels but the attention map has {size} "
                f"{'columns' if name == 'source_tokens' else 'rows'} (weights shape {matrix.shape})"
            )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.25 * matrix.shape[1] + 2.5, 0.25 * matrix.shape[0] + 1.5))
    image = ax.imshow(matrix, cmap=ATTENTION_CMAP, vmin=0.0, vmax=max(1e-9, float(matrix.max())),
                      aspect="auto", interpolation="nearest")
    ax.grid(False)
    if source_tokens is not None:
        ax.set_xticks(range(len(source_tokens)), labels=list(source_tokens))
    if output_tokens is not None:
        ax.set_yticks(range(len(output_tokens)), labels=list(output_tokens))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return ax
