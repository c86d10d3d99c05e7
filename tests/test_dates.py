"""Chapter 4.5's exported code: the date data, vocabulary, batches, decoding, Translator, checkpoint."""

import datetime

import pytest
import torch

from attention_course import (
    DEFAULT_CHECKPOINT,
    FORMATS,
    CharVocab,
    DateEncoder,
    DateSeq2Seq,
    FixedContext,
    Translator,
    beam_search,
    collate_dates,
    date_loader,
    exact_match,
    generate_dates,
    greedy_decode,
    make_attention,
    normalize_source,
    pad_batch,
    render_date,
    sequence_loss,
    split_dates,
    train_dates,
)
from attention_course.tasks.dates import load_checkpoint, translate_batch


@pytest.fixture(scope="module")
def splits():
    return split_dates(2_000, 100, 200, seed=0)


@pytest.fixture(scope="module")
def vocabs(splits):
    train = splits[0]
    return CharVocab.from_texts(s for s, _ in train), CharVocab.from_texts(t for _, t in train)


@pytest.fixture(scope="module")
def shipped():
    return Translator.load()


def test_generate_dates_is_deterministic_for_a_seed():
    assert generate_dates(50, seed=3) == generate_dates(50, seed=3)
    assert generate_dates(50, seed=3) != generate_dates(50, seed=4)
    assert len(generate_dates(7)) == 7


def test_at_least_eight_formats_all_used_and_distinct():
    assert len(FORMATS) >= 8
    day = datetime.date(1994, 9, 27)
    rendered = {normalize_source(render_date(day, fmt)[0]) for fmt in FORMATS}
    assert len(rendered) == len(FORMATS)
    assert {"september 27, 1994", "27/09/94", "tue 27 sep 1994", "1994.9.27", "1994-09-27"} <= rendered
    pairs = generate_dates(3_000, seed=0)  # every format is used: some source is the target in it
    for fmt in FORMATS:
        assert any(normalize_source(render_date(datetime.date.fromisoformat(t), fmt)[0]) == s
                   for s, t in pairs), fmt


def test_the_formats_people_type_are_covered():
    """ISO input, with and without a weekday, two- and four-digit years; numbers day first."""
    assert "{yyyy}-{mm}-{dd}" in FORMATS
    weekday = [f for f in FORMATS if "{weekday}" in f or "{Wkd}" in f]
    assert weekday and len(weekday) < len(FORMATS)
    assert any("{yy}" in f for f in FORMATS) and any("{yyyy}" in f for f in FORMATS)
    for fmt in FORMATS:  # day before month whenever the year comes last
        if fmt.index("{y") > 0 and ("{d" in fmt and ("{m}" in fmt or "{mm}" in fmt)):
            assert fmt.index("{d") < fmt.index("{m"), fmt
    assert render_date(datetime.date(2005, 4, 3), "{dd}/{mm}/{yy}")[0] == "03/04/05"


@pytest.mark.parametrize("typed", ["SEPTEMBER 27, 1994", "September 27, 1994", "  september 27,  1994 ",
                                   "september\t27,\u00a01994", "\nseptember 27, 1994\n"])
def test_normalize_source_removes_case_and_spacing_only(typed):
    assert normalize_source(typed) == "september 27, 1994"
    assert normalize_source("27.09.1994") == "27.09.1994"  # punctuation is kept
    assert normalize_source(" \t ") == ""


def test_generated_sources_are_normalised():
    for source, _ in generate_dates(2_000, seed=2):
        assert source == normalize_source(source)


def test_targets_are_the_same_day_as_the_source():
    for source, target in generate_dates(3_000, seed=1):
        day = datetime.date.fromisoformat(target)  # raises if not YYYY-MM-DD
        assert datetime.date(1950, 1, 1) <= day <= datetime.date(2049, 12, 31)
        assert source in {normalize_source(render_date(day, fmt)[0]) for fmt in FORMATS}, (source, target)


def test_years_are_spread_over_the_century():
    years = {int(t[:4]) for _, t in generate_dates(5_000, seed=0)}
    assert min(years) < 1955 and max(years) > 2044 and len(years) > 90


def test_render_date_records_the_characters_of_each_field():
    text, spans = render_date(datetime.date(2021, 3, 3), "{weekday}, {month} {d}, {yyyy}")
    assert text == "wednesday, march 3, 2021"
    assert "".join(text[i] for i in spans["year"]) == "2021"
    assert "".join(text[i] for i in spans["month"]) == "march"
    assert "".join(text[i] for i in spans["day"]) == "3"
    assert "".join(text[i] for i in spans["weekday"]) == "wednesday"


def test_splits_never_share_a_source_string(splits):
    train, val, test = splits
    assert (len(train), len(val), len(test)) == (2_000, 100, 200)
    sets = [{s for s, _ in split} for split in splits]
    assert sum(map(len, sets)) == 2_300  # no repeats inside a split either
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert split_dates(2_000, 100, 200, seed=0) == splits


def test_vocabulary_specials_and_round_trip(vocabs):
    source_vocab, target_vocab = vocabs
    assert source_vocab.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (source_vocab.pad, source_vocab.sos, source_vocab.eos, source_vocab.unk) == (0, 1, 2, 3)
    assert len(target_vocab) == 4 + 11  # digits and "-"
    ids = target_vocab.encode("1994-09-27", sos=True, eos=True)
    assert ids[0] == 1 and ids[-1] == 2 and target_vocab.decode(ids) == "1994-09-27"
    assert target_vocab.decode(ids + [5, 6]) == "1994-09-27"  # stops at <eos>
    assert source_vocab.encode("1!") == [source_vocab.stoi["1"], source_vocab.unk]
    assert source_vocab.unknown("a!b?!") == ["!", "?"]
    assert CharVocab(source_vocab.itos).itos == source_vocab.itos


def test_batches_are_padded_with_a_source_mask(vocabs):
    source_vocab, target_vocab = vocabs
    pairs = [("19940927", "1994-09-27"), ("tuesday, september 27, 1994", "1994-09-27")]
    batch = collate_dates(pairs, source_vocab, target_vocab)
    assert batch.source.shape == batch.source_mask.shape == (2, 27)
    assert batch.source_mask.dtype == torch.bool
    assert batch.source_mask.sum(1).tolist() == [8, 27]
    assert (batch.source[0, 8:] == source_vocab.pad).all()
    assert batch.decoder_input.shape == batch.target.shape == (2, 11)
    assert (batch.decoder_input[:, 0] == target_vocab.sos).all()
    assert (batch.target[:, -1] == target_vocab.eos).all()
    assert torch.equal(batch.decoder_input[:, 1:], batch.target[:, :-1])


def hand_padded(sequences, pad_id):
    """The course's hand-written pad before it used torch's pad_sequence: the reference."""
    longest = max(len(s) for s in sequences)
    return torch.tensor([s + [pad_id] * (longest - len(s)) for s in sequences], dtype=torch.long)


def test_pad_sequence_gives_the_same_batches_as_the_hand_written_pad(splits, vocabs):
    source_vocab, target_vocab = vocabs
    assert torch.equal(pad_batch([[5, 6, 7], [8], []], 0), hand_padded([[5, 6, 7], [8], []], 0))
    assert torch.equal(pad_batch([[1, 2]], 9), torch.tensor([[1, 2]]))
    batches = 0
    for pairs in (splits[0][i:i + 64] for i in range(0, 2_000, 64)):  # every training batch
        batch = collate_dates(pairs, source_vocab, target_vocab)
        source_ids = [source_vocab.encode(s) for s, _ in pairs]
        target_ids = [target_vocab.encode(t, sos=True, eos=True) for _, t in pairs]
        expected_source = hand_padded(source_ids, source_vocab.pad)
        assert torch.equal(batch.source, expected_source) and batch.source.dtype == torch.long
        assert torch.equal(batch.source_mask, expected_source != source_vocab.pad)
        assert torch.equal(batch.decoder_input, hand_padded([ids[:-1] for ids in target_ids], 0))
        assert torch.equal(batch.target, hand_padded([ids[1:] for ids in target_ids], 0))
        batches += 1
    assert batches == 32
    with pytest.raises(ValueError, match="at least one sequence"):
        pad_batch([], 0)


def test_the_encoder_needs_an_even_hidden_size():
    with pytest.raises(ValueError, match="must be even, got 33"):
        DateEncoder(10, 8, hidden_size=33)
    with pytest.raises(ValueError, match="must be even"):
        DateSeq2Seq(10, 10, hidden_size=7)


def test_loader_gives_batches_in_a_seeded_order(splits, vocabs):
    first = next(iter(date_loader(splits[0], *vocabs, batch_size=16, seed=5)))
    again = next(iter(date_loader(splits[0], *vocabs, batch_size=16, seed=5)))
    assert first.source.shape[0] == 16 and torch.equal(first.source, again.source)


def test_loss_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    target = torch.tensor([[4, 2, 0], [4, 5, 2]])
    changed = logits.clone()
    changed[0, 2] += 50
    assert torch.equal(sequence_loss(logits, target), sequence_loss(changed, target))


def test_attention_kinds_and_the_fixed_context_baseline(vocabs):
    with pytest.raises(ValueError, match="attention must be one of .*got 'luong'"):
        make_attention("luong", 8)
    torch.manual_seed(0)
    keys, mask = torch.randn(2, 5, 8), torch.tensor([[True] * 5, [True, True, True, False, False]])
    context, weights = FixedContext(8, 8)(torch.randn(2, 8), keys, mask)
    assert torch.allclose(weights[1], torch.tensor([1 / 3] * 3 + [0.0, 0.0]))
    assert torch.allclose(context[1], keys[1, :3].mean(0), atol=1e-6)


def test_beam_one_equals_greedy_and_beams_score_log_probabilities(splits, vocabs):
    source_vocab, target_vocab = vocabs
    torch.manual_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab), hidden_size=32).eval()  # untrained: uncertain
    batch = collate_dates(splits[2][:20], source_vocab, target_vocab)
    greedy, greedy_weights = greedy_decode(model, batch.source, batch.source_mask)
    for i in range(20):
        T = int(batch.source_mask[i].sum())
        src, msk = batch.source[i:i + 1, :T], batch.source_mask[i:i + 1, :T]
        tokens, weights, score1 = beam_search(model, src, msk, beam_size=1)
        assert torch.equal(tokens, greedy[i, :len(tokens)])
        assert torch.allclose(weights, greedy_weights[i, :len(tokens), :T], atol=1e-6)
        tokens4, _, score4 = beam_search(model, src, msk, beam_size=4)
        for found, score in [(tokens, score1), (tokens4, score4)]:  # score = the sequence's log-probability
            decoder_input = torch.cat([torch.tensor([target_vocab.sos]), found[:-1]]).unsqueeze(0)
            with torch.no_grad():
                logits, _ = model(src, msk, decoder_input)  # (1, L, V)
            log_probability = logits.log_softmax(-1)[0, torch.arange(len(found)), found].sum()
            assert abs(float(log_probability) - score) < 1e-4
    with pytest.raises(ValueError, match=r"one source at a time: \(1, T_src\), got \(2, "):
        beam_search(model, batch.source[:2], batch.source_mask[:2])


def test_training_reduces_the_loss(splits, vocabs):
    torch.manual_seed(0)
    model = DateSeq2Seq(len(vocabs[0]), len(vocabs[1]), hidden_size=32)
    loader = date_loader(splits[0], *vocabs, batch_size=32)
    history = train_dates(model, loader, splits[1][:50], *vocabs, steps=30, eval_every=15, progress=False)
    assert sum(history["loss"][-5:]) / 5 < 0.6 * sum(history["loss"][:5]) / 5
    assert history["val_step"] == [15, 30] and len(history["val_seconds"]) == 2


def test_translator_errors(shipped):
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['!', '\?'\]"):
        shipped.translate("27 Sep 1994!?")
    with pytest.raises(ValueError, match="non-empty"):
        shipped.translate("")
    with pytest.raises(ValueError, match="non-empty"):
        shipped.attention("")
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['Q'\] in 'Q'.*case is ignored"):
        shipped.attention("Q")


@pytest.mark.parametrize(("beam_size", "error"), [(0, ValueError), (-2, ValueError), (2.0, TypeError),
                                                 ("3", TypeError), (True, TypeError)])
def test_every_entry_of_beam_size_checks_it(shipped, beam_size, error):
    message = f"beam_size must be an int >= 1.*got {beam_size!r}"
    with pytest.raises(error, match=message):
        shipped.translate("Tue 27 Sep 1994", beam_size=beam_size)
    source, mask = shipped.encode("Tue 27 Sep 1994")
    with pytest.raises(error, match=message):
        beam_search(shipped.model, source, mask, beam_size=beam_size)
    vocabs = shipped.source_vocab, shipped.target_vocab
    with pytest.raises(error, match=message):
        translate_batch(shipped.model, ["Tue 27 Sep 1994"], *vocabs, beam_size=beam_size)
    with pytest.raises(error, match=message):
        exact_match(shipped.model, [("Tue 27 Sep 1994", "1994-09-27")], *vocabs, beam_size=beam_size)


def test_missing_checkpoint_names_its_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.pt"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Translator.load(missing)


def test_wrong_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"format": "something else"}, path)
    with pytest.raises(ValueError, match="not a date-model checkpoint"):
        Translator.load(path)


def test_save_load_round_trip(tmp_path, vocabs):
    source_vocab, target_vocab = vocabs
    torch.manual_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab), hidden_size=32, attention="luong-general")
    translator = Translator(model, source_vocab, target_vocab)
    path = tmp_path / "dates.pt"
    translator.save(path)
    reloaded = Translator.load(path)
    assert reloaded.model.config == model.config
    assert reloaded.source_vocab.itos == source_vocab.itos and reloaded.target_vocab.itos == target_vocab.itos
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.model.state_dict()[name]), name
    texts = ["Tue 27 Sep 1994", "03/04/05"]  # the raw outputs: an untrained model writes no date
    assert translate_batch(reloaded.model, texts, *vocabs) == translate_batch(model, texts, *vocabs)


def test_shipped_checkpoint_loads_and_scores(shipped):
    assert DEFAULT_CHECKPOINT.is_file() and DEFAULT_CHECKPOINT.stat().st_size < 2_000_000
    _, _, test = split_dates(20_000, 500, 1_000, seed=0)  # the split it was trained on (make checkpoints)
    score = exact_match(shipped.model, test[:400], shipped.source_vocab, shipped.target_vocab)
    assert score >= 0.99
    assert shipped.translate("Tue 27 Sep 1994") == "1994-09-27"
    assert shipped.translate("Tue 27 Sep 1994", beam_size=3) == "1994-09-27"


def test_attention_of_any_input(shipped):
    source_tokens, output_tokens, weights = shipped.attention("27/09/94")
    assert source_tokens == list("27/09/94") and "".join(output_tokens) == "1994-09-27"
    assert weights.shape == (len(output_tokens), len(source_tokens))
    assert abs(weights.sum(1) - 1).max() < 1e-5


def test_batches_and_the_translator_move_to_a_device(vocabs, shipped):
    batch = collate_dates([("27/09/94", "1994-09-27")], *vocabs)
    moved = batch.to("cpu")
    assert type(moved) is type(batch) and all(torch.equal(a, b) for a, b in zip(moved, batch, strict=True))
    translator = Translator.load(device="cpu")
    assert translator.device == torch.device("cpu") and shipped.device == torch.device("cpu")
    source, mask = translator.encode("27/09/94")
    assert source.device == translator.device and mask.dtype == torch.bool
    _, _, weights = translator.attention("27/09/94")
    assert weights.shape == (10, 8)  # a NumPy array on the CPU


# Issue 15: bad input gets a clear error naming the argument, never a wrong answer.
# Each test below tries inputs other than the examples.

VALID = ["Tue 27 Sep 1994", "1 January 2000", "03/04/05"]


def vocabs_of(translator):
    return translator.source_vocab, translator.target_vocab


@pytest.mark.parametrize("beam_size", [1, 2])
def test_an_empty_source_in_a_batch_is_named_by_its_position(shipped, beam_size):
    with pytest.raises(ValueError, match=r"^sources\[2\]: expected a non-empty date string, got ''"):
        translate_batch(shipped.model, [*VALID[:2], "", "1950.1.1"], *vocabs_of(shipped), beam_size=beam_size)
    with pytest.raises(ValueError, match=r"^pairs\[1\]\[0\]: expected a non-empty"):
        exact_match(shipped.model, [("27/09/94", "1994-09-27"), ("", "1994-09-27")], *vocabs_of(shipped))


def test_empty_batches(shipped):
    vocabs = vocabs_of(shipped)
    assert translate_batch(shipped.model, [], *vocabs) == []  # nothing to translate: nothing out
    assert translate_batch(shipped.model, (), *vocabs, beam_size=3) == []
    for empty in ([], (), iter([])):
        with pytest.raises(ValueError, match="^pairs is empty"):
            exact_match(shipped.model, empty, *vocabs)
    with pytest.raises(ValueError, match="^pairs is empty"):
        collate_dates([], *vocabs)
    with pytest.raises(ValueError, match=r"^pairs\[1\] has an empty source ''"):
        collate_dates([("27/09/94", "1994-09-27"), ("", "1994-09-27")], *vocabs)
    with pytest.raises(ValueError, match="^sequences is empty"):
        pad_batch((), 0)


def test_an_empty_source_row_is_refused_before_packing(shipped):
    batch = collate_dates([("27/09/94", "1994-09-27"), ("19940927", "1994-09-27")], *vocabs_of(shipped))
    mask = batch.source_mask.clone()
    mask[1] = False  # the second source has no real character
    with pytest.raises(ValueError, match=r"^source_mask rows \[1\] have no True"):
        greedy_decode(shipped.model, batch.source, mask)
    with pytest.raises(ValueError, match=r"^source_mask rows \[0\] have no True"):
        beam_search(shipped.model, batch.source[1:], mask[1:], beam_size=2)
    with pytest.raises(ValueError, match=r"^source is an empty batch, shape \(0, 8\)"):
        greedy_decode(shipped.model, batch.source[:0], batch.source_mask[:0])
    with pytest.raises(ValueError, match="source_mask rows"):
        shipped.model(batch.source, mask, batch.decoder_input)


@pytest.mark.parametrize(("max_length", "error"), [(0, ValueError), (-4, ValueError), (1.5, TypeError),
                                                  ("12", TypeError), (False, TypeError), (None, TypeError)])
def test_every_entry_of_max_length_checks_it(shipped, max_length, error):
    message = f"^max_length must be an int >= 1.*got {max_length!r}"
    source, mask = shipped.encode("Tue 27 Sep 1994")
    calls = [
        lambda: greedy_decode(shipped.model, source, mask, max_length=max_length),
        lambda: beam_search(shipped.model, source, mask, beam_size=2, max_length=max_length),
        lambda: translate_batch(shipped.model, VALID, *vocabs_of(shipped), max_length=max_length),
        lambda: translate_batch(shipped.model, VALID, *vocabs_of(shipped), beam_size=2,
                                max_length=max_length),
        lambda: shipped.translate("Tue 27 Sep 1994", max_length=max_length),
        lambda: shipped.attention("Tue 27 Sep 1994", max_length=max_length),
    ]
    for call in calls:
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize(("batch_size", "error"), [(0, ValueError), (-1, ValueError), (64.0, TypeError)])
def test_batch_size_is_checked(shipped, batch_size, error):
    with pytest.raises(error, match=f"^batch_size must be an int >= 1.*got {batch_size!r}"):
        translate_batch(shipped.model, VALID, *vocabs_of(shipped), batch_size=batch_size)


def test_a_short_max_length_cuts_every_entry_the_same_way(shipped):
    outputs = translate_batch(shipped.model, VALID, *vocabs_of(shipped), batch_size=2, max_length=4)
    assert outputs == ["1994", "2000", "2005"]
    for text, output in zip(VALID, outputs, strict=True):  # translate never returns a part of a date
        expected = f"the model wrote '{output}' and had not finished after max_length=4"
        with pytest.raises(ValueError, match=expected):
            shipped.translate(text, max_length=4)
    _, output_tokens, weights = shipped.attention("1 January 2000", max_length=7)
    assert output_tokens == list("2000-01") and weights.shape == (7, 14)
    assert translate_batch(shipped.model, VALID, *vocabs_of(shipped), batch_size=1) == [
        shipped.translate(s) for s in VALID]


@pytest.mark.parametrize(("text", "unknown"), [("27|09|1994", ["|"]), ("1994–09–27", ["–"]),
                                               ("Tue 27 Sep 1994 ✓", ["✓"]),
                                               ("Quick: 4 Qtr 1994", ["Q", "k", ":"])])
def test_the_batch_api_refuses_what_translate_refuses_with_the_same_message(shipped, text, unknown):
    with pytest.raises(ValueError, match="outside the vocabulary") as single:
        shipped.translate(text)
    assert str(unknown) in str(single.value)
    with pytest.raises(ValueError) as batch:
        translate_batch(shipped.model, [VALID[0], text], *vocabs_of(shipped))
    assert str(batch.value) == f"sources[1]: {single.value}"
    with pytest.raises(ValueError) as beam:
        translate_batch(shipped.model, [text], *vocabs_of(shipped), beam_size=2)
    assert str(beam.value) == f"sources[0]: {single.value}"
    with pytest.raises(ValueError) as pairs:
        exact_match(shipped.model, [("27/09/94", "1994-09-27"), (text, "1994-09-27")], *vocabs_of(shipped))
    assert str(pairs.value) == f"pairs[1][0]: {single.value}"


def test_one_string_or_a_wrong_item_instead_of_a_list_is_refused(shipped):
    vocabs = vocabs_of(shipped)
    with pytest.raises(TypeError, match=r"^sources must be a list of date strings, got one str 'Tue 27"):
        translate_batch(shipped.model, "Tue 27 Sep 1994", *vocabs)
    with pytest.raises(TypeError, match=r"^sources must be a list of date strings, got int"):
        translate_batch(shipped.model, 19940927, *vocabs)
    with pytest.raises(TypeError, match=r"^sources\[1\] must be a date string, got int 19940927"):
        translate_batch(shipped.model, ["27/09/94", 19940927], *vocabs)
    with pytest.raises(TypeError, match=r"^pairs must be a list of \(source, target\) pairs, got one str"):
        exact_match(shipped.model, "27/09/94", *vocabs)
    # one pair, not a list of pairs
    with pytest.raises(TypeError, match=r"^pairs\[0\] must be a \(source, target\) pair of strings, got str"):
        exact_match(shipped.model, ("27/09/94", "1994-09-27"), *vocabs)
    with pytest.raises(TypeError, match=r"^pairs\[1\] must be a \(source, target\) pair"):
        exact_match(shipped.model, [("27/09/94", "1994-09-27"), ("27/09/94", "1994-09-27", "x")], *vocabs)
    with pytest.raises(TypeError, match=r"^pairs\[0\]\[0\] must be a date string, got bytes"):
        exact_match(shipped.model, [(b"27/09/94", "1994-09-27")], *vocabs)
    for method in (shipped.translate, shipped.attention, shipped.encode):
        with pytest.raises(TypeError, match="^text must be a date string, got bytes"):
            method(b"27/09/94")


def test_the_checks_keep_the_right_answers(shipped):
    pairs = [("Tue 27 Sep 1994", "1994-09-27"), ("1 January 2000", "2000-01-01"), ("03/04/05", "2005-04-03")]
    assert translate_batch(shipped.model, [s for s, _ in pairs], *vocabs_of(shipped)) == [t for _, t in pairs]
    assert exact_match(shipped.model, pairs, *vocabs_of(shipped)) == 1.0
    assert exact_match(shipped.model, pairs[:2] + [("03/04/05", "2005-03-04")], *vocabs_of(shipped)) == 2 / 3


def test_attention_labels_each_row_with_the_token_written_at_that_step(shipped, monkeypatch):
    """A model still in training writes special tokens: each keeps its row, under its name."""
    import attention_course.tasks.dates as dates

    itos = shipped.target_vocab.itos
    written = [itos.index("1"), 3, 0, 1, itos.index("9"), 2, itos.index("4")]  # <unk> <pad> <sos>, then <eos>
    weights = torch.softmax(torch.randn(1, len(written), 8, generator=torch.Generator().manual_seed(0)), -1)

    def fake_greedy(model, source, source_mask, sos_id, eos_id, max_length=12):
        return torch.tensor([written]), weights

    monkeypatch.setattr(dates, "greedy_decode", fake_greedy)
    source_tokens, output_tokens, rows = shipped.attention("27/09/94")
    assert output_tokens == ["1", "<unk>", "<pad>", "<sos>", "9"]  # up to the first <eos>, which has no row
    assert rows.shape == (5, 8) and torch.equal(torch.from_numpy(rows), weights[0, :5])
    written[5] = itos.index("-")  # no <eos>: every step keeps its row
    _, output_tokens, rows = shipped.attention("27/09/94")
    assert output_tokens == ["1", "<unk>", "<pad>", "<sos>", "9", "-", "4"] and rows.shape == (7, 8)


def test_an_untrained_translator_gives_one_label_per_row(vocabs):
    torch.manual_seed(3)
    translator = Translator(DateSeq2Seq(len(vocabs[0]), len(vocabs[1]), hidden_size=16), *vocabs)
    for text in ["27/09/94", "wednesday, march 3, 2021"]:
        source_tokens, output_tokens, weights = translator.attention(text)
        source, mask = translator.encode(text)
        tokens, _ = greedy_decode(translator.model, source, mask)
        ids = tokens[0].tolist()
        steps = ids.index(2) if 2 in ids else len(ids)
        assert output_tokens == [vocabs[1].itos[i] for i in ids[:steps]]
        assert weights.shape == (len(output_tokens), len(source_tokens)) == (steps, len(text))


class NotAllowed:
    """A Python object that torch.load(weights_only=True) refuses to rebuild."""


def not_checkpoints(tmp_path, shipped):
    files = {"empty.pt": b"", "notes.txt": b"27/09/94 -> 1994-09-27\n", "noise.pt": bytes(range(256)) * 4,
             "half.pt": DEFAULT_CHECKPOINT.read_bytes()[:100_000]}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save(NotAllowed(), tmp_path / "object.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save(shipped.model.state_dict(), tmp_path / "state_dict.pt")  # the weights alone
    partial = {"format": "attention_course.dates/1", "config": shipped.model.config}  # no weights
    torch.save(partial, tmp_path / "partial.pt")
    return sorted(tmp_path.iterdir())


def test_a_file_that_is_not_a_checkpoint_is_named_and_refused_safely(tmp_path, shipped):
    paths = not_checkpoints(tmp_path, shipped)
    assert len(paths) == 8
    for path in paths:
        for load in (load_checkpoint, Translator.load):
            expected = f"^{path}.* date-model checkpoint.*expected a file written by save_checkpoint"
            with pytest.raises(ValueError, match=expected) as error:
                load(path)
            assert "weights_only=False" not in str(error.value)  # torch's unsafe advice is not passed on
            # nor shown in the traceback: no exception of torch's chained to the course's
            assert error.value.__cause__ is None
            assert error.value.__context__ is None or error.value.__suppress_context__


def test_the_translator_builds_its_tensors_on_the_models_device(shipped, monkeypatch):
    """No GPU here: a fake device ("meta") shows where encode puts its tensors."""
    monkeypatch.setattr(Translator, "device", property(lambda self: torch.device("meta")))
    source, mask = shipped.encode("27/09/94")
    assert source.device.type == "meta" and mask.device.type == "meta"


class OnDevice(torch.Tensor):
    """A tensor that behaves like one on a GPU: .numpy() fails until .cpu() is called."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.numpy:
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu()")
        result = super().__torch_function__(func, types, args, kwargs or {})
        return result.as_subclass(torch.Tensor) if func is torch.Tensor.cpu else result


def test_attention_moves_the_weights_to_the_cpu_before_numpy(shipped, monkeypatch):
    import attention_course.tasks.dates as dates

    real = dates.greedy_decode

    def on_device(*args, **kwargs):
        tokens, weights = real(*args, **kwargs)
        return tokens.as_subclass(OnDevice), weights.as_subclass(OnDevice)

    with pytest.raises(TypeError, match="cpu"):  # the fake is faithful: numpy() alone fails
        on_device(shipped.model, *shipped.encode("27/09/94"))[1].numpy()
    monkeypatch.setattr(dates, "greedy_decode", on_device)
    _, output_tokens, weights = shipped.attention("27/09/94")
    assert "".join(output_tokens) == "1994-09-27" and weights.shape == (10, 8)


def test_translate_batch_decodes_on_the_models_device(shipped, monkeypatch):
    import attention_course.tasks.dates as dates

    class OnMeta(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.empty(1, device="meta"))

    seen = []

    def fake_greedy(model, source, source_mask, sos_id, eos_id, max_length=12):
        seen.append((source.device.type, source_mask.device.type))
        return torch.full((source.shape[0], 1), eos_id), None

    monkeypatch.setattr(dates, "greedy_decode", fake_greedy)
    assert translate_batch(OnMeta(), VALID, *vocabs_of(shipped)) == ["", "", ""]
    assert seen == [("meta", "meta")]


# --- The Translator on the dates people type (issue 15) ---------------------------------------

def test_the_shipped_model_reads_every_format_typed_in_every_case_and_spacing(shipped):
    """Exact match per format on 200 fresh dates each (no training source), typed in every style."""
    import importlib.util
    from pathlib import Path

    from attention_course.tasks.dates import CASE_STYLES, SPACINGS, exact_match_by_format

    path = Path(__file__).parents[1] / "tools" / "make_checkpoints.py"  # the split it trains on
    spec = importlib.util.spec_from_file_location("make_checkpoints", path)
    make_checkpoints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_checkpoints)
    train, _, _ = split_dates(**make_checkpoints.SPLIT)
    by_format = exact_match_by_format(shipped.model, *vocabs_of(shipped), n=200,
                                      exclude={s for s, _ in train})
    assert list(by_format) == FORMATS
    assert min(by_format.values()) >= 0.99, by_format
    typed = {spacing(case("Tue 27 sep 1994"))
             for case in CASE_STYLES.values() for spacing in SPACINGS.values()}
    assert len(typed) == 12 and {normalize_source(t) for t in typed} == {"tue 27 sep 1994"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_translate_answers_typed_dates_of_every_format(shipped, fmt):
    """The product path: normalising, checking the input and the answer, on a few typed dates."""
    for i, day in enumerate([datetime.date(1950, 1, 1), datetime.date(1999, 12, 31),
                             datetime.date(2024, 2, 29), datetime.date(2049, 12, 31)]):
        text = render_date(day, fmt)[0]
        typed = [text.upper(), text.lower(), text.title(), f"  {text.replace(' ', '   ')}  "][i]
        assert shipped.translate(typed) == day.isoformat(), typed


@pytest.mark.parametrize("text", ["31/04/1994", "29 feb 2001", "30.02.2020", "2023.2.29", "june 31, 1987",
                                  "20010229"])
def test_impossible_dates_are_refused_never_answered(shipped, text):
    with pytest.raises(ValueError, match=f"^no date for {text!r}: the model wrote '.*'"):
        shipped.translate(text)


@pytest.mark.parametrize(("text", "year"), [("27 September 2150", "2150"), ("12/03/1949", "1949"),
                                            ("20500101", "2050"), ("1066-10-14", "1066"),
                                            ("Jan 1, 3000", "3000")])
def test_a_four_digit_year_outside_the_range_is_refused_before_the_model(shipped, text, year, monkeypatch):
    monkeypatch.setattr(shipped.model, "forward", None)  # the model must not run
    expected = f"the year {year} in {text!r} is outside the supported range 1950-2049"
    with pytest.raises(ValueError, match=expected):
        shipped.translate(text)
    with pytest.raises(ValueError, match=r"^sources\[0\]: (eight digits are read as yyyymmdd: )?the year"):
        translate_batch(shipped.model, [text], *vocabs_of(shipped))


@pytest.mark.parametrize(("text", "expected"), [("1/1/1950", "1950-01-01"),
                                                ("31 december 2049", "2049-12-31"),
                                                ("1/1/50", "1950-01-01"), ("31/12/49", "2049-12-31")])
def test_the_ends_of_the_range_are_answered(shipped, text, expected):
    assert shipped.translate(text) == expected


@pytest.mark.parametrize("text", ["\t", " \u00a0 ", "\n\n"])
def test_whitespace_only_is_refused(shipped, text):
    with pytest.raises(ValueError, match="nothing but whitespace"):
        shipped.translate(text)
    with pytest.raises(ValueError, match=r"^sources\[1\]: .*nothing but whitespace"):
        translate_batch(shipped.model, ["27/09/94", text], *vocabs_of(shipped))


@pytest.mark.parametrize(("text", "reason"), [
    ("Friday, march 3, 2021", "'friday' does not name 2021-03-03, a wednesday"),
    ("Sunday 1 January 2001", "'sunday' does not name 2001-01-01, a monday")])
def test_an_answer_that_disagrees_with_the_input_is_refused(shipped, text, reason):
    with pytest.raises(ValueError, match=f"^no date for {text!r}: the model wrote .*{reason}"):
        shipped.translate(text)


@pytest.mark.parametrize(("written", "reason"), [("1994-13-01", "not a calendar date"),
                                                 ("1994-09-2", "not a calendar date"),
                                                 ("2050-01-01", "not a calendar date of 1950-2049"),
                                                 ("1994-09-28", "are not the day, month and year of"),
                                                 ("1994-10-27", "'sep' is not month 10")])
def test_translate_checks_whatever_the_model_writes(shipped, monkeypatch, written, reason):
    """The answer check, with the model's output forced: a wrong date never gets out."""
    import attention_course.tasks.dates as dates

    ids = torch.tensor(shipped.target_vocab.encode(written, eos=True))
    monkeypatch.setattr(dates, "beam_search", lambda *args, **kwargs: (ids, None, 0.0))
    expected = f"^no date for '27 Sep 1994': the model wrote {written!r}.*{reason}"
    with pytest.raises(ValueError, match=expected):
        shipped.translate("27 Sep 1994")


def test_the_batch_api_normalises_as_the_translator_does(shipped):
    typed = ["  TUE 27 SEP 1994 ", "Tue 27 Sep 1994", "tue\t27  sep 1994"]
    assert translate_batch(shipped.model, typed, *vocabs_of(shipped)) == ["1994-09-27"] * 3
    assert exact_match(shipped.model, [(t, "1994-09-27") for t in typed], *vocabs_of(shipped)) == 1.0
    source, output, weights = shipped.attention("  TUE 27 SEP 1994 ")
    assert "".join(source) == "tue 27 sep 1994" and weights.shape == (10, 15)


# --- Luong's decoder in the date model (issue 16) ------------------------------------
LUONG_VARIANTS = [("luong", "luong-dot"), ("luong", "luong-general"), ("luong", "bahdanau"),
                  ("luong", "local-p-general"), ("luong", "local-p-dot"), ("luong", "none")]


@pytest.mark.parametrize("decoder, kind", LUONG_VARIANTS)
def test_luong_decoders_forward_shapes_and_masks(splits, vocabs, decoder, kind):
    from attention_course.luong import LuongDecoder
    source_vocab, target_vocab = vocabs
    torch.manual_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab), hidden_size=16,
                        attention=kind, decoder=decoder)
    assert isinstance(model.decoder, LuongDecoder) and model.config["decoder"] == "luong"
    batch = collate_dates(splits[2][:8], source_vocab, target_vocab)
    logits, weights = model(batch.source, batch.source_mask, batch.decoder_input)
    B, T_src = batch.source.shape
    assert logits.shape == (B, 11, len(target_vocab)) and weights.shape == (B, 11, T_src)
    assert (weights.masked_select(~batch.source_mask[:, None, :]) == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(B, 11), atol=1e-5)


@pytest.mark.parametrize("kind", ["luong-general", "local-p-general"])
def test_luong_decoder_beam_one_equals_greedy(splits, vocabs, kind):
    source_vocab, target_vocab = vocabs
    torch.manual_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab), hidden_size=16, attention=kind,
                        decoder="luong").eval()
    batch = collate_dates(splits[2][:10], source_vocab, target_vocab)
    greedy, greedy_weights = greedy_decode(model, batch.source, batch.source_mask)
    for i in range(10):
        T = int(batch.source_mask[i].sum())
        src, msk = batch.source[i:i + 1, :T], batch.source_mask[i:i + 1, :T]
        tokens, weights, score = beam_search(model, src, msk, beam_size=1)
        assert torch.equal(tokens, greedy[i, :len(tokens)])
        assert torch.allclose(weights, greedy_weights[i, :len(tokens), :T], atol=1e-6)
        decoder_input = torch.cat([torch.tensor([target_vocab.sos]), tokens[:-1]])[None]
        with torch.no_grad():
            logits, _ = model(src, msk, decoder_input)  # teacher forcing on the same tokens
        log_probability = logits.log_softmax(-1)[0, torch.arange(len(tokens)), tokens].sum()
        assert abs(float(log_probability) - score) < 1e-4
        tokens4, _, score4 = beam_search(model, src, msk, beam_size=4)
        assert score4 >= score - 1e-6  # a wider beam finds nothing less probable


def test_luong_decoder_save_load_round_trip(tmp_path, vocabs):
    source_vocab, target_vocab = vocabs
    torch.manual_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab), hidden_size=16,
                        attention="local-p-general", decoder="luong")
    path = tmp_path / "luong.pt"
    Translator(model, source_vocab, target_vocab).save(path)
    reloaded = Translator.load(path)
    assert reloaded.model.config == model.config
    assert type(reloaded.model.decoder) is type(model.decoder)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.model.state_dict()[name]), name
    texts = ["Tue 27 Sep 1994", "03/04/05"]
    assert translate_batch(reloaded.model, texts, *vocabs) == translate_batch(model, texts, *vocabs)
    source, output, weights = reloaded.attention("27 Sep 1994")
    assert weights.shape == (len(output), len(source))


def test_the_default_decoder_and_old_checkpoints_are_unchanged(shipped):
    from attention_course.bahdanau import AttentionDecoder
    checkpoint = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    assert "decoder" not in checkpoint["config"]  # made before the argument existed
    assert shipped.model.config == checkpoint["config"]  # the same config, rebuilt
    assert type(shipped.model.decoder) is AttentionDecoder
    default = DateSeq2Seq(41, 15, attention="luong-general")  # exercise 4.1's meaning
    assert type(default.decoder) is AttentionDecoder and "decoder" not in default.config
    state = torch.randn(2, 64)
    assert default.decoder.initial_state(state) is state  # Bahdanau's: s_0 itself
    assert shipped.translate("Tue 27 Sep 1994") == "1994-09-27"


def test_bad_decoder_arguments_are_refused():
    with pytest.raises(ValueError, match="decoder must be one of bahdanau, luong; got 'luong-p'"):
        DateSeq2Seq(41, 15, decoder="luong-p")
    with pytest.raises(ValueError, match="needs Luong's decoder.*decoder='luong'"):
        DateSeq2Seq(41, 15, attention="local-p-general")
    with pytest.raises(ValueError, match="attention must be one of .*local-p-dot.*got 'local'"):
        DateSeq2Seq(41, 15, attention="local", decoder="luong")
    assert isinstance(make_attention("local-p-dot", 8), torch.nn.Module)


# --- Incomplete or swapped input is refused, whatever the model writes (review of issue 15) ---

@pytest.mark.parametrize(("text", "written", "reason"), [
    ("september 1994", "1994-09-09", "a date needs a year, a month and a day"),
    ("1994-09", "1994-09-09", "a date needs a year, a month and a day"),
    ("27 september", "2022-09-27", "a date needs a year, a month and a day"),
    ("dec 25", "2025-12-25", "a date needs a year, a month and a day"),
    ("27/9", "1999-09-27", "a date needs a year, a month and a day"),
    ("50", "1950-05-05", "a date needs a year, a month and a day"),
    ("27 se 1994", "1994-02-27", "a date needs a year, a month and a day"),
    ("05/09/94", "1994-05-09", r"the numbers \['05', '09', '94'\] are not the day, month and year"),
    ("1994/09/27", "1994-09-09", "are not the day, month and year"),
    ("19940927", "1994-09-28", "19940927 is not 1994-09-28 written yyyymmdd"),
    ("sep oct 27 1994", "1994-09-27", "'oct' is not month 9"),
])
def test_an_answer_the_input_does_not_spell_out_is_refused(shipped, monkeypatch, text, written, reason):
    import attention_course.tasks.dates as dates

    ids = torch.tensor(shipped.target_vocab.encode(written, eos=True))
    monkeypatch.setattr(dates, "beam_search", lambda *args, **kwargs: (ids, None, 0.0))
    expected = f"^no date for '{text}': the model wrote '{written}', but .*{reason}"
    with pytest.raises(ValueError, match=expected):
        shipped.translate(text)


@pytest.mark.parametrize(("text", "expected"), [("27 9 1994", "1994-09-27"), ("Sept. 27, 1994", "1994-09-27"),
                                                ("27th september 1994", "1994-09-27"),
                                                ("Tuesday 27 September 1994", "1994-09-27")])
def test_inputs_outside_the_formats_that_spell_out_the_date_are_answered(shipped, text, expected):
    assert shipped.translate(text) == expected


def test_an_unfinished_output_names_max_length_not_the_input(shipped):
    with pytest.raises(ValueError, match=r"had not finished after max_length=6 steps \(a date takes 11"):
        shipped.translate("27/09/94", max_length=6)


def test_eight_digits_are_read_as_yyyymmdd_and_long_inputs_are_cut_in_messages(shipped):
    with pytest.raises(ValueError, match="eight digits are read as yyyymmdd: the year 2709 in '27091994'"):
        shipped.translate("27091994")
    with pytest.raises(ValueError) as error:
        shipped.translate("27/09/94" + "!" * 5_000)
    assert len(str(error.value)) < 300 and "..." in str(error.value)


def test_exclude_must_not_be_one_str(shipped):
    from attention_course.tasks.dates import exact_match_by_format

    with pytest.raises(TypeError, match="exclude must be a collection of sources, got one str '27/09/94'"):
        exact_match_by_format(shipped.model, *vocabs_of(shipped), n=1, exclude="27/09/94")


@pytest.mark.parametrize("hidden_size", [0, -2, 2.0, "64"])
def test_date_model_sizes_are_checked_before_torch(hidden_size):
    with pytest.raises(ValueError, match=f"hidden_size must be a positive integer, got {hidden_size!r}"):
        DateSeq2Seq(10, 10, hidden_size=hidden_size)


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_luongs_concat_score_in_either_decoder(vocabs, decoder):
    model = DateSeq2Seq(len(vocabs[0]), len(vocabs[1]), hidden_size=16, attention="luong-concat",
                        decoder=decoder)
    batch = collate_dates([("27/09/94", "1994-09-27"), ("1 jan 2000", "2000-01-01")], *vocabs)
    logits, weights = model(batch.source, batch.source_mask, batch.decoder_input)
    assert logits.shape == (2, 11, len(vocabs[1])) and weights.shape == (2, 11, batch.source.shape[1])
    assert torch.allclose(weights.sum(-1), torch.ones(2, 11), atol=1e-5)
