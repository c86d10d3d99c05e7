"""The course's one plotting module: plot style and attention heatmaps.

Every attention map of the course is drawn on ONE colour scale, 0 to 1 (attention
weights are probabilities), with a colour bar: a head whose largest weight is 0.22 then
looks pale next to one whose largest weight is 0.90, instead of equally sharp. A figure
of several maps draws them with ``colorbar=False`` and adds one shared bar with
`add_colorbar`.
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

#: Colour-blind-safe sequential colormap for every attention map in the course.
ATTENTION_CMAP = "cividis"
#: Colour-blind-safe palette for lines and bars (seaborn's "colorblind", Okabe & Ito).
PALETTE = sns.color_palette("colorblind")
#: The colour scale of every attention map: weights are probabilities, from 0 to 1.
WEIGHT_RANGE = (0.0, 1.0)
#: Width and height (inches) of one token's cell when plot_attention makes its own
#: figure. With the course's 11-point tick labels a label is about as wide as its cell,
#: so the figure is no wider than its labels need, and a narrow screen shrinks it less.
CELL_INCHES = 0.28


def use_course_style() -> None:
    """The course's plot style: readable sizes, colour-blind palette, light grid."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "xtick.labelsize": 11,
            "ytick.labelsize": 11,
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
            "plot_attention expects one attention map of shape (T_out, T_in), "
            f"got shape {weights.shape}"
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
    vmax: float = WEIGHT_RANGE[1],
):
    """Draw one attention map: output tokens on the rows, source tokens on the columns.

    ``weights`` has shape (T_out, T_in) (a tensor on any device, or an array). Token
    labels, when given, must match those lengths. For self-attention pass e.g.
    xlabel="key position", ylabel="query position". The colour scale runs from 0 to
    ``vmax`` (default 1, the range of a weight), the same for every map, so maps can be
    compared by eye; ``colorbar=True`` draws its bar. For several maps in one figure,
    pass ``colorbar=False`` and call `add_colorbar` once. Returns the matplotlib Axes.
    """
    matrix = _as_matrix(weights)
    for name, tokens, size in (("source_tokens", source_tokens, matrix.shape[1]),
                               ("output_tokens", output_tokens, matrix.shape[0])):
        if tokens is not None and len(tokens) != size:
            kind = "columns" if name == "source_tokens" else "rows"
            raise ValueError(
                f"{name} has {len(tokens)} labels but the attention map has {size} "
                f"{kind} (weights shape {matrix.shape})"
            )
    if not vmax > 0:
        raise ValueError(f"vmax must be positive, got {vmax}")
    if ax is None:
        width = CELL_INCHES * matrix.shape[1] + 2.5 + (1.0 if colorbar else 0.0)
        _, ax = plt.subplots(figsize=(width, CELL_INCHES * matrix.shape[0] + 1.5))
    image = ax.imshow(matrix, cmap=ATTENTION_CMAP, vmin=WEIGHT_RANGE[0], vmax=vmax,
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
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                           label="attention weight")
    return ax


def add_colorbar(axes, label: str = "attention weight"):
    """One colour bar for several maps drawn by plot_attention(..., colorbar=False).

    ``axes`` is an Axes or any (nested) sequence/array of them. Every map must use the
    same colour scale (plot_attention's default, 0 to 1, or the same ``vmax``), else the
    one bar would misread some of them: ValueError. Returns the Colorbar.
    """
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    images = [image for ax in flat for image in ax.get_images()]
    if not images:
        raise ValueError("add_colorbar found no attention map in these axes: "
                         "draw them first")
    scales = {image.get_clim() for image in images}
    if len(scales) != 1:
        raise ValueError(f"the maps use different colour scales {sorted(scales)}: one "
                         "colour bar cannot describe them all; give them the same vmax")
    return flat[0].figure.colorbar(images[0], ax=flat, fraction=0.046, pad=0.02,
                                   label=label)
