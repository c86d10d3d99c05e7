"""Self-checks for the exercises: each raises AssertionError with a plain-words message.

A graded nbgrader test cell earns its points when it does not raise, so every check here
raises on a wrong (or missing) answer and says what is off. Tests in tests/ run each check
against plausible wrong implementations and assert that it rejects them.
"""

import math

import torch
from torch import nn


def _call(function, name, *args, **kwargs):
    """Call the learner's function; a missing answer becomes a clear 'not implemented yet'."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(
            f"not implemented yet: write `{name}` in the cell above (replace the "
            "`raise NotImplementedError()` line), run that cell, then run this check again"
        ) from None


def _expect_shape(tensor, shape, what):
    if not isinstance(tensor, torch.Tensor):
        raise AssertionError(f"{what} should be a torch.Tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(shape):
        raise AssertionError(f"{what} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")


def _max_error(a, b):
    return (a - b).abs().max().item()


def passed(message):
    """Print the good news. Checks return None: nbgrader reads a returned number as partial credit."""
    print(f"Correct: {message}")


# ---- Exercise 4.6: multi-head attention --------------------------------------------------

def check_split_heads(split_heads):
    """(B, T, E) -> (B, h, T, E/h), where head i holds features i*d .. (i+1)*d - 1."""
    B, T, E, h = 2, 5, 12, 3
    x = torch.arange(B * T * E, dtype=torch.float32).reshape(B, T, E)
    heads = _call(split_heads, "split_heads", x, h)
    _expect_shape(heads, (B, h, T, E // h), f"split_heads(x of shape {(B, T, E)}, num_heads={h})")
    for i in range(h):
        expected = x[:, :, i * (E // h):(i + 1) * (E // h)]
        if not torch.equal(heads[:, i], expected):
            raise AssertionError(
                f"head {i} should hold features {i * (E // h)}..{(i + 1) * (E // h) - 1} of every position; "
                "it does not. Did you reshape (B, T, E) straight to (B, h, T, d)? Reshape to "
                "(B, T, h, d) first, then move the head axis with .transpose(1, 2)."
            )
    passed("split_heads gives (B, h, T, d) with head i = features i*d .. (i+1)*d - 1")


def check_merge_heads(merge_heads):
    """merge_heads undoes the split into heads: (B, h, T, d) -> (B, T, h*d)."""
    x = torch.randn(2, 5, 12)
    heads = x.reshape(2, 5, 3, 4).transpose(1, 2)  # (B, h, T, d), the reference split
    merged = _call(merge_heads, "merge_heads", heads)
    _expect_shape(merged, (2, 5, 12), "merge_heads(heads of shape (2, 3, 5, 4))")
    if not torch.equal(merged, x):
        raise AssertionError(
            f"merging the heads should give the original (B, T, E) tensor back; max difference "
            f"{_max_error(merged, x):.3g}. Transpose back to (B, T, h, d) before reshaping to (B, T, E)."
        )
    passed("merge_heads joins the heads back into (B, T, E)")


def _reference_mha(embed_dim=12, num_heads=3, seed=0):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_(0, 0.1)
        mha.out_proj.bias.normal_(0, 0.1)
    return mha


def check_multi_head_attention(multi_head_attention):
    """Same output and per-head weights as nn.MultiheadAttention, with and without a padding mask."""
    mha = _reference_mha()
    B, T_q, T_k, E, h = 2, 4, 6, 12, 3
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(B, T_q, E, generator=generator)
    key = torch.randn(B, T_k, E, generator=generator)
    value = torch.randn(B, T_k, E, generator=generator)
    mask = torch.ones(B, T_k, dtype=torch.bool)
    mask[0, 4:] = False  # the first sequence has 2 padded key positions
    weights_in = (mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias)
    with torch.no_grad():
        for name, m in (("without a mask", None), ("with a padding mask", mask)):
            result = _call(multi_head_attention, "multi_head_attention", query, key, value, *weights_in, h, m)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise AssertionError("multi_head_attention should return a tuple (output, weights)")
            output, weights = result
            _expect_shape(output, (B, T_q, E), f"output {name}")
            _expect_shape(weights, (B, h, T_q, T_k), f"weights {name}")
            if not torch.allclose(weights.sum(-1), torch.ones(B, h, T_q), atol=1e-5):
                raise AssertionError(f"the weights {name} should sum to 1 over the keys (last axis)")
            if m is not None and weights[0, :, :, 4:].abs().max() > 1e-6:
                raise AssertionError(
                    "padded key positions (mask False) got weight "
                    f"{weights[0, :, :, 4:].abs().max().item():.3f}: the mask is ignored. Set their scores "
                    "to torch.finfo(scores.dtype).min (or use masked_softmax) before the softmax."
                )
            ref_out, ref_weights = mha(query, key, value, key_padding_mask=None if m is None else ~m,
                                       average_attn_weights=False)
            if _max_error(weights, ref_weights) > 1e-5:
                sharper = weights.max(-1).values.mean() > ref_weights.max(-1).values.mean()
                hint = (" Your weights are sharper than PyTorch's: did you forget to divide the scores by "
                        "sqrt(d_k), the width of one head?") if sharper else ""
                raise AssertionError(
                    f"the attention weights {name} differ from nn.MultiheadAttention's by up to "
                    f"{_max_error(weights, ref_weights):.3g}.{hint}"
                )
            if _max_error(output, ref_out) > 1e-5:
                raise AssertionError(
                    f"the weights match but the output {name} differs from nn.MultiheadAttention's by up to "
                    f"{_max_error(output, ref_out):.3g}: check the merge of the heads and the out projection"
                )
    passed(f"output and weights match nn.MultiheadAttention (max error <= 1e-5; scale 1/sqrt({E // h}))")


def check_heads_specialise(weights, offsets=(-1, 1), threshold=0.8):
    """Trained two-head model: one head should attend to t-1, the other to t+1."""
    if weights is None:
        raise AssertionError(
            "not implemented yet: there are no trained weights; finish multi_head_attention, "
            "then run the training cell above"
        )
    _expect_shape(weights, (weights.shape[0], 2, weights.shape[2], weights.shape[3]), "weights")
    T = weights.shape[-1]
    inner = torch.arange(1, T - 1)
    found = {}
    for head in range(2):
        for offset in offsets:
            share = weights[:, head, inner, inner + offset].mean().item()
            found[(head, offset)] = share
    best = max(found[(0, -1)] + found[(1, 1)], found[(0, 1)] + found[(1, -1)]) / 2
    if best < threshold:
        raise AssertionError(
            f"the heads put on average {best:.2f} of their weight on the neighbour they should read "
            f"(expected >= {threshold}): train longer, or check multi_head_attention"
        )
    # Return nothing: nbgrader would read a returned number as partial credit.
    passed(f"the two heads read opposite neighbours (mean weight {best:.2f} on the right neighbour)")



# ---- Exercise 4.4: attention and sequence length -----------------------------------------

def check_attention_entropy(attention_entropy):
    """Entropy in nats of every attention row: (..., T_src) -> (...), 0 log 0 counted as 0."""
    uniform = torch.full((2, 3, 8), 1 / 8)
    one_hot = torch.zeros(2, 3, 8)
    one_hot[..., 2] = 1.0
    padded = torch.tensor([[[0.5, 0.5, 0.0, 0.0]]])  # two padded positions with weight exactly 0
    result = _call(attention_entropy, "attention_entropy", uniform)
    _expect_shape(result, (2, 3), "attention_entropy(weights of shape (2, 3, 8))")
    expected = math.log(8)
    if torch.allclose(result, torch.full((2, 3), -expected), atol=1e-4):
        raise AssertionError("uniform weights gave -log 8: the entropy is MINUS the sum of p log p")
    if torch.allclose(result, torch.full((2, 3), math.log2(8)), atol=1e-4):
        raise AssertionError("uniform weights gave log2(8) = 3: use the natural log (nats), torch.log")
    if not torch.allclose(result, torch.full((2, 3), expected), atol=1e-4):
        raise AssertionError(f"uniform weights over 8 positions should give log 8 = {expected:.4f} nats, "
                             f"got {result.flatten()[0].item():.4f}")
    sharp = _call(attention_entropy, "attention_entropy", one_hot)
    if torch.isnan(sharp).any():
        raise AssertionError("one-hot weights gave NaN: 0 * log 0 must count as 0 (e.g. use torch.xlogy, "
                             "or clamp the weights before the log)")
    if not torch.allclose(sharp, torch.zeros(2, 3), atol=1e-4):
        raise AssertionError(f"one-hot weights should give entropy 0, got {sharp.flatten()[0].item():.4f}")
    half = _call(attention_entropy, "attention_entropy", padded)
    if torch.isnan(half).any() or abs(half.item() - math.log(2)) > 1e-4:
        raise AssertionError("weights (0.5, 0.5, 0, 0) should give log 2 (padded positions add nothing), "
                             f"got {half.item():.4f}")
    passed("attention_entropy: log T for uniform weights, 0 for one-hot, no NaN for zero weights")


BUCKETS = {"short": (5, 10), "medium": (20, 30), "long": (50, 100)}


def check_length_report(length_report, model):
    """length_report(model, buckets, n) -> {bucket: {"accuracy", "entropy", "normalised_entropy"}}."""
    from .bottleneck import make_reversal_batch
    from .interpret import attention_entropy

    buckets = {"tiny": (3, 5), "small": (6, 6)}
    report = _call(length_report, "length_report", model, buckets, n=20)
    if not isinstance(report, dict) or set(report) != set(buckets):
        got = report if not isinstance(report, dict) else sorted(report)
        raise AssertionError(f"length_report should return a dict with one entry per bucket "
                             f"{sorted(buckets)}, got {got}")
    for name, (low, high) in buckets.items():
        lengths = range(low, high + 1)
        accuracy, entropy, normalised = [], [], []
        for T in lengths:
            source, target = make_reversal_batch(20, T, torch.Generator().manual_seed(T))
            tokens, weights = model.generate(source, T)
            accuracy.append((tokens == target).float().mean().item())
            row = attention_entropy(weights).mean().item()
            entropy.append(row)
            normalised.append(row / math.log(T))
        expected = {"accuracy": sum(accuracy) / len(accuracy), "entropy": sum(entropy) / len(entropy),
                    "normalised_entropy": sum(normalised) / len(normalised)}
        got = report[name]
        for key, value in expected.items():
            if key not in got:
                raise AssertionError(f"report[{name!r}] has no {key!r}: it needs accuracy, entropy, "
                                     "normalised_entropy")
            if abs(float(got[key]) - value) > 1e-3:
                raise AssertionError(
                    f"report[{name!r}][{key!r}] is {float(got[key]):.4f}, expected {value:.4f} "
                    f"(off by {abs(float(got[key]) - value):.4f}). Average over every length from {low} to "
                    f"{high} inclusive, n strings each from make_reversal_batch(n, T, "
                    "torch.Generator().manual_seed(T)); the normalised entropy is the entropy / log T."
                )
    passed("length_report averages accuracy and entropy over every length of each bucket")


def check_length_findings(report):
    """The trained model: accurate on short inputs, and attention stays sharp at every length."""
    if report is None:
        raise AssertionError("not implemented yet: there is no report; run the cells above first")
    if report["short"]["accuracy"] < 0.95:
        raise AssertionError(f"short inputs should be nearly perfect, got {report['short']['accuracy']:.2f}: "
                             "was the model trained?")
    if report["long"]["accuracy"] < 0.6:
        raise AssertionError(f"long inputs reached only {report['long']['accuracy']:.2f}: train longer")
    if not report["short"]["entropy"] < report["long"]["entropy"]:
        raise AssertionError("expected the raw entropy to grow with length (more positions to spread over)")
    if max(b["normalised_entropy"] for b in report.values()) > 0.3:
        raise AssertionError("normalised entropy above 0.3: the attention is not sharp; train longer")
    passed("accuracy and entropy by bucket look like a trained attention model")


# ---- Exercise 4.1: Bahdanau vs Luong on dates ----------------------------------------------

def _ngram_counts(text, n):
    from collections import Counter

    return Counter(text[i:i + n] for i in range(len(text) - n + 1))


def _reference_chrf(hypothesis, reference, max_n=6, beta=2.0):
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        hyp, ref = _ngram_counts(hypothesis, n), _ngram_counts(reference, n)
        if not hyp or not ref:
            continue
        matches = sum((hyp & ref).values())
        precisions.append(matches / sum(hyp.values()))
        recalls.append(matches / sum(ref.values()))
    if not precisions:
        return 0.0
    precision, recall = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if precision + recall == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


CHRF_CASES = [("1994-09-27", "1994-09-27"), ("1994-09-27", "1994-09-28"), ("1994-09-27", "2094-09-27"),
              ("1994-09", "1994-09-27"), ("1994-09-27-27", "1994-09-27"), ("abc", "xyz"), ("", "1994-09-27"),
              ("2001-01-01", "2001-10-10")]


def check_chrf(chrf):
    """chrF (Popovic, 2015): character n-gram F-beta, n = 1..6, beta = 2, precision and recall averaged."""
    for hypothesis, reference in CHRF_CASES:
        got = _call(chrf, "chrf", hypothesis, reference)
        expected = _reference_chrf(hypothesis, reference)
        if not isinstance(got, (int, float)) or math.isnan(got):
            raise AssertionError(f"chrf({hypothesis!r}, {reference!r}) should be a number, got {got!r}")
        if abs(got - expected) > 1e-6:
            swapped = _reference_chrf(reference, hypothesis)
            hint = ""
            if abs(got - swapped) < 1e-6:
                hint = " It equals chrf(reference, hypothesis): are precision and recall swapped?"
            elif abs(got - _reference_chrf(hypothesis, reference, beta=1.0)) < 1e-6:
                hint = " That is the F1 score: chrF weighs recall beta = 2 times as much as precision."
            raise AssertionError(f"chrf({hypothesis!r}, {reference!r}) = {got:.4f}, expected {expected:.4f} "
                                 f"(off by {abs(got - expected):.4f}).{hint}")
    passed("chrf agrees with the reference on identical, near and disjoint strings, and on empty output")


RESULT_KEYS = ("exact_match", "chrf", "train_seconds", "peak_mib", "entropy", "parameters")


def check_experiment(result, model, test_pairs, source_vocab, target_vocab):
    """The dict run_experiment returns: every number present, in range, and consistent with the model."""
    from .dates import translate_batch

    if result is None:
        raise AssertionError("not implemented yet: write `run_experiment` and run it in the cell above")
    missing = [key for key in RESULT_KEYS if key not in result]
    if missing:
        raise AssertionError(f"the result lacks {missing}; run_experiment must return {list(RESULT_KEYS)}")
    sample = test_pairs[:100]
    outputs = translate_batch(model, [s for s, _ in sample], source_vocab, target_vocab)
    exact = sum(o == t for o, (_, t) in zip(outputs, sample, strict=True)) / len(sample)
    chrf = sum(_reference_chrf(o, t) for o, (_, t) in zip(outputs, sample, strict=True)) / len(sample)
    full_exact = result["exact_match"]
    if not 0 <= full_exact <= 1 or abs(full_exact - exact) > 0.1:
        raise AssertionError(f"exact_match {full_exact:.3f} does not match the model's outputs "
                             f"(the first 100 test dates give {exact:.3f}); it is a fraction between 0 and 1")
    if abs(result["chrf"] - chrf) > 0.1:
        raise AssertionError(f"chrf {result['chrf']:.3f} does not match the model's outputs (the first 100 "
                             f"test dates give {chrf:.3f}); average chrf over the test pairs")
    if result["parameters"] != sum(p.numel() for p in model.parameters()):
        raise AssertionError("parameters should count every number the model trains")
    if not (result["train_seconds"] > 0 and result["peak_mib"] > 0):
        raise AssertionError("train_seconds and peak_mib should be positive measurements")
    longest = max(len(s) for s, _ in test_pairs)
    if not 0 <= result["entropy"] <= math.log(longest):
        raise AssertionError(f"the mean entropy {result['entropy']:.3f} should lie between 0 and "
                             f"log(longest source) = {math.log(longest):.3f} nats")
    passed(f"the result is complete and consistent with the model (exact match {full_exact:.3f})")


def check_comparison(results):
    """Both attention models learn the task; attention rows are far sharper than uniform."""
    if not results or not isinstance(results, dict):
        raise AssertionError("not implemented yet: run the comparison cell above")
    for kind, result in results.items():
        if result["exact_match"] < 0.9:
            raise AssertionError(f"{kind} reached only {result['exact_match']:.3f} exact match: train longer")
        if result["entropy"] > 1.5:  # uniform weights over a 10-17 character date: log T = 2.3-2.8 nats
            raise AssertionError(
                f"{kind}'s attention has mean entropy {result['entropy']:.2f} nats, close to uniform "
                "(log T = 2.3-2.8): was the entropy computed on the model's weights?")
    passed("both attention models learned the task, with sharp attention")


# ---- Exercise 4.3: sentiment classification with self-attention ---------------------------

def check_sentiment_model(model_class, vocab_size=50):
    """Embedding -> self-attention -> attention pooling -> linear, masked, for any length."""
    from .self_attention import MultiHeadAttention

    torch.manual_seed(0)
    model = _call(model_class, "SelfAttentionClassifier", vocab_size)
    if not any(isinstance(m, (MultiHeadAttention, nn.MultiheadAttention)) for m in model.modules()):
        raise AssertionError("the model has no self-attention layer: use MultiHeadAttention(embed, heads)")
    model.eval()
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])  # (B=2, T=6), 0 = <pad>
    mask = ids != 0
    with torch.no_grad():
        result = _call(model, "SelfAttentionClassifier.forward", ids, mask)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise AssertionError("forward should return (logits (B, num_classes), pooling weights (B, T))")
        logits, weights = result
        _expect_shape(logits, (2, 2), "logits")
        _expect_shape(weights, (2, 6), "pooling weights")
        if not torch.allclose(weights.sum(-1), torch.ones(2), atol=1e-5):
            raise AssertionError("the pooling weights of each sentence should sum to 1")
        if weights[0, 4:].abs().max() > 1e-6:
            raise AssertionError("padded positions got pooling weight: pass the mask to AttentionPooling")
        longer_ids = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1)  # 5 more <pad>
        longer_logits, _ = model(longer_ids, longer_ids != 0)
        if _max_error(longer_logits, logits) > 1e-4:
            raise AssertionError(
                f"adding padding changed the logits by {_max_error(longer_logits, logits):.3g}: the padding "
                "mask is ignored somewhere (pass mask= to the self-attention and to the pooling)")
        one, _ = model(ids[1:], mask[1:])
        if _max_error(one, logits[1:]) > 1e-4:
            raise AssertionError("a sentence alone and in a batch should get the same logits")
        model(torch.randint(2, vocab_size, (3, 40)), torch.ones(3, 40, dtype=torch.bool))  # any length
    passed("embedding -> self-attention -> pooling -> linear, padding ignored, any length")


def check_sentiment_accuracy(test_accuracy, threshold=0.7):
    if test_accuracy is None:
        raise AssertionError("not implemented yet: train the model in the cells above")
    if test_accuracy < threshold:
        raise AssertionError(f"test accuracy {test_accuracy:.3f} is below {threshold}: train it (3 epochs) "
                             "and check the model")
    passed(f"test accuracy {test_accuracy:.3f} >= {threshold}")


# ---- Exercise 4.5: attention dropout --------------------------------------------------------

def check_attention_dropout(dropout_class):
    """Inverted dropout on the attention weights, in training mode only, masks kept."""
    from .attention import BahdanauAttention

    torch.manual_seed(0)
    inner = BahdanauAttention(8, 6, 8)
    query, keys = torch.randn(64, 8), torch.randn(64, 20, 6)
    mask = torch.ones(64, 20, dtype=torch.bool)
    mask[:, 15:] = False
    reference_context, reference = inner(query, keys, mask)
    wrapped = _call(dropout_class, "AttentionDropout", inner, 0.5)
    for name in ("query_size", "key_size"):
        if getattr(wrapped, name, None) != getattr(inner, name):
            raise AssertionError(f"AttentionDropout should copy {name} from the attention it wraps")
    wrapped.eval()
    context, weights = _call(wrapped, "AttentionDropout.forward", query, keys, mask)
    if _max_error(weights, reference) > 1e-6 or _max_error(context, reference_context) > 1e-5:
        raise AssertionError("in evaluation mode (model.eval()) the weights must be exactly those of the "
                             "wrapped attention: dropout is for training only (training=self.training)")
    wrapped.train()
    context, weights = wrapped(query, keys, mask)
    _expect_shape(weights, (64, 20), "weights")
    if weights[:, 15:].abs().max() > 0:
        raise AssertionError("masked positions got weight after dropout: drop the masked softmax's weights")
    real = weights[:, :15]
    dropped = (real == 0).float().mean().item()
    if not 0.4 < dropped < 0.6:
        raise AssertionError(f"with p = 0.5 about half of the weights should be zeroed in training, "
                             f"{dropped:.0%} were: apply dropout to the weights")
    kept = real != 0
    if torch.allclose(weights.sum(-1), torch.ones(64), atol=1e-4):
        raise AssertionError("the weights were renormalised after dropout; keep inverted dropout's scaling "
                             "(divide by 1 - p) instead, so their expectation is unchanged")
    if _max_error(real[kept], 2 * reference[:, :15][kept]) > 1e-5:
        raise AssertionError("the weights that survive dropout should be divided by 1 - p (= doubled for "
                             "p = 0.5), as F.dropout does, so that their expected value is unchanged")
    if _max_error(context, (weights.unsqueeze(1) @ keys).squeeze(1)) > 1e-5:
        raise AssertionError("the context must be the weighted sum of the keys with the dropped weights")
    passed("inverted dropout on the weights in training only; masked positions stay at 0")


def check_dropout_sweep(results, rates=(0.0, 0.1, 0.2, 0.3)):
    if not results:
        raise AssertionError("not implemented yet: write `dropout_sweep` and run it above")
    if sorted(results) != sorted(rates):
        raise AssertionError(f"the sweep should cover the rates {list(rates)}, got {sorted(results)}")
    for rate, row in results.items():
        for key in ("train_exact", "test_exact", "gap"):
            if key not in row:
                raise AssertionError(f"results[{rate}] lacks {key!r}")
        if not (0 <= row["train_exact"] <= 1 and 0 <= row["test_exact"] <= 1):
            raise AssertionError(f"results[{rate}]: exact match is a fraction between 0 and 1")
        if abs(row["gap"] - (row["train_exact"] - row["test_exact"])) > 1e-9:
            raise AssertionError(f"results[{rate}]['gap'] should be train_exact - test_exact")
    if results[0.0]["train_exact"] < 0.95:
        raise AssertionError("without dropout the model should fit its training dates (>= 0.95): "
                             "was it trained?")
    passed("the sweep covers every rate, with train and test exact match and their gap")


# ---- Exercise 4.2: an attention visualisation tool ------------------------------------------

def check_collect_attention(collect_attention, model):
    """collect_attention(model, text) -> (tokens, [per layer (h, T, T)]); ValueError for bad input."""
    model.eval()
    result = _call(collect_attention, "collect_attention", model, "31415")
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError("collect_attention should return (tokens, list of per-layer weights)")
    tokens, layers = result
    if list(tokens) != list("31415"):
        raise AssertionError(f"tokens for '31415' should be ['3', '1', '4', '1', '5'], got {tokens}")
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        *_, reference = model(ids)
    if len(layers) != len(reference):
        raise AssertionError(f"expected one weight tensor per layer ({len(reference)}), got {len(layers)}")
    for index, (got, expected) in enumerate(zip(layers, reference, strict=True)):
        _expect_shape(got, expected.shape[1:], f"weights of layer {index + 1}")
        if _max_error(got, expected[0]) > 1e-6:
            raise AssertionError(f"the weights of layer {index + 1} differ from the model's: run it in "
                                 "eval mode on the ids of the text and take the weights it returns")
    for bad in ["31a15", "", "1" * 40]:
        try:
            collect_attention(model, bad)
        except ValueError as error:
            if bad == "31a15" and "a" not in str(error):
                raise AssertionError(f"the error for '31a15' should name the bad character 'a': {error}") \
                    from None
            continue
        except NotImplementedError:
            raise
        except Exception as error:
            raise AssertionError(f"collect_attention(model, {bad!r}) should raise ValueError, "
                                 f"not {type(error).__name__}: {error}") from None
        raise AssertionError(f"collect_attention(model, {bad!r}) should raise a ValueError saying why")
    passed("collect_attention returns the tokens and every layer's (h, T, T) weights, and rejects bad input")


def check_head_statistics(head_statistics):
    """(h, T, T) weights -> {"entropy": (h,), "concentration": (h,)}, means over the query rows."""
    uniform = torch.full((2, 4, 4), 0.25)
    one_hot = torch.eye(4).expand(2, 4, 4)
    stats = _call(head_statistics, "head_statistics", uniform)
    if not isinstance(stats, dict) or set(stats) != {"entropy", "concentration"}:
        raise AssertionError("head_statistics should return {'entropy': ..., 'concentration': ...}")
    _expect_shape(stats["entropy"], (2,), "entropy (one value per head)")
    _expect_shape(stats["concentration"], (2,), "concentration (one value per head)")
    if not torch.allclose(stats["entropy"], torch.full((2,), math.log(4)), atol=1e-4):
        raise AssertionError(f"uniform weights over 4 keys should have entropy log 4 = {math.log(4):.4f}, "
                             f"got {stats['entropy'].tolist()}")
    if not torch.allclose(stats["concentration"], torch.full((2,), 0.25), atol=1e-4):
        raise AssertionError("the concentration of uniform weights over 4 keys is their largest weight, 0.25")
    sharp = head_statistics(one_hot)
    if torch.isnan(sharp["entropy"]).any() or not torch.allclose(sharp["entropy"], torch.zeros(2), atol=1e-4):
        raise AssertionError("one-hot rows should have entropy 0 (and never NaN: 0 log 0 = 0)")
    if not torch.allclose(sharp["concentration"], torch.ones(2)):
        raise AssertionError("one-hot rows should have concentration 1")
    mixed = torch.stack([torch.eye(4), torch.full((4, 4), 0.25)])  # head 1 sharp, head 2 uniform
    per_head = head_statistics(mixed)
    if not (per_head["entropy"][0] < 1e-4 and abs(per_head["entropy"][1] - math.log(4)) < 1e-4):
        raise AssertionError("statistics must be per head: average over the query rows (dim -2) only")
    passed("head_statistics gives each head's mean entropy and mean largest weight")


def check_show_attention(show_attention, model):
    """A figure with one panel per (layer, head), titled "Layer l, Head h"."""
    import matplotlib.pyplot as plt

    figure = _call(show_attention, "show_attention", model, "2718281")
    if not hasattr(figure, "axes"):
        raise AssertionError("show_attention should return the matplotlib Figure it drew")
    layers, heads = len(model.layers), model.layers[0].attention.num_heads
    panels = [ax for ax in figure.axes if ax.get_title()]
    titles = [ax.get_title() for ax in panels]
    plt.close(figure)
    if len(panels) != layers * heads:
        raise AssertionError(f"expected {layers * heads} titled panels (layers x heads), got {len(panels)}")
    for layer in range(1, layers + 1):
        for head in range(1, heads + 1):
            if not any(t.startswith(f"Layer {layer}, Head {head}") for t in titles):
                raise AssertionError(f"no panel titled 'Layer {layer}, Head {head}'; titles: {titles}")
    passed("one panel per layer and head, titled 'Layer l, Head h'")
