"""bench/report.md from the results of `make bench` (tools/bench.py): headings, Markdown tables
and the words around them. Measures nothing and imports neither torch nor the course, so a
report can be rendered again from bench/results.json anywhere:

    python tools/bench.py --render              # bench/report.md from bench/results.json

Each section says how its figures were measured, from what its results recorded: sections
timed with torch.utils.benchmark carry a "timing" entry; sections kept from a results.json
written before that (measured with hand-written loops) are described as they were measured.
"""

import json
import statistics
from pathlib import Path

SECTIONS = ("layouts", "scores", "attention", "threads", "dates", "course")
TITLE = "# `make bench`: the course's performance"


def fmt(x, digits=1):
    """A number with thousands separators, or n/a for None."""
    return "n/a" if x is None else f"{x:,.{digits}f}"


def timing_text(r, what):
    """How a section's times were measured (`what`: the candidates, e.g. "layout"), in words that
    follow "timed with" or "median of"."""
    t = r.get("timing")
    if t is None:  # a results.json written before torch.utils.benchmark timed the bench
        calls = r.get("calls_per_round", 1)
        return f"median of {r['rounds']} interleaved rounds of {calls} call{'s' if calls != 1 else ''}"
    threads = t["threads"]
    threads = (f"{threads} torch thread{'s' if threads != 1 else ''}" if isinstance(threads, int)
               else f"{' and '.join(map(str, threads))} torch threads (Timer's num_threads)")
    rounds = f"{t['rounds']} interleaved rounds"
    if t.get("rounds_long") is not None:
        rounds += f" ({t['rounds_long']} for n > {t['long_from']:,})"
    sync = "" if r.get("device", "cpu") == "cpu" else ", the GPU synchronised before each reading"
    return (f"torch.utils.benchmark on {threads}: in each of {rounds}, `Timer.blocked_autorange` "
            f"times every {what} in turn (a short warm-up, then at least "
            f"{t['min_run_time_s'] * 1e3:g} ms of blocks of calls{sync}); each figure is the median "
            "over the rounds of a round's median")


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
    if "threads" in results:
        r = results["threads"]
        rows.append(("Threads for small recurrent models",
                     "; ".join(f"{x['model']}: 1 thread {x['ms_1_thread']:.1f} ms/step, "
                               f"2 threads {x['x_2_vs_1']:.2f}x that"
                               for x in r["rows"]),
                     "measured (1 vs 2 threads, interleaved)", None))
    if "dates" in results:
        r = results["dates"]
        reference = r["numpy_reference_s"]
        parts, met = [], True
        for kind in dict.fromkeys(_date_model(x) for x in r["rows"]):
            runs = [x for x in r["rows"] if _date_model(x) == kind]
            steps = [x["steps_to_99"] for x in runs]
            counts = "/".join(str(n) if n else "-" for n in steps)
            seconds = (statistics.median(x["train_s_to_99"] for x in runs)
                       if all(steps) else None)
            median = "" if seconds is None else f" ({seconds:.1f} s median)"
            parts.append(f"{kind} {counts} steps{median}")
            # judged on the median over the seeds (load comes in bursts); the goal is for
            # chapter 4.5's model, Bahdanau's decoder (rows without a decoder are older runs)
            if runs[0]["attention"] == "bahdanau" and runs[0].get("decoder") != "luong":
                met = met and bool(seconds) and seconds <= 30 and reference / seconds >= 10
        seeds = ", ".join(map(str, r.get("seeds", [0])))
        rows.append((f"Date Seq2Seq to 99 % exact match (seeds {seeds})", "; ".join(parts),
                     f"attention <= 30 s and >= 10x the NumPy reference ({reference:.0f} s), "
                     "median over the seeds",
                     None if quick else met))
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


def _date_model(row):
    """A date row's label: its model (decoder and attention), or its attention (older runs)."""
    return row.get("model", row["attention"])


def dates_findings(r):
    """What holds across the seeds, in words computed from the step counts."""
    kinds = list(dict.fromkeys(_date_model(x) for x in r["rows"]))
    seeds = list(dict.fromkeys(x.get("seed", 0) for x in r["rows"]))
    steps = {(_date_model(x), x.get("seed", 0)): x["steps_to_99"] for x in r["rows"]}
    lines = []
    for kind in kinds:
        reached = [seed for seed in seeds if steps[kind, seed]]
        if len(reached) == len(seeds):
            counts = [steps[kind, seed] for seed in seeds]
            span = (f"{min(counts)}" if min(counts) == max(counts)
                    else f"{min(counts)} to {max(counts)}")
            lines.append(f"- {kind}: reached 99 % in every seed, after {span} steps.")
        elif not reached:
            lines.append(f"- {kind}: did not reach 99 % within {r['steps']} steps in any "
                         "seed.")
        else:
            lines.append(f"- {kind}: reached 99 % in {len(reached)} of {len(seeds)} seeds.")
    scored = [k for k in kinds if all(steps[k, seed] for seed in seeds)]
    if len(scored) > 1 and len(seeds) > 1:
        order = {seed: sorted(scored, key=lambda k: (steps[k, seed], kinds.index(k)))
                 for seed in seeds}
        for seed in seeds:
            ranked = f"{order[seed][0]} ({steps[order[seed][0], seed]})"
            for before, k in zip(order[seed], order[seed][1:], strict=False):
                sign = "=" if steps[k, seed] == steps[before, seed] else "<"
                ranked += f" {sign} {k} ({steps[k, seed]})"
            lines.append(f"- seed {seed}, steps to 99 %: {ranked}.")

        def extreme(seed, pick):
            best = pick(steps[k, seed] for k in scored)
            return " and ".join(k for k in scored if steps[k, seed] == best)

        for word, pick in (("First", min), ("Last", max)):
            named = {seed: extreme(seed, pick) for seed in seeds}
            if len(set(named.values())) == 1 and " and " not in named[seeds[0]]:
                lines.append(f"- {word} to 99 %: {named[seeds[0]]} in every seed.")
            else:
                lines.append(f"- {word} to 99 %: " + "; ".join(
                    f"{names} (tied) in seed {seed}" if " and " in names
                    else f"{names} in seed {seed}" for seed, names in named.items()) + ".")
    return lines


def table(header, align, rows):
    """A Markdown table: the header cells, their alignments ("---" or "---:"), the rows' cells."""
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


# --- one function per section: its heading, how it was measured, its table -------------------

def layouts_section(r):
    return ["## Bahdanau decoder step: layouts", "",
            f"One `AttentionDecoder.step`, B = {r['B']}, T_src = {r['T_src']}, H = {r['H']}, on "
            f"{r['device']}; {'' if 'timing' not in r else 'timed with '}{timing_text(r, 'layout')}. "
            "All layouts share one set of weights and give the same step (checked). The hand-fused "
            "row (no input checks, no layer objects) is a reference, not one of the compared layouts.",
            "", *table(["Layout", "us per step", "x the course's"], ["---", "---:", "---:"],
                       [(x["layout"], f"{x['us_per_step']:.0f}", f"{x['x_course']:.2f}")
                        for x in r["rows"]])]


def scores_section(r):
    timing = "" if "timing" not in r else f"; timed with {timing_text(r, 'score and decoder step')}"
    return ["## Luong scores and additive attention", "",
            f"Same setting as above on {r['device']}; keys projected once per sequence{timing}.", "",
            *table(["Score", "Parameters", "us attention call", "us decoder step", "step x additive"],
                   ["---", "---:", "---:", "---:", "---:"],
                   [(x["score"], f"{x['parameters']:,}", f"{x['us_attention']:.0f}",
                     f"{x['us_per_step']:.0f}", f"{x['x_additive_step']:.2f}") for x in r["rows"]])]


def attention_section(r):
    timing = ("" if "timing" not in r else
              f"Timed with {timing_text(r, 'implementation and the matmul')}. ")
    return ["## Self-attention: teaching vs fused vs modules", "",
            f"B = {r['B']}, h = {r['heads']}, d_k = {r['d_k']} (E = {r['heads'] * r['d_k']}), float32, "
            f"on {r['device']} ({r['threads']} CPU threads). {timing}Forward runs without autograd; "
            "forward + backward backpropagates the output's sum. Peak memory: "
            + ("the CUDA allocator's peak" if r["device"].startswith("cuda") else
               "the running total of tensor allocations recorded by torch's profiler")
            + ". Floor = matmul FLOPs / the machine's matmul rate, measured in the same rounds "
            f"(median {r['matmul_gflops']:.0f} GFLOP/s): 4·B·h·n²·d_k forward (Q K^T and weights · V, "
            "2·n²·d_k each), plus 8·B·n·E² for the modules' projections, times 3 with backward. "
            "Fraction of floor = floor time / measured time (1 = running at matmul speed). "
            "nn.MultiheadAttention is called with need_weights=False (its fast path).", "",
            *table(["n", "mode", "implementation", "ms", "x fused", "peak MiB", "floor ms",
                    "fraction of floor"], ["---:", "---", "---", "---:", "---:", "---:", "---:", "---:"],
                   [(f"{x['n']:,}", x["mode"], x["implementation"], f"{x['ms']:.2f}",
                     f"{x['x_fused']:.2f}", f"{x['peak_mib']:,.1f}", f"{x['floor_ms']:.2f}",
                     f"{x['fraction_of_floor']:.0%}") for x in r["rows"]])]


def threads_section(r):
    if "timing" in r:
        t = r["timing"]
        how = ("(Timer's num_threads)", "Timed with torch.utils.benchmark in interleaved rounds: "
               "every round times both settings of every model one after the other, each with "
               f"`Timer.blocked_autorange` (a short warm-up, then at least {t['min_run_time_s'] * 1e3:g} "
               "ms of training steps; the round's figure is the median over its blocks). ")
    else:
        how = ("(`torch.set_num_threads`)", f"Interleaved rounds of {r['steps_per_round']} steps: "
               "every round runs both settings of every model one after the other. ")
    quiet = (f"Only quiet rounds count: {r['quiet_rounds']} of the {r['rounds_run']} "
             "rounds run, those during which other processes used less than "
             f"{r['quiet_cores']} of a CPU core (read from /proc/stat), since two "
             "threads need both cores and any other work would count against them; "
             "each figure is the median over those rounds."
             if r.get("only_quiet_rounds") else
             f"Fewer than 3 of the {r.get('rounds_run', r['rounds'])} rounds were "
             "quiet (other processes used a CPU core's "
             f"{r.get('quiet_cores', 0)} or more): the figures are medians over all "
             "rounds and count against two threads; run the section again on a quiet "
             "machine.")
    return ["## Threads for small recurrent models", "",
            "One training step (forward, loss, backward, gradient clipping, Adam) of each "
            "small recurrent model of the course, on the CPU with 1 and with 2 torch "
            f"threads {how[0]}, OMP_WAIT_POLICY="
            f"{r['omp_wait_policy'] or 'unset'} as in every `make` command, "
            f"{r['cpu_count']} CPU cores. Each model at each setting starts from the same "
            f"weights and trains on the same batches. {how[1]}{quiet}"
            f" Load average {' '.join(map(str, r['load_before']))} before and "
            f"{' '.join(map(str, r['load_after']))} after.", "",
            *table(["Model", "ms per step, 1 thread", "ms per step, 2 threads", "2 threads / 1 thread",
                    "rounds where 1 thread was faster"], ["---", "---:", "---:", "---:", "---:"],
                   [(f"{x['model']}: {x['description']}", f"{x['ms_1_thread']:.1f}",
                     f"{x['ms_2_threads']:.1f}", f"{x['x_2_vs_1']:.2f}",
                     f"{x['rounds_1_faster']} of {x['rounds']}") for x in r["rows"]])]


def dates_means(r):
    """Test exact match and alignment score of each model, mean (min-max) over the seeds."""
    rows = [x for x in r["rows"] if "test_exact" in x]
    if not rows:
        return []
    out = []
    for kind in dict.fromkeys(_date_model(x) for x in rows):
        runs = [x for x in rows if _date_model(x) == kind]

        def spread(key, runs=runs):
            values = [x[key] for x in runs if x[key] is not None]
            if not values:
                return "-"
            return (f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"
                    if len(values) > 1 else f"{values[0]:.3f}")

        out.append((kind, spread("test_exact"), spread("alignment_score"),
                    f"{runs[0]['parameters']:,}"))
    return ["Over the seeds: test exact match (1,000 test dates, greedy) and chapter 4.4's "
            "alignment score (the mean weight on the right field of the source, over the "
            "output digits of the test dates decoded exactly), mean (lowest-highest).", "",
            *table(["Model", "test exact match", "alignment score", "parameters"],
                   ["---", "---:", "---:", "---:"], out), ""]


def dates_section(r):
    seeds = r.get("seeds", [0])
    lines = ["## Date Seq2Seq (chapter 4.5)", "",
             f"{r['n_train']:,} training and {r['n_val']:,} validation pairs ("
             + ("the split of chapter 4.5" if (r["n_train"], r["n_val"]) == (20_000, 500)
                else "a smaller split than chapter 4.5's")
             + f"), batches of 64, {r['steps']} steps, validation exact match "
             f"(greedy) every {r['eval_every']} steps; on the CPU with {r['threads']} "
             f"thread(s). Seeds {', '.join(map(str, seeds))}: a seed sets the initial "
             "weights and the order of the batches (chapter 4.5 runs seed 0). Steps to 99 % "
             "is the first evaluation at or above 0.99, a count that the machine's load "
             "does not change; the seconds (training only, as `steps_to` counts them) are "
             "secondary. The NumPy reference "
             f"({r['numpy_reference_s']:.0f} s) is the figure given in issue 9 for this "
             "machine, not re-measured here.", "",
             *table(["Model", "seed", "steps to 99 %", "training s to 99 %", "x NumPy reference",
                     "final val exact", "test exact", "alignment score", "parameters",
                     "whole run s"], ["---", *["---:"] * 9],
                    [(_date_model(x), x.get("seed", 0), x["steps_to_99"] or "not reached",
                      fmt(x["train_s_to_99"]), fmt(x["x_numpy_reference"], 0),
                      f"{x['final_val_exact']:.3f}", fmt(x.get("test_exact"), 3),
                      fmt(x.get("alignment_score"), 3), f"{x.get('parameters', 0):,}" if
                      "parameters" in x else "-", f"{x['wall_s']:.1f}") for x in r["rows"]]),
             "", *dates_means(r), *dates_findings(r)]
    if "long_none" in r:
        x = r["long_none"]
        pairs = ", ".join(f"{step}: {exact:.3f}" for step, exact
                          in zip(x["val_step"], x["val_exact"], strict=True))
        lines += ["", f"Uniform attention (`none`) trained for {x['steps']:,} steps "
                  f"(seed {x['seed']}, the same schedule stretched to {x['steps']:,} "
                  "steps: the learning rate falls to a tenth over the whole run); "
                  f"validation exact match at step {pairs}."]
    return lines


def course_section(r):
    return ["## Whole course", "",
            "Each notebook executed top to bottom in a fresh kernel started in its folder (nbclient, "
            "outputs not saved; exercises with allow_errors, their check cells raise by design); the "
            "book built with the flags of `make book` into a temporary directory.", "",
            *table(["Item", "seconds", "ok"], ["---", "---:", "---"],
                   [(x["item"], f"{x['seconds']:.1f}",
                     "yes" if x["ok"] else "**no**: " + x.get("error", "").replace("|", "/"))
                    for x in r["rows"]]),
            f"| **all notebooks** | **{r['notebook_total_s']:.1f}** | |",
            f"| **total** | **{r['total_s']:.1f}** | |"]


SECTION_RENDERERS = {"layouts": layouts_section, "scores": scores_section,
                     "attention": attention_section, "threads": threads_section,
                     "dates": dates_section, "course": course_section}


def render_report(results, meta):
    """The whole of report.md: when each section was measured, the summary table, then one
    section per measured part, in SECTIONS order."""
    met_text = {True: "yes", False: "**no**", None: "-"}
    runs = {}  # (date, kind, load) -> the sections measured in that run
    for name in SECTIONS:
        if name in results:
            run = meta.get("sections", {}).get(name, meta)
            kind = "--quick" if run["quick"] else run.get("how", "full")
            runs.setdefault((run["date"], kind, run["load_before"]), []).append(name)
    measured = "; ".join(f"{', '.join(names)}: {date} ({kind} run), load average {load} before"
                         for (date, kind, load), names in runs.items())
    lines = [TITLE, "",
             f"Sections and when they were measured: {measured}. "
             f"Model rows on **{meta['device_text']}**; torch {meta['torch']}, "
             f"Python {meta['python']}, {meta['cpu_count']} CPUs. "
             "Every ratio compares candidates timed side by side (interleaved rounds, medians; "
             "each section says how it was timed); "
             "the absolute times move with the machine's load, the ratios much less; counts of "
             "training steps do not depend on it.", "",
             *table(["Row", "Result", "Goal", "Met"], ["---"] * 4,
                    [(row, result, goal, met_text[met])
                     for row, result, goal, met in summary_rows(results, meta["quick"])])]
    if meta["quick"]:
        lines += ["", "A `--quick` run: small sizes, few rounds, one notebook and no book build; its goals "
                  "marked - are not judged. Run `make bench` for the figures that count."]
    for name in SECTIONS:
        if name in results:
            lines += ["", *SECTION_RENDERERS[name](results[name])]
    return "\n".join(lines) + "\n"


def render_file(out):
    """Render out/report.md again from out/results.json; returns the report's path."""
    out = Path(out)
    data = json.loads((out / "results.json").read_text())
    results = {name: data[name] for name in SECTIONS if name in data}
    (out / "report.md").write_text(render_report(results, data["meta"]))
    return out / "report.md"
