"""The course's one plotting module: plot style, attention heatmaps, interactive views.

Every attention map of the course is drawn on ONE colour scale, 0 to 1 (attention
weights are probabilities), with a colour bar: a head whose largest weight is 0.22 then
looks pale next to one whose largest weight is 0.90, instead of equally sharp. A figure
of several maps draws them with ``colorbar=False`` and adds one shared bar with
`add_colorbar`.

Chapter 4.4 adds two interactive views of the same maps: `attention_figure` (a Plotly
heatmap with a menu of examples, `attention_figure_html` its HTML for a static page) and
`attention_explorer` (a text box in JupyterLab that draws the map of any date typed in).
They take what `Translator.attention` (chapter 4.5, `attention_course.tasks.dates`)
returns, but import nothing from the tasks: any object with that method will do.
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
    """Apply the course's plot style: readable sizes, colour-blind palette, light grid.

    Sets seaborn's "notebook" theme with the "colorblind" palette and matplotlib's
    rcParams (figure size 6.4 x 4.0 inches at 100 dpi, 11-12 point labels, `cividis` as
    the default image colormap, constrained layout). Every notebook calls it once, in
    its setup cell.
    """
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


def _as_matrix(weights, name: str = "weights") -> np.ndarray:
    """One attention map as a 2-D float array: non-empty and finite, or a ValueError."""
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().float().cpu().numpy()
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise ValueError(
            f"{name}: expected one attention map of shape (T_out, T_in), "
            f"got shape {weights.shape}"
        )
    if 0 in weights.shape:
        raise ValueError(f"{name} has shape {weights.shape}: an attention map needs at "
                         "least one row and one column")
    bad = ~np.isfinite(weights)
    if bad.any():
        t, i = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} has {int(bad.sum())} non-finite weight(s) (NaN or inf; the first, "
            f"{weights[t, i]}, at row {t}, column {i}): an attention weight is a "
            "probability from 0 to 1, so a map that holds one is not drawn"
        )
    return weights


def _check_labels(matrix: np.ndarray, source_tokens, output_tokens,
                  name: str = "weights") -> None:
    """A ValueError naming both when a label list's length differs from the map's."""
    for label, tokens, axis in (("source_tokens", source_tokens, 1),
                                ("output_tokens", output_tokens, 0)):
        if tokens is not None and len(tokens) != matrix.shape[axis]:
            kind = "columns" if axis == 1 else "rows"
            raise ValueError(
                f"{label} has {len(tokens)} labels but the attention map has "
                f"{matrix.shape[axis]} {kind} ({name} shape {matrix.shape})"
            )


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

    The colour scale runs from 0 to ``vmax`` (default 1, the range of a weight), the
    same for every map, so maps can be compared by eye. For several maps in one figure,
    pass ``colorbar=False`` and call `add_colorbar` once. Without ``ax`` the figure is
    sized from the map: `CELL_INCHES` per token.

    Args:
        weights: (T_q, T_k) attention weights alpha_{t,i} of one example and one head
            (a tensor on any device, or an array); rows are queries (output steps),
            columns keys (source positions).
        source_tokens: optional T_k labels for the columns.
        output_tokens: optional T_q labels for the rows.
        ax: the matplotlib Axes to draw on; default a new figure.
        title: optional title, e.g. "Layer l, Head h".
        colorbar: draw this map's colour bar (default True).
        xlabel: the column axis label; for self-attention e.g. "key position".
        ylabel: the row axis label; for self-attention e.g. "query position".
        vmax: the weight drawn brightest (default 1.0).
    Returns:
        The matplotlib Axes the map is drawn on.
    Raises:
        ValueError: if ``weights`` is not one 2-D map (e.g. a batch (B, T_q, T_k)), is
            empty, or holds a NaN or an infinity (refused, not drawn: the colour
            scale cannot show it, and it means the computation that made it is
            wrong); if a token list's length differs from the map's columns or rows
            (the message names both); or if ``vmax`` is not positive.
    """
    matrix = _as_matrix(weights)
    _check_labels(matrix, source_tokens, output_tokens)
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
    """Add one colour bar for several maps drawn by plot_attention(..., colorbar=False).

    Args:
        axes: an Axes or any (nested) sequence or array of them, as from
            `plt.subplots`.
        label: the bar's label (default "attention weight").
    Returns:
        The matplotlib Colorbar, placed beside all of ``axes``.
    Raises:
        ValueError: if the axes hold no attention map, or if their maps use different
            colour scales (plot_attention's default, 0 to 1, or the same ``vmax`` for
            all), since one bar would then misread some of them.
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


def attention_figure(examples, title: str = "Attention weights"):
    """Build a Plotly heatmap of several attention maps, with a menu to pick one.

    One heatmap per example, only the first visible; the menu (top right) switches which
    one shows and relabels the axes. Axes use positions with the characters as tick
    labels, so repeated characters ("1994") keep their own column. The colour scale
    runs from 0 to 1 for every example, like plot_attention's, and hovering over a cell
    reads its weight. Plotly is imported only when this is called.

    Args:
        examples: a non-empty list of (source_tokens, output_tokens, weights), weights
            (T_tgt, T_src) with weights[t][i] the weight alpha_{t,i} that output step t
            gives source position i: what `Translator.attention` returns
            (`attention_course.tasks.dates`, chapter 4.5).
        title: the figure's title.
    Returns:
        A `plotly.graph_objects.Figure`; `attention_figure_html` turns it into HTML
        for a page.
    Raises:
        ValueError: if ``examples`` is empty, or an example's weights are not one
            non-empty, finite 2-D map with a row per output token and a column per
            source token (the message names the example, examples[k], and both
            sizes).
    """
    if not examples:
        raise ValueError("attention_figure needs at least one example "
                         "(source_tokens, output_tokens, weights), got none")
    import plotly.graph_objects as go

    for k, (source, output, weights) in enumerate(examples):
        matrix = _as_matrix(weights, f"examples[{k}] weights")
        _check_labels(matrix, source, output, f"examples[{k}] weights")
    fig, buttons = go.Figure(), []
    for k, (source, output, weights) in enumerate(examples):
        hover = [[f"{output[t]!r} reads {source[i]!r} (position {i}): "
                  f"{float(weights[t][i]):.3f}" for i in range(len(source))]
                 for t in range(len(output))]
        z = [[round(float(w), 3) for w in row] for row in weights]  # (T_out, T_src)
        fig.add_trace(go.Heatmap(z=z, colorscale="Cividis", zmin=0, zmax=1,
                                 visible=k == 0, text=hover, hoverinfo="text",
                                 colorbar={"title": {"text": "weight"}}))
        axes = {"xaxis.tickvals": list(range(len(source))),
                "xaxis.ticktext": list(source),
                "yaxis.tickvals": list(range(len(output))),
                "yaxis.ticktext": list(output)}
        visible = [j == k for j in range(len(examples))]
        buttons.append({"label": "".join(source), "method": "update",
                        "args": [{"visible": visible}, axes]})
    first = buttons[0]["args"][1]
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"}, height=420,
        margin={"t": 90},
        xaxis={"title": {"text": "source character (key)"},
               "tickvals": first["xaxis.tickvals"], "ticktext": first["xaxis.ticktext"],
               "tickangle": 0},
        yaxis={"title": {"text": "output character (query)"},
               "tickvals": first["yaxis.tickvals"], "ticktext": first["yaxis.ticktext"],
               "autorange": "reversed"},
        updatemenus=[{"buttons": buttons, "x": 1, "xanchor": "right", "y": 1.22,
                      "yanchor": "top"}],
    )
    return fig


def attention_figure_html(examples, title: str = "Attention weights",
                          div_id: str = "attention-figure") -> str:
    """Render attention_figure as HTML, plotly.js embedded, for a notebook or a page.

    A static PNG of the first example (plot_attention's picture, 100 dpi) comes first:
    where the figure's JavaScript runs, it removes the PNG once Plotly has drawn; where
    it does not (a notebook JupyterLab does not trust), the PNG shows instead of an
    empty space. Nothing is fetched from the network.

    Args:
        examples: a non-empty list of (source_tokens, output_tokens, weights
            (T_tgt, T_src)), as for `attention_figure`.
        title: the figure's title (the PNG's title adds the first example's source).
        div_id: the id of the figure's div (the PNG's is ``div_id + "-static"``); a
            fixed id keeps the HTML identical between runs.
    Returns:
        One HTML string: the PNG, the figure and the script that removes the PNG.
    Raises:
        ValueError: if ``examples`` is empty, or an example's weights are not a
            finite map with a row per output token and a column per source token
            (from `attention_figure`, naming examples[k]).
    """
    if not examples:
        raise ValueError("attention_figure_html needs at least one example "
                         "(source_tokens, output_tokens, weights), got none")
    import base64
    import io
    import re

    figure = attention_figure(examples, title).to_html(  # checks every example first
        full_html=False, include_plotlyjs=True, div_id=div_id)
    source, output, weights = examples[0]
    ax = plot_attention(weights, source, output, title=f"{title}: {''.join(source)!r}",
                        xlabel="source character (key)",
                        ylabel="output character (query)")
    png = io.BytesIO()
    ax.figure.savefig(png, format="png", dpi=100)
    plt.close(ax.figure)
    encoded = base64.b64encode(png.getvalue()).decode("ascii")
    alt = (f"Static picture of the attention map of {''.join(source)!r}, shown where "
           "the interactive figure cannot run")
    # Plotly's outer div reserves the figure's height even where nothing draws in it (an
    # empty gap under the picture); once drawn, the figure takes its layout height.
    figure = re.sub(r'^<div style="height:\d+px; width:100%;">',
                    '<div style="width:100%;">', figure)
    remove = (f"<script>if (window.Plotly) {{ var s = document.getElementById("
              f"'{div_id}-static'); if (s) {{ s.remove(); }} }}</script>")
    return (f'<div><img id="{div_id}-static" alt="{alt}" style="max-width: 100%;" '
            f'src="data:image/png;base64,{encoded}">{figure}{remove}</div>')


def attention_explorer(translator, value: str = "Tue 27 Sep 1994"):
    """Build an ipywidgets text box that draws the attention map of any input typed in.

    Each new value (on Enter) is decoded with ``translator.attention`` and drawn with
    plot_attention under the box; an input the translator refuses (a ValueError, e.g. a
    character outside its vocabulary), or a map plot_attention refuses (e.g. no row,
    when a model in training writes <eos> first), prints its message there instead. It
    needs a live kernel (JupyterLab, Colab): on a static page the widget is empty.

    Args:
        translator: an object whose ``attention(text)`` returns (source_tokens,
            output_tokens, weights (T_tgt, T_src)), e.g. the date model's `Translator`
            (`attention_course.tasks.dates`, chapter 4.5).
        value: the text the box starts with.
    Returns:
        An ``ipywidgets.VBox`` of the text box and its output area.
    """
    import ipywidgets as widgets
    from IPython.display import display

    box = widgets.Text(value=value, description="Date:", continuous_update=False)
    out = widgets.Output()

    def redraw(change=None):
        out.clear_output(wait=True)
        with out:
            try:
                source, output, weights = translator.attention(box.value)
                ax = plot_attention(weights, source, output,
                                    title=f"{box.value!r} -> {''.join(output)}")
            except ValueError as error:  # a refused input, or a map it cannot draw
                print(error)
                return
            display(ax.figure)
            plt.close(ax.figure)

    box.observe(redraw, names="value")
    redraw()
    return widgets.VBox([box, out])
