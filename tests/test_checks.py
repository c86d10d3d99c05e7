"""Every exercise check accepts a right answer and rejects plausible wrong ones, saying why."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from sacrebleu.metrics import CHRF

from attention_course.attention import masked_softmax
from attention_course.checks import (
    BUCKETS,
    CHRF_SETTINGS,
    check_attention_dropout,
    check_attention_entropy,
    check_chrf,
    check_collect_attention,
    check_comparison,
    check_dropout_sweep,
    check_experiment,
    check_head_statistics,
    check_heads_specialise,
    check_length_findings,
    check_length_report,
    check_merge_heads,
    check_multi_head_attention,
    check_sentiment_accuracy,
    check_sentiment_model,
    check_show_attention,
    check_split_heads,
)
from attention_course.tasks.reversal import Seq2Seq, make_reversal_batch


def split_heads(x, num_heads):
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).transpose(1, 2)


def merge_heads(x):
    B, h, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, h * d)


def make_mha(split=split_heads, scale=True, use_mask=True):
    def multi_head_attention(query, key, value, w_in, b_in, w_out, b_out, num_heads, mask=None):
        W_q, W_k, W_v = w_in.chunk(3)
        b_q, b_k, b_v = b_in.chunk(3)
        q, k, v = (split(x @ W.T + b, num_heads) for x, W, b in
                   ((query, W_q, b_q), (key, W_k, b_k), (value, W_v, b_v)))
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
        weights = masked_softmax(scores, mask[:, None, None, :] if (mask is not None and use_mask) else None)
        return merge_heads(weights @ v) @ w_out.T + b_out, weights
    return multi_head_attention


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def test_right_answers_pass(capsys):
    check_split_heads(split_heads)
    check_merge_heads(merge_heads)
    check_multi_head_attention(make_mha())
    assert capsys.readouterr().out.count("Correct:") == 3


@pytest.mark.parametrize("check", [check_split_heads, check_merge_heads, check_multi_head_attention])
def test_missing_answer_says_not_implemented_yet(check):
    with pytest.raises(AssertionError, match="not implemented yet: write"):
        check(not_implemented)


def test_split_without_transpose_is_rejected():
    def reshape_only(x, num_heads):
        B, T, E = x.shape
        return x.reshape(B, num_heads, T, E // num_heads)
    with pytest.raises(AssertionError, match="transpose"):
        check_split_heads(reshape_only)


def test_split_with_wrong_shape_is_rejected():
    with pytest.raises(AssertionError, match=r"shape \(2, 5, 12\), expected \(2, 3, 5, 4\)"):
        check_split_heads(lambda x, h: x)


def test_merge_without_transpose_is_rejected():
    with pytest.raises(AssertionError, match="Transpose back"):
        check_merge_heads(lambda x: x.reshape(x.shape[0], x.shape[2], -1))


def test_forgotten_scale_is_rejected():
    with pytest.raises(AssertionError, match="sqrt"):
        check_multi_head_attention(make_mha(scale=False))


def test_ignored_mask_is_rejected():
    with pytest.raises(AssertionError, match="mask is ignored"):
        check_multi_head_attention(make_mha(use_mask=False))


def test_wrong_head_split_inside_attention_is_rejected():
    def reshape_only(x, num_heads):
        B, T, E = x.shape
        return x.reshape(B, num_heads, T, E // num_heads)
    with pytest.raises(AssertionError, match="differ from nn.MultiheadAttention"):
        check_multi_head_attention(make_mha(split=reshape_only))


def test_heads_check_rejects_untrained_or_missing_weights():
    uniform = torch.full((4, 2, 8, 8), 1 / 8)
    with pytest.raises(AssertionError, match="expected >= 0.8"):
        check_heads_specialise(uniform)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_heads_specialise(None)
    left_right = torch.zeros(4, 2, 8, 8)
    positions = torch.arange(8)
    left_right[:, 0, positions, (positions - 1) % 8] = 1
    left_right[:, 1, positions, (positions + 1) % 8] = 1
    assert check_heads_specialise(left_right) is None  # nbgrader reads a returned number as partial credit


# ---- Exercise 4.4 ---------------------------------------------------------------------------

def entropy(weights):
    return -torch.xlogy(weights, weights).sum(-1)


@pytest.mark.parametrize("wrong, message", [
    (lambda w: torch.xlogy(w, w).sum(-1), "MINUS"),
    (lambda w: -(w * torch.log2(w.clamp_min(1e-30))).sum(-1), "natural log"),
    (lambda w: -(w * torch.log(w)).sum(-1), "NaN"),
    (lambda w: -torch.xlogy(w, w).mean(-1), "should give log 8"),
])
def test_entropy_check_rejects_wrong_formulas(wrong, message):
    check_attention_entropy(entropy)
    with pytest.raises(AssertionError, match=message):
        check_attention_entropy(wrong)


def tiny_model():
    torch.manual_seed(0)
    return Seq2Seq(use_attention=True, hidden_size=16).eval()


def length_report(model, buckets, n=100, normalise=True, lengths=lambda low, high: range(low, high + 1)):
    report = {}
    for name, (low, high) in buckets.items():
        rows = []
        for T in lengths(low, high):
            source, target = make_reversal_batch(n, T, torch.Generator().manual_seed(T))
            tokens, weights = model.generate(source, T)
            h = entropy(weights).mean().item()
            rows.append(((tokens == target).float().mean().item(), h, h / math.log(T) if normalise else h))
        accuracy, h, normalised = (sum(c) / len(rows) for c in zip(*rows, strict=True))
        report[name] = {"accuracy": accuracy, "entropy": h, "normalised_entropy": normalised}
    return report


def test_length_report_check_accepts_the_right_report_and_rejects_wrong_ones():
    model = tiny_model()
    check_length_report(length_report, model)
    with pytest.raises(AssertionError, match="normalised_entropy"):
        check_length_report(lambda m, b, n: length_report(m, b, n, normalise=False), model)
    with pytest.raises(AssertionError, match="inclusive"):  # only the two ends of each bucket
        check_length_report(lambda m, b, n: length_report(m, b, n, lengths=lambda lo, hi: (lo, hi)), model)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_length_report(not_implemented, model)


def test_length_findings_reject_an_untrained_model():
    report = length_report(tiny_model(), BUCKETS, n=5)
    with pytest.raises(AssertionError, match="was the model trained"):
        check_length_findings(report)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_length_findings(None)


# ---- Exercise 4.1 ---------------------------------------------------------------------------

def chrf(hypothesis, reference, max_n=6, beta=2.0, types_only=False, spaces="remove",
         average="P and R"):
    """A chrF written from the exercise's definition, with switches for common mistakes."""
    from collections import Counter
    if spaces == "remove":
        hypothesis, reference = "".join(hypothesis.split()), "".join(reference.split())
    elif spaces == "strip":  # only the ends
        hypothesis, reference = hypothesis.strip(), reference.strip()
    precisions, recalls, f_scores = [], [], []
    for n in range(1, max_n + 1):
        hyp = Counter(hypothesis[i:i + n] for i in range(len(hypothesis) - n + 1))
        ref = Counter(reference[i:i + n] for i in range(len(reference) - n + 1))
        if not hyp or not ref:
            continue
        if types_only:
            hyp, ref = Counter(set(hyp)), Counter(set(ref))
        matches = sum((hyp & ref).values())
        p, r = matches / sum(hyp.values()), matches / sum(ref.values())
        precisions.append(p)
        recalls.append(r)
        f_scores.append(0.0 if p + r == 0 else (1 + beta**2) * p * r / (beta**2 * p + r))
    if not precisions:
        return 0.0
    if average == "F":  # one F-score per order, averaged
        return sum(f_scores) / len(f_scores)
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return 0.0 if p + r == 0 else (1 + beta**2) * p * r / (beta**2 * p + r)


def sacrebleu_chrf(hypothesis, reference):
    return CHRF().sentence_score(hypothesis, [reference]).score / 100


def test_chrf_check_accepts_the_definition_and_sacrebleu_itself(capsys):
    check_chrf(chrf)
    check_chrf(sacrebleu_chrf)
    check_chrf(lambda h, r: torch.tensor(chrf(h, r)))  # a one-element tensor is a number
    assert capsys.readouterr().out.count("Correct: chrf agrees with sacrebleu's chrF2") == 3


def test_the_chrf_check_uses_sacrebleus_defaults():
    """The course's chrF is sacrebleu's CHRF() as it comes: no setting changed."""
    import inspect
    defaults = {name: p.default for name, p in inspect.signature(CHRF).parameters.items()
                if name != "references"}
    assert CHRF_SETTINGS == defaults
    metric = CHRF(**CHRF_SETTINGS)
    metric.sentence_score("1994-09-27", ["1994-09-27"])  # the signature needs one use
    signature = str(metric.get_signature())
    assert "nc:6|nw:0|space:no" in signature and "eff:yes" in signature, signature


@pytest.mark.parametrize("wrong, message", [
    (lambda h, r: chrf(r, h), "swapped"),
    (lambda h, r: chrf(h, r, beta=1.0), "F1 score"),
    (lambda h, r: chrf(h, r, beta=3.0), "chrF3"),
    (lambda h, r: chrf(h, r, max_n=3), "n-grams up to n = 3: use the orders n = 1 to 6"),
    (lambda h, r: chrf(h, r, max_n=5), "n-grams up to n = 5"),
    (lambda h, r: chrf(h, r, max_n=8), "n-grams up to n = 8"),
    (lambda h, r: chrf(h, r, spaces="keep"), "removes every whitespace character"),
    (lambda h, r: chrf(h, r, spaces="strip"), "removes every whitespace character"),
    (lambda h, r: chrf(h, r, average="F"), "averages the F-scores of the orders"),
    (lambda h, r: chrf(h, r, types_only=True), "off by"),
], ids=["swapped", "beta 1", "beta 3", "orders 1-3", "orders 1-5", "orders 1-8",
        "whitespace kept", "only the ends stripped", "F averaged", "n-gram types"])
def test_chrf_check_rejects_wrong_scores(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_chrf(wrong)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_chrf(not_implemented)


@pytest.fixture(scope="module")
def untrained_date_model():
    from attention_course.tasks.dates import CharVocab, DateSeq2Seq, split_dates
    train, _, test = split_dates(200, 10, 50, seed=0)
    source_vocab = CharVocab.from_texts(s for s, _ in train)
    target_vocab = CharVocab.from_texts(t for _, t in train)
    torch.manual_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab)).eval()
    return model, test, source_vocab, target_vocab


def test_experiment_check_rejects_inconsistent_results(untrained_date_model):
    model, test, source_vocab, target_vocab = untrained_date_model
    good = {"exact_match": 0.0, "chrf": 0.0, "train_seconds": 1.0, "peak_mib": 1.0, "entropy": 1.0,
            "parameters": sum(p.numel() for p in model.parameters())}
    from attention_course.tasks.dates import translate_batch
    outputs = translate_batch(model, [s for s, _ in test], source_vocab, target_vocab)
    good["chrf"] = sum(sacrebleu_chrf(o, t) for o, (_, t) in zip(outputs, test, strict=True)) / len(test)
    check_experiment(good, model, test, source_vocab, target_vocab)
    for key, value, message in [("exact_match", 0.9, "exact_match"), ("chrf", 0.99, "chrf"),
                                ("parameters", 1, "parameters"), ("peak_mib", 0, "positive"),
                                ("entropy", 9.0, "entropy")]:
        with pytest.raises(AssertionError, match=message):
            check_experiment({**good, key: value}, model, test, source_vocab, target_vocab)
    with pytest.raises(AssertionError, match="lacks"):
        check_experiment({"exact_match": 0.0}, model, test, source_vocab, target_vocab)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_experiment(None, model, test, source_vocab, target_vocab)


def test_comparison_check_rejects_an_unlearned_or_uniform_model():
    fine = {"exact_match": 0.99, "entropy": 0.3}
    check_comparison({"bahdanau": fine, "luong-general": fine})
    with pytest.raises(AssertionError, match="train longer"):
        check_comparison({"bahdanau": fine, "luong-general": {"exact_match": 0.5, "entropy": 0.3}})
    with pytest.raises(AssertionError, match="close to uniform"):
        check_comparison({"bahdanau": {"exact_match": 0.99, "entropy": 2.4}, "luong-general": fine})
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_comparison({})


# ---- Exercise 4.3 ---------------------------------------------------------------------------

def make_classifier(self_attention=True, attention_mask=True, pool_mask=True, positions=True):
    from torch import nn

    from attention_course.self_attention import AttentionPooling, MultiHeadAttention

    class Classifier(nn.Module):
        def __init__(self, vocab_size, embed_size=16, num_heads=2):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
            self.position = nn.Embedding(128, embed_size)
            self.attention = MultiHeadAttention(embed_size, num_heads) if self_attention else None
            self.pool = AttentionPooling(embed_size, embed_size)
            self.out = nn.Linear(embed_size, 2)

        def forward(self, ids, mask):
            x = self.embedding(ids)
            if positions:
                x = x + self.position(torch.arange(ids.shape[1]))
            if self.attention is not None:
                x = x + self.attention(x, x, x, mask=mask if attention_mask else None)[0]
            pooled, weights = self.pool(x, mask if pool_mask else None)
            return self.out(pooled), weights
    return Classifier


def test_sentiment_model_check_accepts_the_right_model_and_rejects_wrong_ones():
    check_sentiment_model(make_classifier())
    with pytest.raises(AssertionError, match="no self-attention layer"):
        check_sentiment_model(make_classifier(self_attention=False))
    with pytest.raises(AssertionError, match="padding mask is ignored"):
        check_sentiment_model(make_classifier(attention_mask=False))
    with pytest.raises(AssertionError, match="padded positions got pooling weight"):
        check_sentiment_model(make_classifier(pool_mask=False))
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_sentiment_model(not_implemented)


def test_an_assert_inside_torch_becomes_the_checks_message_not_a_torch_traceback():
    """nn.MultiheadAttention without batch_first asserts its own mask shape: the learner sees
    the check's one-line explanation naming their line, not torch's bare AssertionError."""
    from torch import nn

    class Classifier(nn.Module):
        def __init__(self, vocab_size, embed_size=16, num_heads=2):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
            self.attention = nn.MultiheadAttention(embed_size, num_heads)  # batch_first forgotten
            self.out = nn.Linear(embed_size, 2)

        def forward(self, ids, mask):
            x = self.embedding(ids)
            x = self.attention(x, x, x, key_padding_mask=~mask)[0]
            return self.out(x.mean(1)), None

    with pytest.raises(AssertionError) as caught:
        check_sentiment_model(Classifier)
    message = str(caught.value)
    assert "raised AssertionError" in message or "could not use this answer" in message, message
    assert "key_padding_mask" in message or "forward" in message, message


def test_sentiment_accuracy_check():
    check_sentiment_accuracy(0.75)
    with pytest.raises(AssertionError, match="below 0.7"):
        check_sentiment_accuracy(0.5)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_sentiment_accuracy(None)


# ---- Exercise 4.5 ---------------------------------------------------------------------------

def make_dropout(train_only=True, rescale=True, renormalise=False):
    import torch.nn.functional as F

    from attention_course.attention import AttentionBase

    class Dropout(AttentionBase):
        def __init__(self, attention, p):
            super().__init__()
            self.attention, self.p = attention, p
            self.query_size, self.key_size = attention.query_size, attention.key_size

        def project_keys(self, keys):
            return self.attention.project_keys(keys)

        def score(self, query, projected_keys):
            return self.attention.score(query, projected_keys)

        def forward(self, query, keys, mask=None, projected_keys=None):
            single = query.dim() == 2
            queries = query.unsqueeze(1) if single else query
            projected = self.project_keys(keys) if projected_keys is None else projected_keys
            mask_ = None if mask is None else mask.unsqueeze(1)
            weights = masked_softmax(self.score(queries, projected), mask_)
            weights = F.dropout(weights, self.p, training=self.training or not train_only)
            if not rescale and self.training:
                weights = weights * (1 - self.p)
            if renormalise:
                weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-9)
            context = weights @ keys
            return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)
    return Dropout


def test_attention_dropout_check_accepts_inverted_dropout_and_rejects_wrong_ones():
    check_attention_dropout(make_dropout())
    with pytest.raises(AssertionError, match="evaluation mode"):
        check_attention_dropout(make_dropout(train_only=False))
    with pytest.raises(AssertionError, match="divided by 1 - p"):
        check_attention_dropout(make_dropout(rescale=False))
    with pytest.raises(AssertionError, match="renormalised"):
        check_attention_dropout(make_dropout(renormalise=True))
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_attention_dropout(not_implemented)


def test_dropout_sweep_check():
    row = {"train_exact": 1.0, "test_exact": 0.9, "gap": 0.1}
    good = {p: dict(row) for p in (0.0, 0.1, 0.2, 0.3)}
    check_dropout_sweep(good)
    with pytest.raises(AssertionError, match="cover the rates"):
        check_dropout_sweep({0.0: row})
    with pytest.raises(AssertionError, match="train_exact - test_exact"):
        check_dropout_sweep({**good, 0.1: {**row, "gap": 0.9 - 1.0}})
    with pytest.raises(AssertionError, match="was it trained"):
        check_dropout_sweep({**good, 0.0: {"train_exact": 0.2, "test_exact": 0.1, "gap": 0.1}})
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_dropout_sweep(None)


# ---- Exercise 4.2 ---------------------------------------------------------------------------

class TinyReader(torch.nn.Module):
    """The interface of exercise 4.2's model: .layers[i].attention, forward -> (..., [weights])."""

    def __init__(self):
        super().__init__()
        from attention_course.self_attention import MultiHeadAttention
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(10, 8)
        self.layers = torch.nn.ModuleList(torch.nn.Module() for _ in range(2))
        for layer in self.layers:
            layer.attention = MultiHeadAttention(8, 2)

    def forward(self, digits):
        x, weights = self.embedding(digits), []
        for layer in self.layers:
            out, w = layer.attention(x, x, x)
            x = x + out
            weights.append(w)
        return x, weights


def collect(model, text, validate=True, layer_index=None):
    if validate:
        bad = sorted(set(c for c in text if not c.isdigit()))
        if bad or not 1 <= len(text) <= 16:
            raise ValueError(f"digits only, 1 to 16 of them: {bad}")
    model.eval()
    with torch.no_grad():
        *_, weights = model(torch.tensor([[int(c) for c in text]]))
    layers = [w[0] for w in weights]
    return list(text), layers if layer_index is None else [layers[layer_index]] * len(layers)


def stats(weights, dim=-1):
    return {"entropy": (-torch.xlogy(weights, weights).sum(-1)).mean(dim),
            "concentration": weights.max(-1).values.mean(dim)}


def test_collect_attention_check():
    model = TinyReader()
    check_collect_attention(collect, model)
    with pytest.raises(AssertionError, match="differ from the model's"):
        check_collect_attention(lambda m, t: collect(m, t, layer_index=0), model)
    with pytest.raises(AssertionError, match="should raise"):
        check_collect_attention(lambda m, t: collect(m, t, validate=False) if t.isdigit() else (list(t), []),
                                model)
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_collect_attention(not_implemented, model)


def test_head_statistics_check():
    check_head_statistics(stats)
    with pytest.raises(AssertionError, match="per head"):
        check_head_statistics(lambda w: {k: v.mean().expand(2) for k, v in stats(w).items()})
    with pytest.raises(AssertionError, match="NaN"):
        check_head_statistics(lambda w: {"entropy": -(w * w.log()).sum(-1).mean(-1),
                                         "concentration": w.max(-1).values.mean(-1)})


def test_show_attention_check():
    import matplotlib.pyplot as plt

    from attention_course.plotting import plot_attention

    def show(model, text, title="Layer {l}, Head {h}"):
        tokens, layers = collect(model, text)
        fig, axes = plt.subplots(len(layers), 2, squeeze=False)
        for l, weights in enumerate(layers):  # noqa: E741
            for h in range(2):
                plot_attention(weights[h], tokens, tokens, ax=axes[l, h], colorbar=False,
                               title=title.format(l=l + 1, h=h + 1))
        return fig

    model = TinyReader()
    check_show_attention(show, model)
    with pytest.raises(AssertionError, match="no panel titled 'Layer 1, Head 1'"):
        check_show_attention(lambda m, t: show(m, t, title="L{l} H{h}"), model)


# ---- Every check is total: a plausible wrong answer gets its hint, never a crash ---------------

def raises_value_error(*args, **kwargs):
    raise ValueError("something inside the answer went wrong")


JUNK = {"None": lambda *a, **k: None, "NaN": lambda *a, **k: float("nan"), "a string": lambda *a, **k: "x",
        "a NaN tensor": lambda *a, **k: torch.full((2, 3), float("nan")),
        "a tuple": lambda *a, **k: (torch.zeros(2), torch.zeros(2)), "an error": raises_value_error}
FUNCTION_CHECKS = [check_split_heads, check_merge_heads, check_multi_head_attention, check_attention_entropy,
                   check_chrf, check_head_statistics]


@pytest.mark.parametrize("answer", JUNK.values(), ids=JUNK.keys())
@pytest.mark.parametrize("check", FUNCTION_CHECKS, ids=lambda c: c.__name__)
def test_a_junk_answer_gets_an_assertion_error_not_a_crash(check, answer):
    with pytest.raises(AssertionError):
        check(answer)


def test_an_error_inside_the_answer_is_named_with_its_line():
    with pytest.raises(AssertionError, match=r"raised ValueError: something inside .* "
                                             r"\(in `raises_value_error`, line \d+ of its cell: `raise "):
        check_chrf(raises_value_error)


def test_chrf_without_the_zero_guards_gets_the_hint():
    def unguarded(hypothesis, reference, max_n=6, beta=2.0):
        from collections import Counter
        precisions, recalls = [], []
        for n in range(1, max_n + 1):
            hyp = Counter(hypothesis[i:i + n] for i in range(len(hypothesis) - n + 1))
            ref = Counter(reference[i:i + n] for i in range(len(reference) - n + 1))
            matches = sum((hyp & ref).values())
            precisions.append(matches / sum(hyp.values()))
            recalls.append(matches / sum(ref.values()))
        p, r = sum(precisions) / max_n, sum(recalls) / max_n
        return (1 + beta**2) * p * r / (beta**2 * p + r)
    with pytest.raises(AssertionError, match="ZeroDivisionError.*Skip the orders n where either string"):
        check_chrf(unguarded)


def test_chrf_as_a_percentage():
    with pytest.raises(AssertionError, match="100 times the score"):
        check_chrf(lambda h, r: 100 * chrf(h, r))
    with pytest.raises(AssertionError, match="100 times the score"):
        check_chrf(lambda h, r: CHRF().sentence_score(h, [r]).score)  # sacrebleu's own scale


def test_length_report_off_by_one_gets_the_inclusive_hint():
    """range(low, high) skips the last length and leaves the bucket (6, 6) empty: no ZeroDivisionError."""
    def exclusive(model, buckets, n=100):
        report = {}
        for name, (low, high) in buckets.items():
            accuracy = []
            for T in range(low, high):  # off by one
                source, target = make_reversal_batch(n, T, torch.Generator().manual_seed(T))
                tokens, _ = model.generate(source, T)
                accuracy.append((tokens == target).float().mean().item())
            report[name] = {"accuracy": sum(accuracy) / len(accuracy), "entropy": 0.0,
                            "normalised_entropy": 0.0}
        return report
    with pytest.raises(AssertionError, match=r"ZeroDivisionError.*range\(low, high \+ 1\)"):
        check_length_report(exclusive, tiny_model())
    # the same mistake with zip(*rows, strict=True) ends in a ValueError: the same hint
    with pytest.raises(AssertionError, match=r"range\(low, high \+ 1\)"):
        check_length_report(lambda m, b, n: length_report(m, b, n, lengths=lambda lo, hi: range(lo, hi)),
                            tiny_model())


@pytest.mark.parametrize("value, message", [
    (None, "should be a number"), (float("nan"), "is NaN"), (torch.zeros(3), "one number"),
    ("0.5", "a number"),
])
def test_length_report_values_of_the_wrong_kind(value, message):
    def report(model, buckets, n=100):
        return {name: {"accuracy": value, "entropy": 0.0, "normalised_entropy": 0.0} for name in buckets}
    with pytest.raises(AssertionError, match=message):
        check_length_report(report, tiny_model())


def test_findings_reject_nan_missing_keys_and_non_dicts():
    good = {name: {"accuracy": 0.99, "entropy": 0.1 * i, "normalised_entropy": 0.1}
            for i, name in enumerate(BUCKETS)}
    check_length_findings(good)
    with pytest.raises(AssertionError, match="is NaN"):
        check_length_findings({**good, "short": {**good["short"], "accuracy": float("nan")}})
    with pytest.raises(AssertionError, match="has no 'entropy'"):
        check_length_findings({**good, "long": {"accuracy": 0.9}})
    with pytest.raises(AssertionError, match="buckets"):
        check_length_findings([1, 2, 3])


def test_merge_with_view_after_transpose_gets_the_contiguous_hint():
    def merge_transposed_with_view(x):
        B, h, T, d = x.shape
        return x.transpose(1, 2).view(B, T, h * d)  # after transpose: not contiguous
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        merge_transposed_with_view(split_heads(torch.randn(2, 5, 12), 3).contiguous())  # torch crashes
    with pytest.raises(AssertionError, match=r"RuntimeError: view size .*use \.reshape"):  # the check: why
        check_merge_heads(merge_transposed_with_view)


def test_mask_broadcast_wrong_or_inverted():
    def wrong_axes(q, k, v, wi, bi, wo, bo, h, mask=None):
        return make_mha()(q, k, v, wi, bi, wo, bo, h, None if mask is None else mask[:, None, :, None])
    with pytest.raises(AssertionError, match=r"mask\[:, None, None, :\]"):
        check_multi_head_attention(wrong_axes)

    def inverted(q, k, v, wi, bi, wo, bo, h, mask=None):
        return make_mha()(q, k, v, wi, bi, wo, bo, h, None if mask is None else ~mask)
    with pytest.raises(AssertionError, match="is the mask inverted"):
        check_multi_head_attention(inverted)


def test_a_double_precision_answer_is_compared_not_crashed():
    check_split_heads(lambda x, h: split_heads(x, h).double())
    check_multi_head_attention(lambda *a, **k: tuple(t.double() for t in make_mha()(*a, **k)))
    check_attention_entropy(lambda w: entropy(w.double()))
    check_head_statistics(lambda w: {k: v.double() for k, v in stats(w).items()})


def test_heads_check_shapes_and_wording(capsys):
    with pytest.raises(AssertionError, match="do not average over the heads"):
        check_heads_specialise(torch.full((4, 8, 8), 1 / 8))
    with pytest.raises(AssertionError, match="at least 3 positions"):
        check_heads_specialise(torch.full((4, 2, 2, 2), 0.5))
    left_right = torch.zeros(4, 2, 8, 8)
    positions = torch.arange(8)
    left_right[:, 0, positions, (positions + 1) % 8] = 1  # head 1 reads the right neighbour
    left_right[:, 1, positions, (positions - 1) % 8] = 1
    check_heads_specialise(left_right)
    message = capsys.readouterr().out
    assert "head 2 reads the left neighbour and head 1 the right one" in message
    assert "on the right neighbour" not in message


def test_experiment_result_in_the_wrong_order_or_with_none(untrained_date_model):
    model, test, source_vocab, target_vocab = untrained_date_model
    with pytest.raises(AssertionError, match=r"returns \(model, result\), in that order"):
        check_experiment(model, {"exact_match": 0.0}, test, source_vocab, target_vocab)
    full = dict.fromkeys(("exact_match", "chrf", "train_seconds", "peak_mib", "entropy", "parameters"), 1.0)
    with pytest.raises(AssertionError, match=r"result\['train_seconds'\] should be a number"):
        check_experiment({**full, "train_seconds": None}, model, test, source_vocab, target_vocab)


def test_comparison_needs_both_models():
    with pytest.raises(AssertionError, match=r"no result for \['luong-general'\]"):
        check_comparison({"bahdanau": {"exact_match": 1.0, "entropy": 0.3}})


@pytest.mark.parametrize("value, message", [
    (float("nan"), "is NaN"), (74.4, "fraction between 0 and 1"), ("0.74", "should be a number"),
])
def test_sentiment_accuracy_of_the_wrong_kind(value, message):
    with pytest.raises(AssertionError, match=message):
        check_sentiment_accuracy(value)


def test_sentiment_model_errors_inside_forward_get_hints():
    base = make_classifier()

    class ShortPositions(base):
        def forward(self, ids, mask):
            if ids.shape[1] > 20:
                self.position(torch.tensor([500]))  # max_length too small
            return super().forward(ids, mask)

    with pytest.raises(AssertionError, match="3 sentences of 40 tokens raised IndexError.*max_length"):
        check_sentiment_model(ShortPositions)

    with pytest.raises(AssertionError, match=r"SelfAttentionClassifier\(vocab_size"):
        check_sentiment_model(lambda: None)  # a constructor with the wrong signature


def test_dropout_wrapper_of_the_wrong_form():
    good = make_dropout()

    class ContextOnly(good):
        def forward(self, *args, **kwargs):
            return super().forward(*args, **kwargs)[0]

    with pytest.raises(AssertionError, match=r"return \(context, weights\)"):
        check_attention_dropout(ContextOnly)

    class Percent(good):
        def __init__(self, attention, p):
            super().__init__(attention, 100 * p)

    with pytest.raises(AssertionError, match=r"rate p is a probability \(0.5, not 50\)"):
        check_attention_dropout(Percent)


def test_sweep_of_the_wrong_form():
    row = {"train_exact": 1.0, "test_exact": 0.9, "gap": 0.1}
    with pytest.raises(AssertionError, match="as fractions"):
        check_dropout_sweep({p: dict(row) for p in (0, 10, 20, 30)})
    with pytest.raises(AssertionError, match="should be a dict"):
        check_dropout_sweep({p: 1.0 for p in (0.0, 0.1, 0.2, 0.3)})
    with pytest.raises(AssertionError, match="is NaN"):
        check_dropout_sweep({p: {**row, "test_exact": float("nan")} for p in (0.0, 0.1, 0.2, 0.3)})


def test_collect_and_show_of_the_wrong_form():
    model = TinyReader()
    with pytest.raises(AssertionError, match="one weight tensor per layer"):
        check_collect_attention(lambda m, t: (list(t), torch.stack(collect(m, t)[1])), model)
    with pytest.raises(AssertionError, match=r"has shape \(1, 2, 5, 5\)"):
        check_collect_attention(lambda m, t: (list(t), [w[None] for w in collect(m, t)[1]]), model)
    with pytest.raises(AssertionError, match="should return the matplotlib Figure"):
        check_show_attention(lambda m, t: None, model)


# ---- A given cell that uses an unwritten answer says so in one line ----------------------------

def run_cell(code, namespace):
    """Run `code` as a notebook cell would (its own file name, the namespace as globals)."""
    exec(compile(code, "/tmp/ipykernel_0/cell.py", "exec"), namespace)


def test_needs_answers_names_the_unwritten_function():
    from attention_course.checks import needs_answers
    namespace = {"needs_answers": needs_answers}
    run_cell("def split_heads(x, h):\n    raise NotImplementedError()\n\n"
             "def uses_it(x):\n    return split_heads(x, 2) + 1\n", namespace)
    with pytest.raises(AssertionError, match="not implemented yet: write `split_heads`"):
        run_cell("with needs_answers():\n    uses_it(1)\n", namespace)


def test_needs_answers_says_not_available_for_a_name_an_earlier_cell_did_not_make():
    from attention_course.checks import needs_answers
    namespace = {"needs_answers": needs_answers}
    with pytest.raises(AssertionError, match="not available yet: name 'weights' is not defined"):
        run_cell("with needs_answers():\n    print(weights)\n", namespace)


def test_needs_answers_leaves_the_learners_own_errors_alone():
    from attention_course.checks import needs_answers
    namespace = {"needs_answers": needs_answers}
    run_cell("def buggy():\n    return undefined_name\n", namespace)
    with pytest.raises(NameError):  # a typo inside a function is the learner's bug: shown as it is
        run_cell("with needs_answers():\n    buggy()\n", namespace)
    with pytest.raises(NotImplementedError, match="MPS"):  # torch's own, with a message
        run_cell("with needs_answers():\n    raise NotImplementedError('not on MPS')\n", namespace)
    run_cell("with needs_answers():\n    x = 1\n", namespace)  # nothing wrong: nothing raised
    assert namespace["x"] == 1


def test_an_unwritten_class_names_its_method():
    namespace = {}
    run_cell("class Wrapper:\n    def __init__(self, attention, p):\n        raise NotImplementedError()\n",
             namespace)
    with pytest.raises(AssertionError, match=r"not implemented yet: write `Wrapper.__init__`"):
        check_attention_dropout(namespace["Wrapper"])


# ---- One module per exercise; the exercises import every check from the package ------------------

def test_each_check_lives_in_its_exercises_module_and_the_package_reexports_it():
    import importlib

    import attention_course.checks as checks
    exported = set(checks.__all__)
    defined = set()
    for number in range(1, 7):
        module = importlib.import_module(f"attention_course.checks.ex4_{number}")
        own = {name for name, obj in vars(module).items()
               if name.startswith("check_") and getattr(obj, "__module__", None) == module.__name__}
        assert own, f"{module.__name__} defines no check"
        defined |= own
    assert {name for name in exported if name.startswith("check_")} == defined
    for name in exported:
        assert hasattr(checks, name), name
