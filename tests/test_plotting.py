"""The course's one plotting module: heatmaps (labels, shapes, clear errors) and the interactive
views of chapter 4.4 (a Plotly figure for static pages, a live text box)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import attention_course  # noqa: E402
from attention_course import plot_attention  # noqa: E402
from attention_course.plotting import (  # noqa: E402
    add_colorbar,
    attention_explorer,
    attention_figure,
    attention_figure_html,
)

# Two attention maps as Translator.attention returns them: (source, output, weights (T_out, T_src)).
EXAMPLES = [
    (list("27/09/94"), list("1994-09-27"),
     torch.softmax(torch.randn(10, 8, generator=torch.Generator().manual_seed(0)), -1).numpy()),
    (list("19940927"), list("1994-09-27"), torch.eye(10, 8).numpy()),
]


class FakeTranslator:
    """What attention_explorer needs: attention(text), a ValueError for text it cannot read."""

    def attention(self, text):
        if "!" in text:
            raise ValueError(f"characters outside the vocabulary: ['!'] in {text!r}")
        return list(text), list("ab"), torch.full((2, len(text)), 1 / len(text)).numpy()


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


def test_attention_figure_has_one_trace_per_example():
    figure = attention_figure(EXAMPLES, title="t")
    assert len(figure.data) == 2 and figure.data[0].visible and not figure.data[1].visible
    assert list(figure.layout.xaxis.ticktext) == list("27/09/94")
    assert (figure.data[0].zmin, figure.data[0].zmax) == (0, 1)  # the course's one colour scale
    menu = figure.layout.updatemenus[0].buttons
    assert [button.label for button in menu] == ["27/09/94", "19940927"]
    html = figure.to_html(full_html=False, include_plotlyjs=True, div_id="fixed")
    assert 'id="fixed"' in html and "cdn" not in html.split("<script", 2)[1][:200].lower()
    with pytest.raises(ValueError, match="at least one example"):
        attention_figure([])


def test_attention_figure_html_has_a_static_picture_that_its_script_removes():
    import base64
    import re

    html = attention_figure_html(EXAMPLES, title="t", div_id="fixed")
    assert html == attention_figure_html(EXAMPLES, title="t", div_id="fixed")  # stable
    image = re.search(r'<img id="fixed-static" alt="([^"]+)" [^>]*src="data:image/png;base64,([^"]+)"',
                      html)
    assert image and "27/09/94" in image.group(1)
    assert base64.b64decode(image.group(2)).startswith(b"\x89PNG")
    # the picture comes before the figure, the script that removes it after
    assert html.index("fixed-static") < html.index('id="fixed"') < html.rindex("fixed-static")
    assert "getElementById('fixed-static')" in html and "window.Plotly" in html
    assert not plt.get_fignums()  # the picture's figure is closed
    with pytest.raises(ValueError, match="at least one example"):
        attention_figure_html([])


def test_attention_explorer_builds_a_text_box_and_prints_errors(capsys):
    explorer = attention_explorer(FakeTranslator(), value="27/09/94")
    box, _ = explorer.children
    assert box.value == "27/09/94"
    capsys.readouterr()
    # the translator refuses it: its message is printed (without a kernel, to stdout), nothing raises
    box.value = "27/09/94!"
    assert "outside the vocabulary: ['!']" in capsys.readouterr().out
    assert not plt.get_fignums()  # every drawn map is closed after display



def test_the_figures_are_importable_from_the_root_and_live_in_plotting():
    for name in ("attention_figure", "attention_figure_html", "attention_explorer"):
        assert getattr(attention_course, name).__module__ == "attention_course.plotting", name


# Issue 15: a map out of step with its labels, empty or not finite, gets a clear error naming both.
@pytest.mark.parametrize(("row", "column", "value"), [(0, 0, float("nan")), (2, 1, float("inf")),
                                                      (1, 3, -float("inf"))])
def test_plot_attention_refuses_weights_that_are_not_finite(row, column, value):
    weights = torch.full((3, 4), 0.25)
    weights[row, column] = value
    message = (r"^weights has 1 non-finite weight\(s\) "
               rf"\(NaN or inf; the first, {value}, at row {row}, column {column}\)")
    with pytest.raises(ValueError, match=message):
        plot_attention(weights, list("abcd"), list("xyz"))
    with pytest.raises(ValueError, match=r"^examples\[1\] weights has 1 non-finite"):
        attention_figure([EXAMPLES[0], (list("abcd"), list("xyz"), weights.numpy())])
    assert not plt.get_fignums()  # nothing half drawn


@pytest.mark.parametrize("shape", [(0, 4), (3, 0), (0, 0)])
def test_plot_attention_refuses_an_empty_map(shape):
    message = rf"^weights has shape \({shape[0]}, {shape[1]}\): an attention map needs"
    with pytest.raises(ValueError, match=message):
        plot_attention(torch.empty(shape))


def test_labels_that_do_not_match_the_rows_are_refused_everywhere():
    with pytest.raises(ValueError, match=r"^output_tokens has 2 labels but the attention map has 3 rows "
                                         r"\(weights shape \(3, 4\)\)"):
        plot_attention(torch.full((3, 4), 0.25), list("abcd"), ["<unk>", "1"])
    source, output, weights = EXAMPLES[1]
    longer = output + ["<eos>"]  # one label more than rows
    with pytest.raises(ValueError, match=r"^output_tokens has 11 labels but the attention map has 10 rows "
                                         r"\(examples\[1\] weights shape \(10, 8\)\)"):
        attention_figure([EXAMPLES[0], (source, longer, weights)])
    with pytest.raises(ValueError, match=r"^source_tokens has 7 labels .* 8 columns \(examples\[0\] weights"):
        attention_figure_html([(source[:7], output, weights)])
    message = r"^examples\[0\] weights: expected one attention map .* got shape \(1, 10, 8\)"
    with pytest.raises(ValueError, match=message):
        attention_figure([(source, output, weights[None])])
    assert not plt.get_fignums()


def test_the_explorer_prints_a_map_it_cannot_draw(capsys):
    class EmptyOutput:  # a model in training that writes <eos> first: no row to draw
        def attention(self, text):
            return list(text), [], torch.empty(0, len(text)).numpy()

    attention_explorer(EmptyOutput(), value="27/09/94")
    assert "weights has shape (0, 8)" in capsys.readouterr().out
    assert not plt.get_fignums()
