"""Chapter 4.4's exported code: attention statistics, alignment scores, counterfactual weights.

(Its interactive figures live in attention_course.plotting: tests/test_plotting.py.)"""

import math
import re

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
    collate_dates,
    greedy_decode,
    max_weight,
    positions_above,
    replace_weights,
    source_fields,
    split_dates,
    step_output_change,
)
from attention_course.interpret import date_alignment


def test_statistics_on_hand_worked_rows():
    rows = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    assert torch.allclose(attention_entropy(rows), torch.tensor([math.log(4), 0.0, math.log(2)]))
    assert str(float(attention_entropy(rows)[1])) == "0.0"  # not -0.0
    assert max_weight(rows).tolist() == [0.25, 1.0, 0.5]
    assert positions_above(rows, 0.1).tolist() == [4, 1, 2]
    assert positions_above(rows.numpy(), 0.3).tolist() == [0, 1, 2]  # arrays work too
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\), got 1.5"):
        positions_above(rows, 1.5)


def test_source_fields_and_date_alignment():
    spans = source_fields("27/09/94", "1994-09-27")
    assert spans == {"day": [0, 1], "month": [3, 4], "year": [6, 7]}
    alignment = date_alignment("27/09/94", "1994-09-27")
    assert alignment.shape == (10, 8) and alignment.dtype == torch.bool
    assert alignment[4].sum() == 0 and alignment[7].sum() == 0  # the two "-"
    assert alignment[0].nonzero().flatten().tolist() == [6, 7]
    assert alignment[9].nonzero().flatten().tolist() == [0, 1]
    assert len(OUTPUT_FIELDS) == 10
    with pytest.raises(ValueError, match="not 1994-09-28 written in one of the 14 formats"):
        source_fields("27/09/94", "1994-09-28")


def test_the_earlier_name_alignment_mask_is_date_alignment():
    assert alignment_mask is date_alignment  # importable from the root and from interpret


def test_alignment_scores_weight_and_hit():
    weights = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    alignment = torch.tensor([[True, True, False], [False, False, False]])
    on_field, hit = alignment_scores(weights, alignment)
    assert math.isclose(float(on_field[0]), 0.5, abs_tol=1e-6) and float(hit[0]) == 0.0
    assert on_field[1].isnan() and hit[1].isnan()
    by_keyword = alignment_scores(weights, alignment=alignment)
    by_old_keyword = alignment_scores(weights, mask=alignment)  # the keyword before issue 14
    for scores in (by_keyword, by_old_keyword):
        assert torch.equal(scores[0][:1], on_field[:1]) and torch.equal(scores[1][:1], hit[:1])
    with pytest.raises(TypeError, match="alignment"):
        alignment_scores(weights)
    with pytest.raises(TypeError, match="not both"):
        alignment_scores(weights, alignment, mask=alignment)


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


def test_replace_weights_gives_zeros_not_nan_where_no_weight_is_left():
    # a row with no real position (every how), and "max removed" on one real position
    mask = torch.tensor([[True, True, False], [False, False, False], [True, False, False]])
    weights = torch.tensor([[0.4, 0.6, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    generator = torch.Generator().manual_seed(0)
    for how in REPLACEMENTS:
        replaced = replace_weights(weights, mask, how, generator)
        assert not replaced.isnan().any(), how
        assert torch.allclose(replaced.sum(-1)[0], torch.tensor(1.0)), how
        assert (replaced[1] == 0).all(), how
    assert (replace_weights(weights, mask, "max removed")[2] == 0).all()
    assert torch.allclose(replace_weights(weights, mask, "uniform")[0], torch.tensor([0.5, 0.5, 0.0]))
    doc = " ".join(replace_weights.__doc__.split())
    assert "all zeros, never NaN" in doc and "one real position" in doc


@pytest.mark.parametrize(("mask", "message"), [
    (torch.tensor([[1, 1, 0]]), r"got torch.int64 of shape \(1, 3\)"),
    (torch.tensor([[1.0, 1.0, 0.0]]), r"got torch.float32 of shape \(1, 3\)"),
    (torch.tensor([[True, True]]), r"shape of weights \(1, 3\), got torch.bool of shape \(1, 2\)"),
])
def test_replace_weights_names_a_mask_that_is_not_bool_of_the_weights_shape(mask, message):
    weights = torch.tensor([[0.5, 0.5, 0.0]])
    for how in REPLACEMENTS:
        with pytest.raises(ValueError, match="mask must be a bool tensor.*" + message):
            replace_weights(weights, mask, how)


@pytest.mark.parametrize(("weights_shape", "alignment"), [
    ((10, 5), torch.ones(10, 6, dtype=torch.bool)),
    ((2, 10, 5), torch.ones(10, 5, dtype=torch.bool)),
    ((10, 5), torch.ones(10, 5, dtype=torch.long)),
])
def test_alignment_scores_names_both_shapes(weights_shape, alignment):
    expected = (f"weights of shape {tuple(weights_shape)} and alignment of shape "
                f"{tuple(alignment.shape)} ({alignment.dtype})")
    with pytest.raises(ValueError, match=re.escape(expected)):
        alignment_scores(torch.rand(*weights_shape), alignment)


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


def test_step_output_change_is_zero_for_the_learned_weights_and_large_for_copying_steps(translator):
    _, _, test = split_dates(20_000, 500, 1_000, seed=0)
    batch = collate_dates(test[:50], translator.source_vocab, translator.target_vocab)
    model = translator.model
    original = model.decoder.attention
    tvd, flip = step_output_change(model, batch, "learned")
    assert tvd.shape == flip.shape == (50, 11) and tvd.abs().max() < 1e-5 and not flip.any()
    assert model.decoder.attention is original  # put back
    tvd, flip = step_output_change(model, batch, "uniform")
    assert ((0 <= tvd) & (tvd <= 1 + 1e-6)).all()
    assert tvd[:, 3].mean() > 0.5 and flip[:, 3].float().mean() > 0.5  # the last year digit
    assert tvd[:, 4].max() < 0.05  # the "-" after the year needs no source character
    tvd, _ = step_output_change(model, batch, "permuted", repeats=5)
    assert tvd[:, 3].mean() > 0.5 and model.decoder.attention is original


# Issue 15: an empty attention map gets a clear error naming the argument.
@pytest.mark.parametrize("weights", [torch.empty(4, 0), torch.empty(2, 3, 0), torch.tensor(0.5), [[], []]])
def test_max_weight_refuses_weights_with_no_source_position(weights):
    with pytest.raises(ValueError, match=r"^weights has shape \(.*T_src >= 1"):
        max_weight(weights)


def test_alignment_scores_refuses_a_map_with_no_source_position():
    with pytest.raises(ValueError, match=r"^weights has shape \(10, 0\): no source position"):
        alignment_scores(torch.empty(10, 0), torch.empty(10, 0, dtype=torch.bool))
    assert positions_above(torch.empty(3, 0)).tolist() == [0, 0, 0]  # a count of nothing is 0: no error


def test_date_scores_normalises_and_checks_its_pairs_like_exact_match():
    from attention_course import Translator, date_scores

    translator = Translator.load()
    vocabs = translator.source_vocab, translator.target_vocab
    typed = [("SEP 27, 1994", "1994-09-27"), ("  sep 27,  1994 ", "1994-09-27")]
    exact, score = date_scores(translator.model, typed, *vocabs)
    assert exact == 1.0 and 0.5 < score <= 1.0
    with pytest.raises(TypeError, match="pairs must be a list of .* got one str"):
        date_scores(translator.model, "27/09/94", *vocabs)
    with pytest.raises(ValueError, match=r"^pairs\[0\]\[0\]: characters outside the vocabulary: \['_'\]"):
        date_scores(translator.model, [("27_09_94", "1994-09-27")], *vocabs)
    with pytest.raises(ValueError, match="^pairs is empty"):
        date_scores(translator.model, [], *vocabs)
