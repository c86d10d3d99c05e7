"""`make bench`: the course's performance, measured against the references in one run.

A benchmark, not a test: it measures and writes bench/results.json and bench/report.md (rendered
by tools/bench_report.py), and asserts nothing about time. Times come from torch.utils.benchmark
(`Timer.blocked_autorange`: warm-up, calls timed in blocks, a set number of torch threads, the
accelerator synchronised), through attention_course.perf.measure. Absolute times drift on a shared
machine, so every comparison is a ratio of candidates measured side by side: the candidates are
timed interleaved, round after round, and each figure is the median over the rounds, so that
background load slows all of them alike.

Sections:
  layouts     one Bahdanau decoder step: the course's layout (broadcasting, keys projected once) vs
              repeat + concatenate vs keys projected every step (attention_course.perf.layouts, from 4.3)
  scores      Luong dot / general / concat and additive: time per decoder step, parameters
  attention   teaching scaled_dot_product_attention vs F.scaled_dot_product_attention vs
              MultiHeadAttention vs nn.MultiheadAttention, forward and forward + backward, time and
              peak memory, against the matmul floor at this machine's measured matmul GFLOP/s
              (--lengths, --batch, --heads, --head-dim, --forward-only choose its sizes)
  threads     1 vs 2 torch threads on the CPU for one training step of the course's small
              recurrent models (4.1 reversal, 4.5 dates, 4.6 Bi-LSTM classifier)
  dates       date Seq2Seq (4.5), three seeds: Bahdanau's decoder and Luong's (global and
              local-p) with their scores; steps (and seconds) to >= 99 % validation exact
              match, test exact match, alignment score (4.4); uniform attention trained longer
  course      execution time of every notebook (chapters, solutions, exercises) and the book build

On a CUDA machine the model rows (layouts, scores, attention) run on the GPU; the report says
which device each row used.

    python tools/bench.py                  # everything (about 20 min on the quiet 2-core machine)
    python tools/bench.py --quick          # small sizes, few rounds, one notebook (<= 2 min)
    python tools/bench.py --only threads,dates   # re-measure some sections, keep the others
    python tools/bench.py --render         # report.md again from results.json, nothing run

Chapter 4.6's attention at sizes too large for the notebook, in a folder of its own (the teaching
attention stores the B·h·n² weights: 4 GiB of float32 at B 8, h 8, n 4,096; --forward-only skips
the backward pass and what it keeps):

    python tools/bench.py --only attention --out /tmp/attention --device cuda \\
        --batch 8 --heads 8 --head-dim 64 --lengths 256 512 1024 2048 4096 --forward-only

--only merges: the sections it runs replace theirs in results.json (in --out), the others are
kept as they were, and report.md is rendered again from the whole; the report says when each
section was measured, and how. A --quick run writes only what it measured.
"""

import argparse
import copy
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its threads

import nbformat  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from torch import nn  # noqa: E402

from attention_course import (  # noqa: E402
    AttentionDecoder,
    BahdanauAttention,
    BiLSTMClassifier,
    CharVocab,
    DateSeq2Seq,
    LuongAttention,
    MultiHeadAttention,
    Seq2Seq,
    build_vocab,
    date_loader,
    encode_texts,
    make_reversal_batch,
    movie_review_splits,
    scaled_dot_product_attention,
    sequence_loss,
    set_seed,
    split_dates,
    steps_to,
    train_dates,
)
from attention_course.interpret import date_scores  # noqa: E402
from attention_course.perf.layouts import (  # noqa: E402
    HandFusedAttention,
    ProjectEveryStepAttention,
    RepeatConcatAttention,
)
from attention_course.perf.measure import (  # noqa: E402
    interleaved_medians,
    interleaved_rounds,
    peak_memory_mib,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/ is not a package
from bench_report import SECTIONS, render_file, summary_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NUMPY_REFERENCE_SECONDS = 330.0  # the NumPy date model's training time on the course machine (issue 9)
COURSE = "course (broadcast, keys projected once)"


def say(*args):
    print(*args, flush=True)


def decoder_inputs(device, B=64, T_src=40, H=64, V=11):
    """The decoder-step setting of chapter 4.3: B sequences, T_src positions, half the batch padded."""
    set_seed(0)
    keys, state = torch.randn(B, T_src, H), torch.randn(B, H)  # (B, T_src, H), (B, H)
    token, mask = torch.randint(0, V, (B,)), torch.ones(B, T_src, dtype=torch.bool)
    mask[: B // 2, -10:] = False
    return keys.to(device), state.to(device), token.to(device), mask.to(device)


def timing(rounds, min_run_time, threads, **more):
    """What a section records about how it was timed (bench_report.timing_text words it)."""
    return {"method": "torch.utils.benchmark.Timer.blocked_autorange, interleaved rounds",
            "rounds": rounds, "min_run_time_s": min_run_time, "threads": threads, **more}


def bench_layouts(device, rounds, min_run_time):
    """One decoder step of the same additive attention in four layouts (same weights), on one
    torch thread (the course's small-model setting, chapters 4.1-4.5)."""
    B, T_src, H, V, E = 64, 40, 64, 11, 32
    keys, state, token, mask = decoder_inputs(device, B, T_src, H, V)
    set_seed(0)
    additive = BahdanauAttention(H, H, H)
    course = AttentionDecoder(V, E, H, H, additive)
    every_step = ProjectEveryStepAttention(H, H, H)
    every_step.load_state_dict(additive.state_dict())
    layouts = {COURSE: additive,
               "repeat + concat": RepeatConcatAttention(additive),
               "broadcast, keys projected every step": every_step,
               "hand-fused, no checks (reference)": HandFusedAttention(additive)}
    decoders, projected = {}, {}
    for name, attention in layouts.items():
        decoders[name] = copy.deepcopy(course)  # same embedding, GRU and output layer ...
        decoders[name].attention = copy.deepcopy(attention)  # ... only the attention layout differs
        decoders[name].to(device)
        projected[name] = decoders[name].attention.project_keys(keys).detach()
    with torch.no_grad():
        reference = decoders[COURSE].step(token, state, keys, projected[COURSE], mask)
        for name, decoder in decoders.items():
            output = decoder.step(token, state, keys, projected[name], mask)
            if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(output, reference, strict=True)):
                raise RuntimeError(f"layout {name!r} does not compute the course's decoder step")
    with torch.no_grad():
        seconds = interleaved_medians(
            {name: (lambda d=d, p=projected[name]: d.step(token, state, keys, p, mask))
             for name, d in decoders.items()}, rounds=rounds, min_run_time=min_run_time, num_threads=1)
    compared = [n for n in layouts if "reference" not in n]  # the three layouts the issue compares
    best = min(seconds[n] for n in compared)
    rows = [{"layout": n, "us_per_step": seconds[n] * 1e6, "x_course": seconds[n] / seconds[COURSE],
             "compared": n in compared} for n in layouts]
    course_vs_best = seconds[COURSE] / best
    return {"device": str(device), "B": B, "T_src": T_src, "H": H, "rounds": rounds,
            "timing": timing(rounds, min_run_time, 1), "rows": rows,
            "course_vs_best": course_vs_best, "course_fastest": course_vs_best <= 1.1}


def bench_scores(device, rounds, min_run_time):
    """Luong's three scores and the additive score in the course's AttentionDecoder, on one
    torch thread."""
    B, T_src, H, V, E = 64, 40, 64, 11, 32
    keys, state, token, mask = decoder_inputs(device, B, T_src, H, V)
    set_seed(0)
    modules = {"additive (Bahdanau)": BahdanauAttention(H, H, H),
               "Luong dot": LuongAttention(H, H, "dot"),
               "Luong general": LuongAttention(H, H, "general"),
               "Luong concat": LuongAttention(H, H, "concat", hidden_size=H)}
    decoders = {n: AttentionDecoder(V, E, H, H, a).to(device) for n, a in modules.items()}
    projected = {n: d.attention.project_keys(keys).detach() for n, d in decoders.items()}
    candidates = {}
    for name, d in decoders.items():
        candidates[name, "attention"] = lambda a=d.attention, p=projected[name]: a(state, keys, mask, p)
        candidates[name, "step"] = lambda d=d, p=projected[name]: d.step(token, state, keys, p, mask)
    with torch.no_grad():
        seconds = interleaved_medians(candidates, rounds=rounds, min_run_time=min_run_time,
                                      num_threads=1)
    base = seconds["additive (Bahdanau)", "step"]
    rows = [{"score": n, "parameters": sum(p.numel() for p in modules[n].parameters()),
             "us_attention": seconds[n, "attention"] * 1e6, "us_per_step": seconds[n, "step"] * 1e6,
             "x_additive_step": seconds[n, "step"] / base} for n in modules]
    return {"device": str(device), "B": B, "T_src": T_src, "H": H, "rounds": rounds,
            "timing": timing(rounds, min_run_time, 1), "rows": rows}


def attention_flops(impl, backward, B, h, n, head_dim):
    """Matmul FLOPs of one call: Q K^T and weights @ V are 2 n^2 d_k each per head (4 B h n^2 d_k,
    d_k = head_dim); the two modules add their four (n x E) @ (E x E) projections. Backward does
    two products per forward product (gradients of both factors), so forward + backward is 3x the
    forward."""
    flops = 4 * B * h * n * n * head_dim
    if impl in ("MultiHeadAttention", "nn.MultiheadAttention"):
        E = h * head_dim
        flops += 4 * 2 * B * n * E * E
    return 3 * flops if backward else flops


def attention_case(n, B, h, head_dim, device):
    """The four implementations at length n, forward (no grad) and forward + backward."""
    E = h * head_dim
    set_seed(0)
    torch_mha = nn.MultiheadAttention(E, h, batch_first=True).to(device)
    mha = MultiHeadAttention.from_torch(torch_mha)
    q, k, v = torch.randn(3, B, h, n, head_dim, device=device).unbind(0)  # (B, h, n, d_k) each
    x = torch.randn(B, n, E, device=device)  # (B, n, E) for the modules (self-attention)
    qg, kg, vg, xg = (t.clone().requires_grad_() for t in (q, k, v, x))
    forward = {
        "teaching scaled_dot_product_attention": lambda: scaled_dot_product_attention(q, k, v)[0],
        "F.scaled_dot_product_attention": lambda: F.scaled_dot_product_attention(q, k, v),
        "MultiHeadAttention": lambda: mha(x, x, x)[0],
        "nn.MultiheadAttention": lambda: torch_mha(x, x, x, need_weights=False)[0],
    }

    def backward(name):
        """Forward, then the gradients of the output's sum with respect to the inputs and weights.
        torch.autograd.grad returns them instead of accumulating them into .grad, so every call
        allocates and frees the same memory (the peak-memory measurement relies on that)."""
        def run():
            if name == "teaching scaled_dot_product_attention":
                out, wrt = scaled_dot_product_attention(qg, kg, vg)[0], [qg, kg, vg]
            elif name == "F.scaled_dot_product_attention":
                out, wrt = F.scaled_dot_product_attention(qg, kg, vg), [qg, kg, vg]
            elif name == "MultiHeadAttention":
                out, wrt = mha(xg, xg, xg)[0], [xg, *mha.parameters()]
            else:
                out, wrt = torch_mha(xg, xg, xg, need_weights=False)[0], [xg, *torch_mha.parameters()]
            torch.autograd.grad(out.sum(), wrt)
        return run

    return forward, {name: backward(name) for name in forward}


def matmul_candidate(device):
    """A square float32 matmul large enough to run near this machine's peak matmul rate."""
    size = 4096 if device.type == "cuda" else 1024
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return (lambda: a @ b), 2 * size**3


LONG_FROM = 1024  # lengths above this get two rounds fewer (they dominate the run time)


def bench_attention(device, lengths, B, h, head_dim, rounds, min_run_time, threads, backward=True,
                    progress=say):
    """Time, peak memory and fraction of the matmul floor of the four implementations, forward
    and, with `backward`, forward + backward, on `threads` torch threads."""
    matmul, matmul_flops = matmul_candidate(device)
    rows, rates = [], []
    long_rounds = max(1, rounds - 2)
    for n in lengths:
        forward, with_backward = attention_case(n, B, h, head_dim, device)
        r = rounds if n <= LONG_FROM else long_rounds
        modes = [("forward", forward, False)]
        if backward:
            modes.append(("forward+backward", with_backward, True))
        measured = {}
        for mode, fns, grad in modes:
            with torch.set_grad_enabled(grad):
                measured[mode] = interleaved_medians({"matmul": matmul, **fns}, rounds=r,
                                                     min_run_time=min_run_time, num_threads=threads)
        gflops = matmul_flops / min(m["matmul"] for m in measured.values()) / 1e9  # in the same rounds
        rates.append(gflops)
        fwd = measured["forward"]
        for mode, fns, _ in modes:
            seconds = measured[mode]
            fused = seconds.get("F.scaled_dot_product_attention", float("nan"))
            for name, fn in fns.items():
                with torch.set_grad_enabled(mode != "forward"):
                    mib = peak_memory_mib(fn, device)
                floor = attention_flops(name, mode != "forward", B, h, n, head_dim) / (gflops * 1e9)
                rows.append({"n": n, "mode": mode, "implementation": name, "ms": seconds[name] * 1e3,
                             "x_fused": seconds[name] / fused, "peak_mib": mib, "floor_ms": floor * 1e3,
                             "fraction_of_floor": floor / seconds[name]})
        progress(f"  n = {n:,}: " + ", ".join(f"{name} {t * 1e3:.1f} ms" for name, t in fwd.items()
                                             if name != "matmul") + f" forward; matmul {gflops:.0f} GFLOP/s")
        del forward, with_backward
    return {"device": str(device), "B": B, "heads": h, "d_k": head_dim, "lengths": list(lengths),
            "rounds": rounds,
            "timing": timing(rounds, min_run_time, threads, **(
                {"rounds_long": long_rounds, "long_from": LONG_FROM}
                if max(lengths) > LONG_FROM and long_rounds != rounds else {})),
            "threads": threads, "matmul_gflops": statistics.median(rates), "rows": rows}


def _training_steps(n_batches):
    """One training step of each of the course's small recurrent models, as in its chapter:
    {name: (description, step function)}. Each step function trains its own model copy."""
    set_seed(0)
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 61, (n_batches,), generator=generator).tolist()
    reversal_batches = [make_reversal_batch(64, n, generator) for n in lengths]

    train_pairs, _, _ = split_dates(20_000, 0, 0, seed=0)
    source_vocab = CharVocab.from_texts(s for s, _ in train_pairs)
    target_vocab = CharVocab.from_texts(t for _, t in train_pairs)
    loader = date_loader(train_pairs, source_vocab, target_vocab, batch_size=64, seed=0)
    date_batches = [batch for batch, _ in zip(loader, range(n_batches), strict=False)]

    splits = movie_review_splits()
    vocab = build_vocab([text for text, _ in splits["train"]])
    review_batches = []
    for start in range(0, min(64 * n_batches, len(splits["train"]) - 63), 64):
        texts, labels = zip(*splits["train"][start:start + 64], strict=True)
        review_batches.append((*encode_texts(texts, vocab), torch.tensor(labels)))

    def trainer(model, loss_of_batch, batches):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        position = iter(range(10**9))

        def step():
            batch = batches[next(position) % len(batches)]
            loss = loss_of_batch(model, batch)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
        return step

    def reversal_loss(model, batch):
        source, target = batch
        logits = model(source, target)  # (B, T, |V|)
        return F.cross_entropy(logits.flatten(0, 1), target.flatten())

    def date_loss(model, batch):
        logits, _ = model(batch.source, batch.source_mask, batch.decoder_input)
        return sequence_loss(logits, batch.target, target_vocab.pad)

    def review_loss(model, batch):
        ids, mask, labels = batch
        logits, _ = model(ids, mask)  # (B, 2)
        return F.cross_entropy(logits, labels)

    models = {
        "reversal (4.1)": ("Seq2Seq(use_attention=True): GRU encoder-decoder, H = 64, "
                           "B = 64, 5-60 digits", lambda: Seq2Seq(use_attention=True),
                           reversal_loss, reversal_batches),
        "dates (4.5)": ("DateSeq2Seq, Bahdanau attention, embed_size 32, H = 64, B = 64",
                        lambda: DateSeq2Seq(len(source_vocab), len(target_vocab)),
                        date_loss, date_batches),
        "sentiment (4.6)": ("BiLSTMClassifier with attention pooling, input 32, hidden 32, "
                            "B = 64", lambda: BiLSTMClassifier(32, 32, vocab_size=len(vocab)),
                            review_loss, review_batches),
    }
    steps = {}
    for name, (description, make, loss_of_batch, batches) in models.items():
        set_seed(0)
        model = make()
        for threads in (1, 2):  # the same initial weights for both settings
            copy_ = copy.deepcopy(model).train()
            steps[name, threads] = (description, trainer(copy_, loss_of_batch, batches))
    return steps


def _cpu_seconds():
    """(CPU seconds used by every process since boot, by this process), or (None, ...) where
    /proc/stat is missing (not Linux)."""
    own = sum(os.times()[:2])
    try:
        with open("/proc/stat") as stat:
            ticks = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None, own
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK"), own


def bench_threads(rounds, min_run_time, max_seconds, quiet_cores=0.2, progress=say):
    """Seconds per training step with 1 and with 2 torch threads (Timer's num_threads), timed in
    interleaved rounds: every round times each model at each setting, one after the other, for at
    least `min_run_time` seconds. Only quiet rounds count: rounds during which other processes
    used less than `quiet_cores` of a CPU core (from /proc/stat, less this process's own CPU
    time), since two threads need both cores of a 2-core machine and any other work would count
    against them. Rounds go on until `rounds` quiet ones are in, or `max_seconds` have passed;
    then the median over the quiet rounds (over all rounds, flagged, if fewer than 3 were quiet)."""
    steps = _training_steps(32)  # batches enough for the steps a round takes; they cycle
    samples = {key: [] for key in steps}
    every, foreign_loads = {key: [] for key in steps}, []
    load_before = os.getloadavg()
    timed = interleaved_rounds({key: step for key, (_, step) in steps.items()},
                               min_run_time=min_run_time,
                               num_threads={key: key[1] for key in steps})
    start = wall0 = time.perf_counter()
    busy0, own0 = _cpu_seconds()
    while (len(samples[next(iter(steps))]) < rounds
           and time.perf_counter() - start < max_seconds):
        this_round = next(timed)
        busy1, own1 = _cpu_seconds()
        wall1 = time.perf_counter()
        # other processes' CPU use in cores (clock ticks are coarse: never below 0)
        foreign = (None if busy0 is None else max(
            0.0, ((busy1 - busy0) - (own1 - own0)) / (wall1 - wall0)))
        busy0, own0, wall0 = busy1, own1, wall1
        foreign_loads.append(foreign)
        for key, seconds in this_round.items():
            every[key].append(seconds)
            if foreign is None or foreign < quiet_cores:
                samples[key].append(seconds)
    load_after = os.getloadavg()
    quiet = len(samples[next(iter(steps))])
    enough = quiet >= 3
    used = samples if enough else every
    rows = []
    for name in dict.fromkeys(name for name, _ in steps):
        one, two = statistics.median(used[name, 1]), statistics.median(used[name, 2])
        faster = sum(a < b for a, b in zip(used[name, 1], used[name, 2], strict=True))
        rows.append({"model": name, "description": steps[name, 1][0],
                     "ms_1_thread": one * 1e3, "ms_2_threads": two * 1e3, "x_2_vs_1": two / one,
                     "rounds_1_faster": faster, "rounds": len(used[name, 1])})
        progress(f"  {name}: 1 thread {one * 1e3:.1f} ms, 2 threads {two * 1e3:.1f} ms "
                 f"per step ({two / one:.2f}x); 1 thread faster in {faster} of "
                 f"{len(used[name, 1])} rounds")
    known = [x for x in foreign_loads if x is not None]
    progress(f"  {quiet} quiet rounds of {len(foreign_loads)}")
    return {"device": "cpu", "cpu_count": os.cpu_count(), "rounds": rounds,
            "timing": timing(len(foreign_loads), min_run_time, [1, 2]),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "quiet_cores": quiet_cores, "rounds_run": len(foreign_loads),
            "quiet_rounds": quiet, "only_quiet_rounds": enough,
            "median_foreign_cores": statistics.median(known) if known else None,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after], "rows": rows}


#: the date models of the bench: (decoder, attention) -> the label of its row
DATE_MODELS = {("bahdanau", "bahdanau"): "Bahdanau dec., additive",
               ("bahdanau", "luong-dot"): "Bahdanau dec., dot",
               ("bahdanau", "luong-general"): "Bahdanau dec., general",
               ("luong", "luong-dot"): "Luong dec., global dot",
               ("luong", "luong-general"): "Luong dec., global general",
               ("luong", "luong-concat"): "Luong dec., global concat",
               ("luong", "local-p-dot"): "Luong dec., local-p dot",
               ("luong", "local-p-general"): "Luong dec., local-p general",
               ("bahdanau", "none"): "uniform (none)"}


def bench_dates(kinds, seeds, n_train, n_val, steps, eval_every, long_steps=None,
                progress=say):
    """Chapter 4.5's training run (same data, batch size and schedule) for each model and
    seed: kinds are (decoder, attention) pairs of DATE_MODELS; the seed sets the initial
    weights and the order of the batches. With long_steps, uniform attention ("none") is also
    trained that long with seed 0."""
    # the chapter's split: its 1,000 test pairs are drawn too, so that the training and
    # validation pairs are the chapter's (split_dates fills the splits in one pass)
    train_pairs, val_pairs, test_pairs = split_dates(n_train, n_val, 1_000, seed=0)
    source_vocab = CharVocab.from_texts(s for s, _ in train_pairs)
    target_vocab = CharVocab.from_texts(t for _, t in train_pairs)

    def run(kind, seed, n_steps, every):
        decoder, attention = kind
        set_seed(seed)
        model = DateSeq2Seq(len(source_vocab), len(target_vocab), attention=attention,
                            decoder=decoder)
        loader = date_loader(train_pairs, source_vocab, target_vocab, batch_size=64,
                             seed=seed)
        start = time.perf_counter()
        history = train_dates(model, loader, val_pairs, source_vocab, target_vocab, n_steps,
                              eval_every=every, progress=False)
        return history, time.perf_counter() - start, model

    rows = []
    for seed in seeds:
        for kind in kinds:
            history, wall, model = run(kind, seed, steps, eval_every)
            step99, seconds99 = steps_to(history, 0.99)
            test_exact, alignment = date_scores(model, test_pairs, source_vocab,
                                                target_vocab)
            alignment = None if math.isnan(alignment) else alignment  # JSON has no NaN
            rows.append({"attention": kind[1], "decoder": kind[0], "model": DATE_MODELS[kind],
                         "seed": seed, "steps": steps, "wall_s": wall,
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "test_exact": test_exact, "alignment_score": alignment,
                         "train_s": history["val_seconds"][-1],
                         "final_val_exact": history["val_exact"][-1], "steps_to_99": step99,
                         "train_s_to_99": seconds99,
                         "x_numpy_reference": (NUMPY_REFERENCE_SECONDS / seconds99
                                               if seconds99 else None)})
            reached = (f"99 % after {step99} steps, {seconds99:.1f} s" if step99
                       else f"not 99 % in {steps}")
            progress(f"  seed {seed}, {DATE_MODELS[kind]}: {reached}, test {test_exact:.3f}, "
                     f"alignment {alignment or 0:.3f} (whole run {wall:.1f} s)")
    result = {"device": "cpu", "threads": torch.get_num_threads(), "n_train": n_train,
              "n_val": n_val, "steps": steps, "eval_every": eval_every, "seeds": list(seeds),
              "numpy_reference_s": NUMPY_REFERENCE_SECONDS, "rows": rows}
    if long_steps:
        every = max(eval_every, long_steps // 12)
        history, wall, _ = run(("bahdanau", "none"), 0, long_steps, every)
        result["long_none"] = {"seed": 0, "steps": long_steps, "eval_every": every,
                               "wall_s": wall, "val_step": history["val_step"],
                               "val_exact": history["val_exact"]}
        progress(f"  seed 0, none for {long_steps} steps: validation exact match "
                 f"{history['val_exact'][-1]:.3f} (whole run {wall:.1f} s)")
    return result


def execute_notebook(path, allow_errors):
    """Seconds to execute a notebook in a fresh kernel started in its folder; nothing is saved."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=allow_errors,
                            record_timing=False, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute(stderr=subprocess.DEVNULL)  # start-up warnings; cell errors still come back
        ok = True
    except Exception as error:  # noqa: BLE001 - a failing notebook is reported, not fatal
        lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
        ok, notebook.metadata["bench_error"] = False, (lines or [type(error).__name__])[-1][:200]
    seconds = time.perf_counter() - start
    errors = sum(1 for c in notebook.cells if c.cell_type == "code"
                 for o in c.get("outputs", []) if o.get("output_type") == "error")
    return seconds, ok, errors, notebook.metadata.get("bench_error")


def build_book():
    """Seconds for `jupyter-book build` (the flags of `make book`) into a temporary directory."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    with tempfile.TemporaryDirectory(prefix="bench-book-") as out:
        start = time.perf_counter()
        result = subprocess.run([str(jupyter_book), "build", str(ROOT), "--all", "-W", "-n", "--keep-going",
                                 "--path-output", out], capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return seconds, result.returncode == 0, (lines or ["no output"])[-1][:200]


def bench_course(notebooks, book, progress=say):
    rows = []
    for path in notebooks:
        kind = path.parent.name
        seconds, ok, errors, error = execute_notebook(path, allow_errors=kind == "exercises")
        rows.append({"item": str(path.relative_to(ROOT)), "kind": kind, "seconds": seconds, "ok": ok,
                     "error_outputs": errors, **({"error": error} if error else {})})
        progress(f"  {path.relative_to(ROOT)}: {seconds:.1f} s" + ("" if ok else f"  FAILED: {error}"))
    notebook_total = sum(r["seconds"] for r in rows)
    if book:
        seconds, ok, tail = build_book()
        rows.append({"item": "jupyter-book build (all pages, -W -n)", "kind": "book", "seconds": seconds,
                     "ok": ok, **({} if ok else {"error": tail})})
        progress(f"  book build: {seconds:.1f} s" + ("" if ok else "  FAILED (warnings or errors)"))
    return {"rows": rows, "notebooks": len(notebooks), "notebook_total_s": notebook_total,
            "total_s": sum(r["seconds"] for r in rows), "all_ok": all(r["ok"] for r in rows)}


def course_notebooks(quick):
    if quick:
        return [ROOT / "notebooks" / "ch4_3_luong_attention.ipynb"]  # one short chapter (~15 s)
    folders = ("notebooks", "solutions", "exercises")
    return [path for folder in folders for path in sorted((ROOT / folder).glob("*.ipynb"))]


def parse_sections(values):
    """--only values, separated by spaces or commas -> section names, in SECTIONS order."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise SystemExit(f"bench: unknown section(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(SECTIONS)}")
    return [name for name in SECTIONS if name in names]


def previous_results(out):
    """The results.json of an earlier full run in `out` (for --only to merge into), or {}."""
    path = out / "results.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("meta", {}).get("quick"):
        return {}  # never mix a --quick run's small sizes into the figures that count
    old = data["meta"]
    sections = old.get("sections") or {
        name: {key: old[key] for key in ("date", "quick", "load_before")}
        for name in SECTIONS if name in data}
    return {"sections": sections,
            **{name: data[name] for name in SECTIONS if name in data}}


def run_section(name, args, device, small_threads, progress=say):
    """Measure one section; returns its results."""
    quick, cuda = args.quick, device.type == "cuda"
    if name == "layouts":
        progress("[layouts] one Bahdanau decoder step in four layouts ...")
        result = bench_layouts(device, rounds=7 if quick else 41, min_run_time=0.01 if quick else 0.02)
        for x in result["rows"]:
            progress(f"  {x['layout']}: {x['us_per_step']:.0f} us ({x['x_course']:.2f}x)")
    elif name == "scores":
        progress("[scores] Luong dot / general / concat and additive ...")
        result = bench_scores(device, rounds=7 if quick else 41, min_run_time=0.01 if quick else 0.02)
        for x in result["rows"]:
            progress(f"  {x['score']}: {x['us_per_step']:.0f} us per step, "
                     f"{x['parameters']:,} parameters")
    elif name == "attention":
        lengths = args.lengths or ([128, 256, 512] if quick
                                   else [128, 256, 512, 1024, 2048, 4096])
        B = args.batch or (8 if cuda else 1)
        h = args.heads or (8 if cuda else 4)
        progress(f"[attention] four implementations, B={B}, h={h}, d_k={args.head_dim}, "
                 f"n = {lengths}{', forward only' if args.forward_only else ''} ...")
        # every core (small_threads): these are large matrix products
        result = bench_attention(device, lengths, B, h, args.head_dim, rounds=3 if quick else 5,
                                 min_run_time=0.01 if quick else 0.05, threads=small_threads,
                                 backward=not args.forward_only)
    elif name == "threads":
        progress("[threads] 1 vs 2 torch threads, one training step of each small "
                 "recurrent model ...")
        result = bench_threads(rounds=3 if quick else 15, min_run_time=0.03 if quick else 0.15,
                               max_seconds=20 if quick else 600)
    elif name == "dates":
        torch.set_num_threads(1)
        if quick:
            kinds = [("bahdanau", "bahdanau"), ("luong", "local-p-general"), ("bahdanau", "none")]
            seeds, sizes, long_steps = [0], (2_000, 200, 160, 40), None
        else:
            kinds, seeds = list(DATE_MODELS), [0, 1, 2]
            sizes, long_steps = (20_000, 500, 400, 20), 1_200
        progress(f"[dates] date Seq2Seq for {', '.join(DATE_MODELS[k] for k in kinds)}, "
                 f"seeds {seeds} ...")
        result = bench_dates(kinds, seeds, *sizes, long_steps=long_steps)
    else:
        notebooks = course_notebooks(quick)
        progress(f"[course] executing {len(notebooks)} notebook(s)"
                 + ("" if quick else " and building the book") + " ...")
        result = bench_course(notebooks, book=not quick)
    torch.set_num_threads(small_threads)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, few rounds, one notebook, no book build")
    parser.add_argument("--out", type=Path, default=ROOT / "bench",
                        help="the folder for report.md and results.json")
    parser.add_argument("--only", nargs="+", metavar="SECTION",
                        help=f"some of {', '.join(SECTIONS)} (spaces or commas); the other "
                        "sections of an earlier full run in --out are kept")
    sizes = parser.add_argument_group("the attention section's sizes (chapter 4.6 at larger sizes)")
    sizes.add_argument("--lengths", type=int, nargs="+",
                       help="sequence lengths n (default 128 ... 4,096; --quick: 128 256 512)")
    sizes.add_argument("--batch", type=int, help="batch size B (default 8 on a GPU, 1 on a CPU)")
    sizes.add_argument("--heads", type=int, help="heads h (default 8 on a GPU, 4 on a CPU)")
    sizes.add_argument("--head-dim", type=int, default=64, help="per-head width d_k (default 64)")
    sizes.add_argument("--forward-only", action="store_true",
                       help="time forward passes only (less memory at large n)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: render report.md again from results.json")
    args = parser.parse_args(argv)
    if args.render:
        say(f"bench: rendered {render_file(args.out)} from {args.out / 'results.json'}")
        return 0
    sections = parse_sections(args.only) if args.only else list(SECTIONS)
    device = torch.device(args.device)
    quick, cuda = args.quick, device.type == "cuda"
    merge = bool(args.only) and not quick
    start = time.perf_counter()
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": quick,
            "device": str(device), "torch": torch.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "device_text": (f"GPU: {torch.cuda.get_device_name(device)}" if cuda
                            else f"CPU ({os.cpu_count()} cores)")}
    how = "--only" if merge else ("--quick" if quick else "full")
    say(f"bench: {how} run of {', '.join(sections)} on {meta['device_text']}, "
        f"writing to {args.out}")
    results = previous_results(args.out) if merge else {}
    runs = results.pop("sections", {})
    small_threads = torch.get_num_threads()
    for name in sections:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        date = datetime.datetime.now().isoformat(timespec="seconds")
        section_start = time.perf_counter()
        results[name] = run_section(name, args, device, small_threads)
        runs[name] = {"date": date, "quick": quick, "how": how, "load_before": load,
                      "wall_s": time.perf_counter() - section_start}
    meta["wall_s"] = time.perf_counter() - start
    meta["sections"] = {name: runs[name] for name in SECTIONS if name in results}
    results = {name: results[name] for name in SECTIONS if name in results}
    args.out.mkdir(parents=True, exist_ok=True)
    summary = [{"row": row, "result": result, "goal": goal, "met": met}
               for row, result, goal, met in summary_rows(results, quick)]
    data = {"meta": meta, "summary": summary, **results}
    (args.out / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    report = render_file(args.out).read_text()
    say(f"bench: done in {meta['wall_s']:.0f} s; wrote {args.out / 'report.md'} and "
        f"{args.out / 'results.json'}")
    say("\n".join(report.splitlines()[:4 + len(summary) + 3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
