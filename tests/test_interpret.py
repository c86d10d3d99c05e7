"""Chapter 4.4's exported code: attention statistics, alignment scores, counterfactual weights, views."""

import math

import pytest
import torch

from attention_course import (
    OUTPUT_FIELDS,
    REPLACEMENTS,
    ReplacedAttention,
    Translator,
    alignment_mask,
    alignment_scores,
    attention_entropy,
    attention_explorer,
    attention_figure,
    greedy_decode,
    max_weight,
    positions_above,
    replace_weights,
    source_fields,
)


def test_statistics_on_hand_worked_rows():
    rows = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    assert torch.allclose(attention_entropy(rows), torch.tensor([math.log(4), 0.0, math.log(2)]))
    assert str(float(attention_entropy(rows)[1])) == "0.0"  # not -0.0
    assert max_weight(rows).tolist() == [0.25, 1.0, 0.5]
    assert positions_above(rows, 0.1).tolist() == [4, 1, 2]
    assert positions_above(rows.numpy(), 0.3).tolist() == [0, 1, 2]  # arrays work too
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\), got 1.5"):
        positions_above(rows, 1.5)


def test_source_fields_and_alignment_mask():
    spans = source_fields("27/09/94", "1994-09-27")
    assert spans == {"day": [0, 1], "month": [3, 4], "year": [6, 7]}
    mask = alignment_mask("27/09/94", "1994-09-27")
    assert mask.shape == (10, 8) and mask[4].sum() == 0 and mask[7].sum() == 0
    assert mask[0].nonzero().flatten().tolist() == [6, 7] and mask[9].nonzero().flatten().tolist() == [0, 1]
    assert len(OUTPUT_FIELDS) == 10
    with pytest.raises(ValueError, match="not 1994-09-28 written in one of the 10 formats"):
        source_fields("27/09/94", "1994-09-28")


def test_alignment_scores_weight_and_hit():
    weights = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    on_field, hit = alignment_scores(weights, mask)
    assert math.isclose(float(on_field[0]), 0.5, abs_tol=1e-6) and float(hit[0]) == 0.0
    assert on_field[1].isnan() and hit[1].isnan()


def test_replace_weights_properties():
    torch.manual_seed(0)
    mask = torch.tensor([[True] * 5 + [False] * 2, [True] * 7])
    weights = torch.softmax(torch.randn(2, 7).masked_fill(~mask, -1e9), dim=-1)
    generator = torch.Generator().manual_seed(1)
    for how in REPLACEMENTS:
        replaced = replace_weights(weights, mask, how, generator)
        assert torch.allclose(replaced.sum(-1), torch.ones(2), atol=1e-6), how
        assert (replaced[~mask] == 0).all(), how
    assert torch.equal(replace_weights(weights, mask, "learned"), weights)
    assert torch.allclose(replace_weights(weights, mask, "uniform")[0, :5], torch.full((5,), 0.2))
    permuted = replace_weights(weights, mask, "permuted", generator)
    assert torch.allclose(permuted.sort(-1).values, weights.sort(-1).values)
    removed = replace_weights(weights, mask, "max removed")
    assert (removed.gather(-1, weights.argmax(-1, keepdim=True)) == 0).all()
    with pytest.raises(ValueError, match="how must be one of learned, uniform, permuted, max removed"):
        replace_weights(weights, mask, "zero")


@pytest.fixture(scope="module")
def translator():
    return Translator.load()


def test_replaced_attention_learned_changes_nothing(translator):
    source = torch.tensor([translator.source_vocab.encode("Tue 27 Sep 1994")])
    mask = source != 0
    model = translator.model
    original = model.decoder.attention
    expected, _ = greedy_decode(model, source, mask)
    try:
        model.decoder.attention = ReplacedAttention(original, "learned")
        same, _ = greedy_decode(model, source, mask)
        model.decoder.attention = ReplacedAttention(original, "uniform")
        _, weights = greedy_decode(model, source, mask)
    finally:
        model.decoder.attention = original
    assert torch.equal(same, expected)
    assert torch.allclose(weights[0], torch.full_like(weights[0], 1 / 15))


def test_attention_figure_has_one_trace_per_example(translator):
    examples = [translator.attention(text) for text in ["27/09/94", "19940927"]]
    figure = attention_figure(examples, title="t")
    assert len(figure.data) == 2 and figure.data[0].visible and not figure.data[1].visible
    assert list(figure.layout.xaxis.ticktext) == list("27/09/94")
    html = figure.to_html(full_html=False, include_plotlyjs=True, div_id="fixed")
    assert 'id="fixed"' in html and "cdn" not in html.split("<script", 2)[1][:200].lower()


def test_attention_explorer_builds_a_text_box(translator):
    explorer = attention_explorer(translator, value="27/09/94")
    box, _ = explorer.children
    assert box.value == "27/09/94"
    box.value = "27/09/94!"  # an unknown character: the error goes to the output area, nothing raises
