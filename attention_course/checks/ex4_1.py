"""Checks of exercise 4.1, Bahdanau vs Luong on the same data (chapters 4.2-4.5).

The learner writes chrF, the character n-gram F-score of Popović (2015), which the check
compares with sacrebleu's, the implementation the field reports scores with; then runs
one experiment (train a date model, measure it) and compares additive attention with
Luong's general score.
"""

import math

from sacrebleu.metrics import CHRF
from torch import nn

from ..tasks.dates import translate_batch
from ._common import _call, _check, _fail, _model_device, _number, passed

#: The sacrebleu settings of the course's chrF: `sacrebleu.metrics.CHRF`'s defaults.
#: Character n-grams n = 1..6, no word n-grams, beta = 2, case kept, whitespace removed
#: before counting, and orders where a string has no n-gram left out of the averages
#: ("effective order"; eps_smoothing=False).
CHRF_SETTINGS = {
    "char_order": 6,
    "word_order": 0,
    "beta": 2,
    "lowercase": False,
    "whitespace": False,
    "eps_smoothing": False,
}


def _sacrebleu_chrf(hypothesis, reference, **changes):
    """sacrebleu's sentence-level chrF of one string, as a fraction 0..1.

    With `changes`, the CHRF settings that differ from the course's: the scores of
    common mistakes, to name them.
    """
    metric = CHRF(**{**CHRF_SETTINGS, **changes})
    return metric.sentence_score(hypothesis, [reference]).score / 100


#: The (hypothesis, reference) pairs check_chrf tries: dates right, near and wrong,
#: strings too short for some orders, disjoint and empty ones, and pairs with spaces.
CHRF_CASES = [
    ("1994-09-27", "1994-09-27"),
    ("1994-09-27", "1994-09-28"),
    ("1994-09-27", "2094-09-27"),
    ("1994-09", "1994-09-27"),
    ("1994-09-27-27", "1994-09-27"),
    ("abc", "xyz"),
    ("", "1994-09-27"),
    ("2001-01-01", "2001-10-10"),
    ("2001", "2001-01-01"),
    ("1994-09-27 ", "1994-09-27"),
    ("1994 09 27", "1994-09-27"),
    ("27 Sep 1994", "27 Sept 1994"),
    (" ", "1994-09-27"),
]

_CHRF_HINTS = [
    (
        ZeroDivisionError,
        "Skip the orders n where either string has no n-gram (the empty output '' has "
        "none), return 0.0 when no order is left, and return 0.0 when P + R = 0 "
        "(strings that share no character)",
    )
]

_WHITESPACE_HINT = (
    " This pair has spaces: chrF removes every whitespace character from both strings "
    'before counting n-grams (sacrebleu\'s default; "".join(text.split())).'
)


def _chrf_mistake(got, hypothesis, reference, expected):
    """A sentence naming the mistake whose score `got` is, or "" when none fits."""
    variants = [
        (
            _sacrebleu_chrf(reference, hypothesis),
            " It equals chrf(reference, hypothesis): are precision and recall swapped?",
        ),
        (
            _sacrebleu_chrf(hypothesis, reference, beta=1),
            " That is the F1 score: chrF here uses beta = 2, which weighs recall more "
            "than precision.",
        ),
        (
            _sacrebleu_chrf(hypothesis, reference, beta=3),
            " That is chrF3 (beta = 3, Popović's recommendation): this exercise uses "
            "sacrebleu's default, beta = 2.",
        ),
        (
            _sacrebleu_chrf(hypothesis, reference, whitespace=True),
            _WHITESPACE_HINT,
        ),
        (
            _sacrebleu_chrf(hypothesis, reference, eps_smoothing=True),
            " That averages the F-scores of the orders: average P_n and R_n over the "
            "orders first, then compute one F-score from P and R.",
        ),
        *(
            (
                _sacrebleu_chrf(hypothesis, reference, char_order=order),
                f" That is chrF with n-grams up to n = {order}: use the orders n = 1 "
                "to 6.",
            )
            for order in (1, 2, 3, 4, 5, 7, 8)
        ),
        (
            100 * expected,
            " That is 100 times the score: return a fraction between 0 and 1.",
        ),
    ]
    hint = next((text for score, text in variants if abs(got - score) < 1e-6), "")
    if not hint and any(c.isspace() for c in hypothesis + reference):
        hint = _WHITESPACE_HINT
    return hint


@_check
def check_chrf(chrf):
    """Check `chrf(hypothesis, reference)` against sacrebleu's sentence-level chrF.

    The expected score of each pair of `CHRF_CASES` is
    `CHRF().sentence_score(hypothesis, [reference]).score / 100`, sacrebleu's chrF2 with
    its defaults (`CHRF_SETTINGS`) on a scale of 0 to 1; the answer must agree to 1e-6.

    Args:
        chrf: the learner's function (hypothesis: str, reference: str) -> number (a
            float or a one-element tensor).
    Raises:
        AssertionError: if the answer is unwritten, raises (a ZeroDivisionError gets
            the hint to skip orders without n-grams), returns something other than a
            number, or a score that differs from sacrebleu's; the message names the
            mistake where the score is that of a common one: precision and recall
            swapped, beta = 1 or 3, whitespace kept, F-scores averaged over the orders,
            another highest order than 6, or a percentage.
    Source: Popović (2015), "chrF: character n-gram F-score for automatic MT
        evaluation"; Post (2018), "A call for clarity in reporting BLEU scores"
        (sacrebleu).
    """
    __tracebackhide__ = True
    for hypothesis, reference in CHRF_CASES:
        got = _call(
            chrf,
            f"chrf({hypothesis!r}, {reference!r})",
            hypothesis,
            reference,
            hints=_CHRF_HINTS,
        )
        got = _number(got, f"chrf({hypothesis!r}, {reference!r})")
        expected = _sacrebleu_chrf(hypothesis, reference)
        if abs(got - expected) > 1e-6:
            hint = _chrf_mistake(got, hypothesis, reference, expected)
            _fail(
                f"chrf({hypothesis!r}, {reference!r}) = {got:.4f}, expected "
                f"{expected:.4f} (sacrebleu's chrF2 / 100; off by "
                f"{abs(got - expected):.4f}).{hint}"
            )
    passed(
        "chrf agrees with sacrebleu's chrF2 (divided by 100) on identical, near and "
        "disjoint strings, strings with spaces, and empty output"
    )


#: The keys of the result dict that exercise 4.1's run_experiment returns.
RESULT_KEYS = (
    "exact_match",
    "chrf",
    "train_seconds",
    "peak_mib",
    "entropy",
    "parameters",
)


@_check
def check_experiment(result, model, test_pairs, source_vocab, target_vocab):
    """Check the result of `run_experiment`: every number present, and consistent.

    The model's greedy outputs on the first 100 test dates must give about the same
    exact match and mean chrF (sacrebleu's, to 0.1) as the result; the parameter count
    must be the model's; time and peak memory positive (peak memory is not checked on
    an Apple GPU, where PyTorch keeps none); the mean entropy between 0 and the log of
    the longest source, in nats.

    Args:
        result: dict with the keys of `RESULT_KEYS`, each a number; None before
            run_experiment ran.
        model: the trained `DateSeq2Seq` (an nn.Module) the result describes.
        test_pairs: list of (source, target) date strings, the test set.
        source_vocab: `CharVocab` of the sources.
        target_vocab: `CharVocab` of the targets.
    Raises:
        AssertionError: if the result is missing, not a dict (model and result in the
            wrong order), lacks a key, holds something other than a number, or a
            number that does not fit the model (the message names it).
    """
    __tracebackhide__ = True
    if result is None:
        _fail(
            "not implemented yet: write `run_experiment` and run it in the cell above"
        )
    if not isinstance(result, dict):
        _fail(
            f"the result should be a dict, got {type(result).__name__}: run_experiment "
            "returns (model, result), in that order"
        )
    missing = [key for key in RESULT_KEYS if key not in result]
    if missing:
        _fail(
            f"the result lacks {missing}; run_experiment must return "
            f"{list(RESULT_KEYS)}"
        )
    if not isinstance(model, nn.Module):
        _fail(f"the model should be an nn.Module, got {type(model).__name__}")
    # PyTorch keeps no peak memory on an Apple GPU: peak_memory_mib returns NaN there
    no_peak = _model_device(model).type == "mps"
    numbers = {
        key: _number(result[key], f"result[{key!r}]")
        for key in RESULT_KEYS
        if not (no_peak and key == "peak_mib")
    }
    numbers.setdefault("peak_mib", 1.0)
    sample = test_pairs[:100]
    outputs = translate_batch(model, [s for s, _ in sample], source_vocab, target_vocab)
    pairs = list(zip(outputs, sample, strict=True))
    exact = sum(o == t for o, (_, t) in pairs) / len(sample)
    chrf = sum(_sacrebleu_chrf(o, t) for o, (_, t) in pairs) / len(sample)
    full_exact = numbers["exact_match"]
    if not 0 <= full_exact <= 1 or abs(full_exact - exact) > 0.1:
        _fail(
            f"exact_match {full_exact:.3f} does not match the model's outputs (the "
            f"first 100 test dates give {exact:.3f}); it is a fraction between 0 and 1"
        )
    if abs(numbers["chrf"] - chrf) > 0.1:
        _fail(
            f"chrf {numbers['chrf']:.3f} does not match the model's outputs (the first "
            f"100 test dates give {chrf:.3f}); average chrf over the test pairs"
        )
    if numbers["parameters"] != sum(p.numel() for p in model.parameters()):
        _fail("parameters should count every number the model trains")
    if not (numbers["train_seconds"] > 0 and numbers["peak_mib"] > 0):
        _fail("train_seconds and peak_mib should be positive measurements")
    longest = max(len(s) for s, _ in test_pairs)
    if not 0 <= numbers["entropy"] <= math.log(longest):
        _fail(
            f"the mean entropy {numbers['entropy']:.3f} should lie between 0 and "
            f"log(longest source) = {math.log(longest):.3f} nats"
        )
    passed(
        "the result is complete and consistent with the model (exact match "
        f"{full_exact:.3f})"
    )


@_check
def check_comparison(results, kinds=("bahdanau", "luong-general")):
    """Check the comparison: both models learned the task, attending non-uniformly.

    Each model needs an exact match of at least 0.9 and a mean attention entropy of at
    most 1.5 nats (uniform weights over a 7-29 character date give 1.9-3.4).

    Args:
        results: dict {kind: result dict of run_experiment}.
        kinds: the attention kinds that must be in `results`.
    Raises:
        AssertionError: if a result is missing or not a dict, its exact match or
            entropy is not a number, a model reached less than 0.9 exact match (train
            longer), or its attention is close to uniform.
    """
    __tracebackhide__ = True
    if not results or not isinstance(results, dict):
        _fail("not implemented yet: run the comparison cell above")
    absent = [kind for kind in kinds if kind not in results]
    if absent:
        _fail(f"no result for {absent} yet: run the cells above that train them")
    for kind in kinds:
        result = results[kind]
        if not isinstance(result, dict):
            _fail(f"results[{kind!r}] should be run_experiment's dict")
        exact = _number(result.get("exact_match"), f"{kind}'s exact_match")
        entropy = _number(result.get("entropy"), f"{kind}'s entropy")
        if exact < 0.9:
            _fail(f"{kind} reached only {exact:.3f} exact match: train longer")
        if entropy > 1.5:  # uniform over a 7-29 character date: log T = 1.9-3.4 nats
            _fail(
                f"{kind}'s attention has mean entropy {entropy:.2f} nats, close to "
                "uniform (log T = 1.9-3.4): was the entropy computed on the model's "
                "weights?"
            )
    passed("both attention models learned the task, with clearly non-uniform attention")
