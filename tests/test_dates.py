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
    pad_batch,
    render_date,
    sequence_loss,
    split_dates,
    train_dates,
)
from attention_course.tasks.dates import translate_batch


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
    rendered = {render_date(day, fmt)[0] for fmt in FORMATS}
    assert len(rendered) == len(FORMATS)
    assert {"september 27, 1994", "27/09/94", "Tue 27 Sep 1994", "1994.9.27"} <= rendered
    pairs = generate_dates(2_000, seed=0)  # every format is used: some source is the target in it
    for fmt in FORMATS:
        assert any(render_date(datetime.date.fromisoformat(t), fmt)[0] == s for s, t in pairs), fmt


def test_targets_are_the_same_day_as_the_source():
    for source, target in generate_dates(3_000, seed=1):
        day = datetime.date.fromisoformat(target)  # raises if not YYYY-MM-DD
        assert datetime.date(1950, 1, 1) <= day <= datetime.date(2049, 12, 31)
        assert source in {render_date(day, fmt)[0] for fmt in FORMATS}, (source, target)


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
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['Q'\]"):
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
    text = "Tue 27 Sep 1994"
    assert reloaded.translate(text) == translator.translate(text)


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
