"""Every measured number in the prose is printed by its notebook, cited or allowed."""

import json
from pathlib import Path

import pytest
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parent.parent
provenance = load_tool("provenance")


@pytest.mark.parametrize(
    "path", provenance.default_files(), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_every_number_in_the_prose_has_a_source(path):
    findings = provenance.check(path)
    assert not findings, "\n".join(str(f) for f in findings)


def _notebook(markdown, printed, code="print(x)"):
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": markdown},
            {
                "cell_type": "code",
                "metadata": {},
                "source": code,
                "execution_count": 1,
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": printed}
                ],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _check(tmp_path, notebook, name="notebooks/ch.ipynb"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    return provenance.check(path, root=tmp_path)


def test_a_printed_number_at_the_stated_precision_is_sourced(tmp_path):
    nb = _notebook(
        "Accuracy is 0.91, or 91 %, and it took about 20 s.", "acc 0.9132 18.2 s"
    )
    assert _check(tmp_path, nb) == []


def test_a_changed_number_fails_naming_notebook_cell_and_number(tmp_path):
    nb = _notebook("Accuracy is 0.93 here.", "acc 0.9132")
    (finding,) = _check(tmp_path, nb)
    assert (finding.path, finding.cell, finding.number) == (
        "notebooks/ch.ipynb",
        0,
        "0.93",
    )
    assert "0.93" in str(finding) and "notebooks/ch.ipynb" in str(finding)


def test_a_real_chapter_fails_when_one_of_its_numbers_is_changed(tmp_path):
    """Copy a chapter, change a number its prose takes from the outputs: it fails."""
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(source.read_text())
        numbers = [
            (i, claim.token)
            for i, cell in enumerate(notebook["cells"])
            if cell["cell_type"] == "markdown"
            for sentence in provenance.sentences("".join(cell["source"]))
            if "[CITE]" not in sentence and not provenance.ESTIMATE.search(sentence)
            for claim in provenance.claims(sentence)
            if "." in claim.token
        ]
        if numbers and _check(tmp_path, notebook) == []:
            break
    else:
        pytest.fail("no chapter states a decimal taken from its outputs")
    index, token = numbers[0]
    text = "".join(notebook["cells"][index]["source"])
    notebook["cells"][index]["source"] = text.replace(token, "0.123456", 1)
    findings = _check(tmp_path, notebook)
    assert [(f.cell, f.number) for f in findings] == [(index, "0.123456")]


def test_math_code_versions_chapters_and_counts_are_not_judged(tmp_path):
    md = (
        "In chapter 4.3 with Python 3.11 we set $p = 0.37$ and `lr = 0.0042`; "
        "700 steps on 64 strings.\n\n```python\nx = 0.777\n```"
    )
    assert _check(tmp_path, _notebook(md, "nothing")) == []


def test_a_cited_sentence_needs_no_output_but_a_bench_citation_needs_the_report(
    tmp_path,
):
    md = "A paper reports 28.4 BLEU {cite:p}`vaswani2017`. The bench measured 3.7x."
    assert [f.number for f in _check(tmp_path, _notebook(md, "nothing"))] == ["3.7x"]
    md = "It reports 28.4 BLEU {cite:p}`vaswani2017`. Measured 3.7x (bench/report.md)."
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "report.md").write_text("| ratio | 3.69 |")
    assert _check(tmp_path, _notebook(md, "nothing")) == []
    (tmp_path / "bench" / "report.md").write_text("| ratio | 2.10 |")
    assert [f.number for f in _check(tmp_path, _notebook(md, "nothing"))] == ["3.7x"]


def test_an_exercise_is_sourced_from_its_solution(tmp_path):
    solution = _notebook("Solved: 0.84.", "exact match 0.842")
    _check(tmp_path, solution, "solutions/ex4_9_demo.ipynb")
    exercise = _notebook("You should reach about 0.84.", "")
    exercise["cells"][1]["outputs"] = []
    assert _check(tmp_path, exercise, "exercises/ex4_9_demo.ipynb") == []
    exercise["cells"][0]["source"] = "You should reach about 0.97."
    assert [
        f.number for f in _check(tmp_path, exercise, "exercises/ex4_9_demo.ipynb")
    ] == ["0.97"]


def test_the_next_code_cell_sources_a_hand_worked_example(tmp_path):
    md = "By hand: the weights are 0.3871 and 0.5323."
    nb = _notebook(
        md,
        "",
        code="assert abs(w[0] - 0.3871) < 1e-4\nassert abs(w[1] - 0.5323) < 1e-4",
    )
    assert _check(tmp_path, nb) == []
