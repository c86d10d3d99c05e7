"""`make bench`: the course's performance, measured against the references in one run.

A benchmark, not a test: it measures and writes bench/report.md (tables) and bench/results.json,
and asserts nothing about time. Absolute times drift on a shared machine, so every comparison is
a ratio of candidates measured side by side: the candidates run interleaved, round after round,
and each figure is the median over the rounds, so that background load slows all of them alike.

Rows:
  layouts     one Bahdanau decoder step: the course's layout (broadcasting, keys projected once) vs
              repeat + concatenate vs keys projected every step (attention_course.layouts, from 4.3)
  scores      Luong dot / general / concat and additive: time per decoder step, parameters
  attention   teaching scaled_dot_product_attention vs F.scaled_dot_product_attention vs
              MultiHeadAttention vs nn.MultiheadAttention, forward and forward + backward, time and
              peak memory, against the matmul floor at this machine's measured matmul GFLOP/s
  dates       date Seq2Seq (4.5): wall time and steps to >= 99 % validation exact match
  course      execution time of every notebook (chapters, solutions, exercises) and the book build

On a CUDA machine the model rows (layouts, scores, attention) run on the GPU; the report says
which device each row used.

    python tools/bench.py                  # everything (<= 10 min on the 2-core course machine)
    python tools/bench.py --quick          # small sizes, few repeats, one notebook, no book (<= 2 min)
    python tools/bench.py --only attention --lengths 1024 4096
"""

import argparse
import copy
import datetime
import json
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
    CharVocab,
    DateSeq2Seq,
    LuongAttention,
    MultiHeadAttention,
    date_loader,
    scaled_dot_product_attention,
    set_seed,
    split_dates,
    steps_to,
    train_dates,
)
from attention_course.layouts import (  # noqa: E402
    HandFusedAttention,
    ProjectEveryStepAttention,
    RepeatConcatAttention,
)
from attention_course.measure import peak_memory_mib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("layouts", "scores", "attention", "dates", "course")
NUMPY_REFERENCE_SECONDS = 330.0  # the NumPy date model's training time on the course machine (issue 9)
COURSE = "course (broadcast, keys projected once)"


def say(*args):
    print(*args, flush=True)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(candidates, device, rounds, number=1, grad=False):
    """Median seconds per call of each candidate (a dict of callables), measured interleaved:
    every round runs every candidate once (`number` calls), so background load hits all alike."""
    samples = {name: [] for name in candidates}
    with torch.set_grad_enabled(grad):
        for fn in candidates.values():  # warm up
            fn()
        for _ in range(rounds):
            for name, fn in candidates.items():
                synchronize(device)
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                synchronize(device)
                samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


def decoder_inputs(device, B=64, T_src=40, H=64, V=11):
    """The decoder-step setting of chapter 4.3: B sequences, T_src positions, half the batch padded."""
    set_seed(0)
    keys, state = torch.randn(B, T_src, H), torch.randn(B, H)  # (B, T_src, H), (B, H)
    token, mask = torch.randint(0, V, (B,)), torch.ones(B, T_src, dtype=torch.bool)
    mask[: B // 2, -10:] = False
    return keys.to(device), state.to(device), token.to(device), mask.to(device)


def bench_layouts(device, rounds, number):
    """One decoder step of the same additive attention in four layouts (same weights)."""
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
    seconds = interleaved_medians(
        {name: (lambda d=d, p=projected[name]: d.step(token, state, keys, p, mask))
         for name, d in decoders.items()}, device, rounds, number)
    compared = [n for n in layouts if "reference" not in n]  # the three layouts the issue compares
    best = min(seconds[n] for n in compared)
    rows = [{"layout": n, "us_per_step": seconds[n] * 1e6, "x_course": seconds[n] / seconds[COURSE],
             "compared": n in compared} for n in layouts]
    course_vs_best = seconds[COURSE] / best
    return {"device": str(device), "B": B, "T_src": T_src, "H": H, "rounds": rounds,
            "calls_per_round": number, "rows": rows, "course_vs_best": course_vs_best,
            "course_fastest": course_vs_best <= 1.1}


def bench_scores(device, rounds, number):
    """Luong's three scores and the additive score in the course's AttentionDecoder."""
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
    seconds = interleaved_medians(candidates, device, rounds, number)
    base = seconds["additive (Bahdanau)", "step"]
    rows = [{"score": n, "parameters": sum(p.numel() for p in modules[n].parameters()),
             "us_attention": seconds[n, "attention"] * 1e6, "us_per_step": seconds[n, "step"] * 1e6,
             "x_additive_step": seconds[n, "step"] / base} for n in modules]
    return {"device": str(device), "B": B, "T_src": T_src, "H": H, "rounds": rounds,
            "calls_per_round": number, "rows": rows}


def attention_flops(impl, backward, B, h, n, d):
    """Matmul FLOPs of one call: Q K^T and weights @ V are 2 n^2 d each per head (4 B h n^2 d); the
    two modules add their four (n x E) @ (E x E) projections. Backward does two products per
    forward product (gradients of both factors), so forward + backward is 3x the forward."""
    flops = 4 * B * h * n * n * d
    if impl in ("MultiHeadAttention", "nn.MultiheadAttention"):
        E = h * d
        flops += 4 * 2 * B * n * E * E
    return 3 * flops if backward else flops


def attention_case(n, B, h, d, device):
    """The four implementations at length n, forward (no grad) and forward + backward."""
    E = h * d
    set_seed(0)
    torch_mha = nn.MultiheadAttention(E, h, batch_first=True).to(device)
    mha = MultiHeadAttention.from_torch(torch_mha)
    q, k, v = torch.randn(3, B, h, n, d, device=device).unbind(0)  # (B, h, n, d_k) each
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


def bench_attention(device, lengths, B, h, d, rounds, implementations=None, backward=True, progress=say):
    """Time, peak memory and fraction of the matmul floor of the implementations (default: all
    four), forward and, with `backward`, forward + backward."""
    matmul, matmul_flops = matmul_candidate(device)
    rows, rates = [], []
    for n in lengths:
        forward, with_backward = attention_case(n, B, h, d, device)
        if implementations:
            forward = {name: forward[name] for name in implementations}
            with_backward = {name: with_backward[name] for name in implementations}
        r = rounds if n <= 1024 else max(1, rounds - 2)  # the large sizes dominate the run time
        modes = [("forward", forward, False)]
        if backward:
            modes.append(("forward+backward", with_backward, True))
        measured = {mode: interleaved_medians({"matmul": matmul, **fns}, device, r, grad=grad)
                    for mode, fns, grad in modes}
        gflops = matmul_flops / min(m["matmul"] for m in measured.values()) / 1e9  # in the same rounds
        rates.append(gflops)
        fwd = measured["forward"]
        for mode, fns, _ in modes:
            seconds = measured[mode]
            fused = seconds.get("F.scaled_dot_product_attention", float("nan"))
            for name, fn in fns.items():
                with torch.set_grad_enabled(mode != "forward"):
                    mib = peak_memory_mib(fn, device)
                floor = attention_flops(name, mode != "forward", B, h, n, d) / (gflops * 1e9)
                rows.append({"n": n, "mode": mode, "implementation": name, "ms": seconds[name] * 1e3,
                             "x_fused": seconds[name] / fused, "peak_mib": mib, "floor_ms": floor * 1e3,
                             "fraction_of_floor": floor / seconds[name]})
        progress(f"  n = {n:,}: " + ", ".join(f"{name} {t * 1e3:.1f} ms" for name, t in fwd.items()
                                             if name != "matmul") + f" forward; matmul {gflops:.0f} GFLOP/s")
        del forward, with_backward
    return {"device": str(device), "B": B, "heads": h, "d_k": d, "lengths": list(lengths), "rounds": rounds,
            "threads": torch.get_num_threads(), "matmul_gflops": statistics.median(rates), "rows": rows}


def bench_dates(kinds, n_train, n_val, steps, eval_every, progress=say):
    """Chapter 4.5's training run (same data, batches and schedule) for each attention."""
    train_pairs, val_pairs, _ = split_dates(n_train, n_val, 0, seed=0)
    source_vocab = CharVocab.from_texts(s for s, _ in train_pairs)
    target_vocab = CharVocab.from_texts(t for _, t in train_pairs)
    rows = []
    for kind in kinds:
        set_seed(0)
        model = DateSeq2Seq(len(source_vocab), len(target_vocab), attention=kind)
        loader = date_loader(train_pairs, source_vocab, target_vocab, batch_size=64, seed=0)
        start = time.perf_counter()
        history = train_dates(model, loader, val_pairs, source_vocab, target_vocab, steps,
                              eval_every=eval_every, progress=False)
        wall = time.perf_counter() - start
        step99, seconds99 = steps_to(history, 0.99)
        rows.append({"attention": kind, "steps": steps, "wall_s": wall, "train_s": history["val_seconds"][-1],
                     "final_val_exact": history["val_exact"][-1], "steps_to_99": step99,
                     "train_s_to_99": seconds99,
                     "x_numpy_reference": NUMPY_REFERENCE_SECONDS / seconds99 if seconds99 else None})
        reached = f"99 % after {step99} steps, {seconds99:.1f} s" if step99 else f"not 99 % in {steps}"
        progress(f"  {kind}: {reached} (whole run {wall:.1f} s)")
    return {"device": "cpu", "threads": torch.get_num_threads(), "n_train": n_train, "n_val": n_val,
            "steps": steps, "eval_every": eval_every, "numpy_reference_s": NUMPY_REFERENCE_SECONDS,
            "rows": rows}


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


# --- the report ------------------------------------------------------------------------------------

def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def summary_rows(results, quick=False):
    """(row, result, goal, met) for the closing table; met is True, False or None (no goal, or a
    goal that a --quick run is too small to judge)."""
    rows = []
    if "layouts" in results:
        r = results["layouts"]
        ratios = ", ".join(f"{x['layout']} {x['x_course']:.2f}x" for x in r["rows"][1:])
        rows.append(("Bahdanau decoder step: layouts",
                     f"course {r['rows'][0]['us_per_step']:.0f} us = 1.00x; {ratios}",
                     "course fastest, within 1.1x of the best", r["course_fastest"]))
    if "scores" in results:
        r = results["scores"]
        rows.append(("Luong dot / general / concat and additive",
                     "; ".join(f"{x['score']} {x['us_per_step']:.0f} us/step ({x['x_additive_step']:.2f}x), "
                               f"{x['parameters']:,} params" for x in r["rows"]), "measured", None))
    if "attention" in results:
        r = results["attention"]
        n = max(r["lengths"])
        pick = {(x["implementation"], x["mode"]): x for x in r["rows"] if x["n"] == n}
        t = pick["teaching scaled_dot_product_attention", "forward"]
        f_ = pick["F.scaled_dot_product_attention", "forward"]
        rows.append((f"Self-attention at n = {n:,}",
                     f"teaching {t['ms']:.1f} ms ({t['x_fused']:.2f}x fused, {t['peak_mib']:,.0f} MiB, "
                     f"{t['fraction_of_floor']:.0%} of floor); "
                     f"fused {f_['ms']:.1f} ms ({f_['peak_mib']:,.1f} MiB, "
                     f"{f_['fraction_of_floor']:.0%} of floor); matmul {r['matmul_gflops']:.0f} GFLOP/s",
                     "measured against the matmul floor", None))
    if "dates" in results:
        r = results["dates"]
        parts, met = [], True
        for x in r["rows"]:
            if x["steps_to_99"]:
                parts.append(f"{x['attention']} {x['train_s_to_99']:.1f} s / {x['steps_to_99']} steps "
                             f"({x['x_numpy_reference']:.0f}x NumPy)")
            else:
                parts.append(f"{x['attention']} not in {x['steps']} steps")
            if x["attention"] != "none":
                met = met and bool(x["train_s_to_99"]) and x["train_s_to_99"] <= 30 and \
                    x["x_numpy_reference"] >= 10
        rows.append(("Date Seq2Seq to 99 % exact match", "; ".join(parts),
                     "attention <= 30 s and >= 10x the NumPy reference (330 s)", None if quick else met))
    if "course" in results:
        r = results["course"]
        book = [x for x in r["rows"] if x["kind"] == "book"]
        text = f"{r['notebooks']} notebooks {r['notebook_total_s']:.0f} s"
        text += f"; book build {book[0]['seconds']:.0f} s" if book else "; book build not timed (--quick)"
        if not r["all_ok"]:
            text += "; SOME FAILED (see below)"
        goal_met = r["notebook_total_s"] <= 600 and r["all_ok"]
        rows.append(("Whole course", text, "all notebooks <= 10 min", None if quick else goal_met))
    return rows


def render_report(results, meta):
    met_text = {True: "yes", False: "**no**", None: "-"}
    lines = ["# `make bench`: the course's performance", "",
             f"Run {meta['date']} ({'--quick' if meta['quick'] else 'full'}), {meta['wall_s']:.0f} s. "
             f"Model rows on **{meta['device_text']}**; torch {meta['torch']}, Python {meta['python']}, "
             f"{meta['cpu_count']} CPUs, load average {meta['load_before']} before the run. "
             "Every ratio compares candidates timed side by side (interleaved rounds, medians); the "
             "absolute times move with the machine's load, the ratios much less.", "",
             "| Row | Result | Goal | Met |", "|---|---|---|---|"]
    lines += [f"| {row} | {result} | {goal} | {met_text[met]} |"
              for row, result, goal, met in summary_rows(results, meta["quick"])]
    if meta["quick"]:
        lines += ["", "A `--quick` run: small sizes, few rounds, one notebook and no book build; its goals "
                  "marked - are not judged. Run `make bench` for the figures that count."]
    if "layouts" in results:
        r = results["layouts"]
        lines += ["", "## Bahdanau decoder step: layouts", "",
                  f"One `AttentionDecoder.step`, B = {r['B']}, T_src = {r['T_src']}, H = {r['H']}, on "
                  f"{r['device']}; median of {r['rounds']} interleaved rounds of {r['calls_per_round']} "
                  "calls. "
                  "All layouts share one set of weights and give the same step (checked). The hand-fused "
                  "row (no input checks, no layer objects) is a reference, not one of the compared layouts.",
                  "", "| Layout | us per step | x the course's |", "|---|---:|---:|"]
        lines += [f"| {x['layout']} | {x['us_per_step']:.0f} | {x['x_course']:.2f} |" for x in r["rows"]]
    if "scores" in results:
        r = results["scores"]
        lines += ["", "## Luong scores and additive attention", "",
                  f"Same setting as above on {r['device']}; keys projected once per sequence.", "",
                  "| Score | Parameters | us attention call | us decoder step | step x additive |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {x['score']} | {x['parameters']:,} | {x['us_attention']:.0f} | "
                  f"{x['us_per_step']:.0f} | {x['x_additive_step']:.2f} |" for x in r["rows"]]
    if "attention" in results:
        r = results["attention"]
        lines += ["", "## Self-attention: teaching vs fused vs modules", "",
                  f"B = {r['B']}, h = {r['heads']}, d_k = {r['d_k']} (E = {r['heads'] * r['d_k']}), float32, "
                  f"on {r['device']} ({r['threads']} CPU threads). Forward runs without autograd; forward + "
                  "backward backpropagates the output's sum. Peak memory: "
                  + ("the CUDA allocator's peak" if r["device"].startswith("cuda") else
                     "the running total of tensor allocations recorded by torch's profiler")
                  + ". Floor = matmul FLOPs / the machine's matmul rate, measured in the same rounds "
                  f"(median {r['matmul_gflops']:.0f} GFLOP/s): 4·B·h·n²·d_k forward (Q K^T and weights · V, "
                  "2·n²·d_k each), plus 8·B·n·E² for the modules' projections, times 3 with backward. "
                  "Fraction of floor = floor time / measured time (1 = running at matmul speed). "
                  "nn.MultiheadAttention is called with need_weights=False (its fast path).", "",
                  "| n | mode | implementation | ms | x fused | peak MiB | floor ms | fraction of floor |",
                  "|---:|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {x['n']:,} | {x['mode']} | {x['implementation']} | {x['ms']:.2f} | "
                  f"{x['x_fused']:.2f} | {x['peak_mib']:,.1f} | {x['floor_ms']:.2f} | "
                  f"{x['fraction_of_floor']:.0%} |"
                  for x in r["rows"]]
    if "dates" in results:
        r = results["dates"]
        lines += ["", "## Date Seq2Seq (chapter 4.5)", "",
                  f"{r['n_train']:,} training and {r['n_val']:,} validation pairs, batches of 64, "
                  f"{r['steps']} steps, validation exact match (greedy) every {r['eval_every']} steps; "
                  f"on the CPU with {r['threads']} thread(s) (`train_dates` trains where its batches "
                  "are: the CPU). "
                  "Time to 99 % counts training only, as `steps_to` does; the whole run includes the "
                  f"evaluations. The NumPy reference ({r['numpy_reference_s']:.0f} s) is the figure given in "
                  "issue 9 for this machine, not re-measured here.", "",
                  "| Attention | steps to 99 % | training s to 99 % | x NumPy reference | final val exact | "
                  "whole run s |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {x['attention']} | {x['steps_to_99'] or 'not reached'} | {fmt(x['train_s_to_99'])} | "
                  f"{fmt(x['x_numpy_reference'], 0)} | {x['final_val_exact']:.3f} | {x['wall_s']:.1f} |"
                  for x in r["rows"]]
    if "course" in results:
        r = results["course"]
        lines += ["", "## Whole course", "",
                  "Each notebook executed top to bottom in a fresh kernel started in its folder (nbclient, "
                  "outputs not saved; exercises with allow_errors, their check cells raise by design); the "
                  "book built with the flags of `make book` into a temporary directory.", "",
                  "| Item | seconds | ok |", "|---|---:|---|"]
        lines += [f"| {x['item']} | {x['seconds']:.1f} | "
                  f"{'yes' if x['ok'] else '**no**: ' + x.get('error', '').replace('|', '/')} |"
                  for x in r["rows"]]
        lines += [f"| **all notebooks** | **{r['notebook_total_s']:.1f}** | |",
                  f"| **total** | **{r['total_s']:.1f}** | |"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, few repeats, one notebook, no book build")
    parser.add_argument("--out", type=Path, default=ROOT / "bench",
                        help="the folder for report.md and results.json")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--lengths", type=int, nargs="+", help="self-attention sequence lengths")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    quick = args.quick
    cuda = device.type == "cuda"
    start = time.perf_counter()
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": quick,
            "device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "device_text": (f"GPU: {torch.cuda.get_device_name(device)}" if cuda
                            else f"CPU ({os.cpu_count()} cores)") }
    say(f"bench: {'quick' if quick else 'full'} run on {meta['device_text']}, writing to {args.out}")
    results = {}
    small_threads = torch.get_num_threads()
    if "layouts" in args.only:
        say("[layouts] one Bahdanau decoder step in four layouts ...")
        torch.set_num_threads(1)  # the course's small-model setting (chapters 4.1-4.5)
        results["layouts"] = bench_layouts(device, rounds=7 if quick else 41, number=5 if quick else 10)
        for x in results["layouts"]["rows"]:
            say(f"  {x['layout']}: {x['us_per_step']:.0f} us ({x['x_course']:.2f}x)")
    if "scores" in args.only:
        say("[scores] Luong dot / general / concat and additive ...")
        torch.set_num_threads(1)
        results["scores"] = bench_scores(device, rounds=7 if quick else 41, number=5 if quick else 10)
        for x in results["scores"]["rows"]:
            say(f"  {x['score']}: {x['us_per_step']:.0f} us per step, {x['parameters']:,} parameters")
    if "attention" in args.only:
        torch.set_num_threads(small_threads)  # every core: these are large matrix products
        lengths = args.lengths or ([128, 256, 512] if quick else [128, 256, 512, 1024, 2048, 4096])
        B, h = (8, 8) if cuda else (1, 4)
        say(f"[attention] four implementations, B={B}, h={h}, d_k=64, n = {lengths} ...")
        results["attention"] = bench_attention(device, lengths, B, h, 64, rounds=3 if quick else 5)
    if "dates" in args.only:
        torch.set_num_threads(1)
        kinds = ["bahdanau", "none"] if quick else ["bahdanau", "luong-dot", "luong-general", "none"]
        say(f"[dates] date Seq2Seq for {', '.join(kinds)} ...")
        results["dates"] = bench_dates(kinds, *((2_000, 200, 160, 40) if quick else (20_000, 500, 400, 20)))
    if "course" in args.only:
        notebooks = course_notebooks(quick)
        say(f"[course] executing {len(notebooks)} notebook(s)"
            + ("" if quick else " and building the book") + " ...")
        results["course"] = bench_course(notebooks, book=not quick)
    torch.set_num_threads(small_threads)
    meta["wall_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    summary = [{"row": row, "result": result, "goal": goal, "met": met}
               for row, result, goal, met in summary_rows(results, quick)]
    data = {"meta": meta, "summary": summary, **results}
    (args.out / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    report = render_report(results, meta)
    (args.out / "report.md").write_text(report)
    say(f"bench: done in {meta['wall_s']:.0f} s; wrote {args.out / 'report.md'} and "
        f"{args.out / 'results.json'}")
    say("\n".join(report.splitlines()[:4 + len(summary) + 3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
