"""make gpu-check's runner: executes a notebook in a copy, reports time and failures."""

from pathlib import Path

import nbformat
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parent.parent
gpu_check = load_tool("gpu_check")


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


def test_the_runner_sees_the_forced_device_and_reports_failed_asserts(tmp_path):
    ok = _notebook(
        tmp_path / "ok.ipynb",
        "import os\nfrom attention_course import get_device\n"
        "assert os.environ['ATTENTION_COURSE_DEVICE'] == 'cpu'\n"
        "assert get_device().type == 'cpu'",
    )
    bad = _notebook(tmp_path / "bad.ipynb", "assert 0.5 > 0.99, 'accuracy too low'")
    before = ok.read_text()
    report = tmp_path / "report.md"
    code = gpu_check.main(
        ["--device", "cpu", "--report", str(report), str(ok), str(bad)]
    )
    assert code == 1
    text = report.read_text()
    assert "| ok.ipynb |" in text and "| ok |" in text
    assert "FAILED" in text and "accuracy too low" in text
    assert "1 of 2 notebooks passed" in text
    assert ok.read_text() == before  # run in a copy: the notebook keeps its outputs
