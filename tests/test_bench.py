"""Smoke test of `make bench`: the quick run writes a well-formed report. Nothing about speed."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ROWS = ["Bahdanau decoder step: layouts", "Luong dot / general / concat and additive",
        "Self-attention at n =", "Threads for small recurrent models",
        "Date Seq2Seq to 99 % exact match", "Whole course"]


def positive_numbers(value):
    """Every number in a JSON value (bools and None skipped)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in positive_numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in positive_numbers(v)]
    return []


def test_quick_bench_writes_a_well_formed_report(tmp_path):
    command = [sys.executable, str(ROOT / "tools" / "bench.py"), "--quick", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "[layouts]" in result.stdout and "[course]" in result.stdout, "progress is printed as it goes"

    data = json.loads((tmp_path / "results.json").read_text())
    assert {"meta", "summary", "layouts", "scores", "attention", "threads", "dates",
            "course"} <= data.keys()
    assert data["meta"]["quick"] is True and data["meta"]["device"] in ("cpu", "cuda")
    numbers = positive_numbers({k: v for k, v in data.items() if k != "meta"})
    assert numbers and all(math.isfinite(x) and x >= 0 for x in numbers)

    layouts = {r["layout"]: r for r in data["layouts"]["rows"]}
    assert {"course (broadcast, keys projected once)", "repeat + concat",
            "broadcast, keys projected every step"} <= layouts.keys()
    assert all(r["us_per_step"] > 0 and r["x_course"] > 0 for r in layouts.values())
    assert layouts["course (broadcast, keys projected once)"]["x_course"] == 1.0
    scores = {r["score"]: r for r in data["scores"]["rows"]}
    assert scores.keys() == {"additive (Bahdanau)", "Luong dot", "Luong general", "Luong concat"}
    assert scores["Luong dot"]["parameters"] == 0 and scores["Luong general"]["parameters"] == 64 * 64
    assert all(r["us_per_step"] > 0 for r in scores.values())
    attention = data["attention"]
    assert attention["matmul_gflops"] > 0
    implementations = {r["implementation"] for r in attention["rows"]}
    assert implementations == {"teaching scaled_dot_product_attention", "F.scaled_dot_product_attention",
                               "MultiHeadAttention", "nn.MultiheadAttention"}
    assert {r["mode"] for r in attention["rows"]} == {"forward", "forward+backward"}
    for r in attention["rows"]:
        assert r["ms"] > 0 and r["floor_ms"] > 0 and r["fraction_of_floor"] > 0 and r["peak_mib"] >= 0
    threads = {r["model"]: r for r in data["threads"]["rows"]}
    assert threads.keys() == {"reversal (4.1)", "dates (4.5)", "sentiment (4.6)"}
    for r in threads.values():
        assert r["ms_1_thread"] > 0 and r["ms_2_threads"] > 0
        assert r["x_2_vs_1"] == r["ms_2_threads"] / r["ms_1_thread"]
        assert 0 <= r["rounds_1_faster"] <= r["rounds"]
    for r in data["dates"]["rows"]:
        assert r["wall_s"] > 0 and r["train_s"] > 0 and 0 <= r["final_val_exact"] <= 1
        assert (r["steps_to_99"] is None) == (r["train_s_to_99"] is None)
    assert data["course"]["rows"] and all(r["seconds"] > 0 for r in data["course"]["rows"])
    for section in ("layouts", "scores", "attention", "threads"):  # timed by torch.utils.benchmark
        timing = data[section]["timing"]
        assert timing["rounds"] >= 1 and timing["min_run_time_s"] > 0, section
    assert data["layouts"]["timing"]["threads"] == 1 and data["threads"]["timing"]["threads"] == [1, 2]
    assert [s["row"] for s in data["summary"]][:2] == ROWS[:2]

    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# `make bench`")
    table = [line for line in report.splitlines() if line.startswith("| ")]
    summary = table[1:1 + len(ROWS)]  # after the header row
    assert len(summary) == len(ROWS)
    for line, row in zip(summary, ROWS, strict=True):
        assert line.startswith(f"| {row}"), (line, row)
        assert line.count("|") == 5, line  # Row | Result | Goal | Met
    for heading in ("## Bahdanau decoder step: layouts", "## Luong scores", "## Self-attention",
                    "## Threads for small recurrent models", "## Date Seq2Seq", "## Whole course"):
        assert heading in report
    assert report.count("`Timer.blocked_autorange`") == 4  # each timed section says how
    assert "rounds of 10 calls" not in report  # the hand-written loops' wording is gone


def load_bench():
    sys.path.insert(0, str(ROOT / "tests"))
    from tool_loader import load_tool

    return load_tool("bench")


def test_the_attention_sizes_are_options_of_bench(tmp_path):
    """What tools/bench_attention.py did: chapter 4.6's attention at chosen sizes, forward only."""
    bench = load_bench()
    assert bench.main(["--quick", "--only", "attention", "--out", str(tmp_path), "--device", "cpu",
                       "--lengths", "16", "32", "--batch", "2", "--heads", "2", "--head-dim", "8",
                       "--forward-only"]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data.keys() == {"meta", "summary", "attention"}
    attention = data["attention"]
    assert (attention["B"], attention["heads"], attention["d_k"], attention["lengths"]) == (2, 2, 8, [16, 32])
    assert {(r["n"], r["mode"]) for r in attention["rows"]} == {(16, "forward"), (32, "forward")}
    assert len(attention["rows"]) == 8 and all(r["ms"] > 0 for r in attention["rows"])
    report = (tmp_path / "report.md").read_text()
    assert "B = 2, h = 2, d_k = 8 (E = 16)" in report and "| Self-attention at n = 32 |" in report


def test_the_report_says_how_each_section_was_timed():
    """A section kept from an older results.json is described as it was measured then."""
    sys.path.insert(0, str(ROOT / "tools"))
    import bench_report

    rows = [{"layout": "course (broadcast, keys projected once)", "us_per_step": 669.0, "x_course": 1.0}]
    old = {"device": "cpu", "B": 64, "T_src": 40, "H": 64, "rounds": 41, "calls_per_round": 10,
           "rows": rows}
    new = {**old, "timing": {"rounds": 41, "min_run_time_s": 0.02, "threads": 1}}
    del new["calls_per_round"]
    old_text, new_text = ("\n".join(bench_report.layouts_section(r)) for r in (old, new))
    assert "median of 41 interleaved rounds of 10 calls" in old_text
    assert "torch.utils.benchmark" not in old_text
    assert ("timed with torch.utils.benchmark on 1 torch thread: in each of 41 interleaved rounds, "
            "`Timer.blocked_autorange` times every layout in turn (a short warm-up, then at least 20 ms"
            in new_text)
    assert "| course (broadcast, keys projected once) | 669 | 1.00 |" in new_text
    cuda = {**new, "device": "cuda"}
    assert "GPU synchronised" in "\n".join(bench_report.layouts_section(cuda))


def test_only_merges_the_sections_it_runs_into_an_earlier_full_run(tmp_path, monkeypatch):
    """--only replaces its sections in results.json, keeps the others, and re-renders the report
    with the date of each section; a --quick run is never merged into."""
    bench = load_bench()
    earlier = {"meta": {"date": "2026-11-23T16:01:20", "quick": False, "device": "cpu",
                        "load_before": "1.24 1.09 1.33"},
               "summary": [],
               "scores": {"device": "cpu", "B": 64, "T_src": 40, "H": 64, "rounds": 41,
                          "calls_per_round": 10,
                          "rows": [{"score": "Luong dot", "parameters": 0, "us_attention": 87.0,
                                    "us_per_step": 251.0, "x_additive_step": 0.31}]},
               "threads": {"rows": "stale: must be replaced"}}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    fake = {"device": "cpu", "cpu_count": 2, "rounds": 3, "steps_per_round": 2,
            "omp_wait_policy": "PASSIVE", "load_before": [0.1, 0.1, 0.1],
            "load_after": [0.2, 0.1, 0.1],
            "rows": [{"model": "dates (4.5)", "description": "DateSeq2Seq", "ms_1_thread": 30.0,
                      "ms_2_threads": 45.0, "x_2_vs_1": 1.5, "rounds_1_faster": 3, "rounds": 3}]}
    monkeypatch.setattr(bench, "bench_threads", lambda **_: fake)
    assert bench.main(["--only", "threads", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["threads"] == fake and data["scores"] == earlier["scores"]
    assert set(data["meta"]["sections"]) == {"scores", "threads"}
    assert data["meta"]["sections"]["scores"]["date"] == "2026-11-23T16:01:20"
    report = (tmp_path / "report.md").read_text()
    assert "scores: 2026-11-23T16:01:20 (full run)" in report and "threads: 20" in report
    assert "## Threads for small recurrent models" in report and "## Luong scores" in report
    assert "| dates (4.5): DateSeq2Seq | 30.0 | 45.0 | 1.50 | 3 of 3 |" in report
    assert bench.parse_sections(["threads,dates", "scores"]) == ["scores", "threads", "dates"]
    with pytest.raises(SystemExit, match="unknown section"):
        bench.parse_sections(["thread"])

    earlier["meta"]["quick"] = True  # a --quick file is not a base to merge into
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    assert bench.main(["--only", "threads", "--out", str(tmp_path)]) == 0
    assert "scores" not in json.loads((tmp_path / "results.json").read_text())
