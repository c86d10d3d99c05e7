"""Repository checks: pins, environment.yml, the export sync check, notebook skeleton, markup
that JupyterLab renders (links whose targets exist), the table of contents, `make lab`."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)$")


def requirement_lines(text):
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def read_pins():
    pins = {}
    for line in requirement_lines((ROOT / "requirements.txt").read_text()):
        match = PIN.match(line)
        assert match, f"requirements.txt: {line!r} is not pinned with '=='"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_requirement_is_pinned_exactly():
    pins = read_pins()
    assert pins["torch"] == "2.13.0", "torch must stay pinned to 2.13.0 (a looser pin pulls a CUDA build)"
    assert pins["jupyter-book"].startswith("1."), "Jupyter Book 2 cannot build offline: keep 1.x"
    for needed in ["numpy", "matplotlib", "seaborn", "jupyterlab", "jupyterlab-myst", "ipykernel",
                   "ipywidgets", "tqdm", "nbval", "pytest", "sphinx-exercise", "pybtex",
                   "sphinx-mathjax-offline", "playwright", "ruff"]:
        assert needed in pins, f"{needed} is a direct dependency and must be pinned in requirements.txt"


def test_environment_yml_installs_requirements_txt():
    """environment.yml's pip section reads requirements.txt: the pins live in one place."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in environment["dependencies"], "environment.yml must ask for python=3.11"
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "-r requirements.txt" in pip_section, pip_section
    assert not [line for line in pip_section if "==" in line], "pins belong in requirements.txt"


def run_export_check(root):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "nbdev_export.py"), "--check",
                           "--root", str(root)], capture_output=True, text=True)


def test_package_and_notebooks_are_in_sync():
    result = run_export_check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def repo_copy(tmp_path):
    for name in ["pyproject.toml", "notebooks", "attention_course"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_export_check_fails_on_an_edited_module(repo_copy):
    module = repo_copy / "attention_course" / "tasks" / "reversal.py"
    module.write_text(module.read_text().replace("SOS = 10", "SOS = 11"))
    result = run_export_check(repo_copy)
    assert result.returncode == 1
    assert "not in sync" in result.stdout and "tasks/reversal.py" in result.stdout
    assert "-SOS = 11" in result.stdout and "+SOS = 10" in result.stdout


def test_export_check_fails_on_an_edited_notebook(repo_copy):
    path = repo_copy / "notebooks" / "ch4_1_why_attention.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if c.source.startswith("#| export\ndef dot_product_attention"))
    cell.source = cell.source.replace("softmax(dim=-1)", "softmax(dim=1)")
    nbformat.write(notebook, path)
    result = run_export_check(repo_copy)
    assert result.returncode == 1 and "softmax(dim=1)" in result.stdout


def is_directive_cell(cell):
    """nbdev's `#| default_exp` cell: only directives, hidden on the site, nothing to run."""
    lines = cell.source.strip().splitlines()
    return bool(lines) and all(line.startswith("#|") for line in lines)


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code" and not is_directive_cell(c)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_directive_cell_names_the_module_and_is_hidden_on_the_site(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    directive = [c for c in cells if c.source.startswith("#| default_exp ")]
    assert len(directive) == 1, f"{path.name}: one `#| default_exp MODULE` cell"
    assert "remove-cell" in directive[0].metadata.get("tags", []), path.name
    assert is_directive_cell(directive[0]), path.name


def test_there_are_chapter_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no chapter notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_common_setup(path):
    first = code_cells(path)[0].source
    reference = code_cells(NOTEBOOKS[0])[0].source
    assert first == reference, f"{path.name}: the first code cell must be the course's setup cell"
    for needed in ["set_seed(0)", "device = get_device()", "use_course_style()", "print(f\"Using device:"]:
        assert needed in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_in_order_without_errors(path):
    cells = [c for c in code_cells(path) if c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert None not in counts, f"{path.name}: some cells were never run (make execute)"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), f"{path.name}: run out of order"
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: stored error output {errors[0].ename}: {errors[0].evalue}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_chapter_skeleton(path):
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert notebook.cells[0].source.startswith("# "), f"{path.name} must open with its title"
    for heading in ["**Learning objectives.**", "## Summary", "## References", "## Exercises"]:
        assert heading in markdown, f"{path.name} lacks {heading!r}"


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


def test_makefile_exports_passive_omp_wait_policy():
    assert re.search(r"^export OMP_WAIT_POLICY\s*:?=\s*PASSIVE", (ROOT / "Makefile").read_text(), re.M)


# -- Markup that reads the same in JupyterLab and on the site (issue 13) ------------------------
MARKDOWN_SOURCES = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("notebooks/*.md"),
                           *ROOT.glob("solutions/*.ipynb"), *ROOT.glob("exercises/*.ipynb"),
                           *ROOT.glob("book/*.md")])
LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")


def markdown_of(path):
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_markup_is_converted_for_jupyterlab():
    """No {cite}/{term}/{doc} role left, and every citation's text matches references.bib."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_markup.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", MARKDOWN_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_its_target(path):
    """A link works in JupyterLab only if its file exists; citations and terms need their anchor."""
    convert_markup = pytest.importorskip("tool_loader").load_tool("convert_markup")
    keys = set(convert_markup.load_bibliography(ROOT))
    anchors = {convert_markup.term_anchor(t) for t in convert_markup.glossary_terms(ROOT).values()}
    problems = []
    for match in LINK.finditer(re.sub(r"```.*?```", "", markdown_of(path), flags=re.S)):
        target = match["target"]
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # external, or an anchor on the same page
        file, _, anchor = unquote(target).partition("#")
        if not (path.parent / file).resolve().is_file():
            problems.append(f"[{match['text']}]({target}): no file {file}")
        elif file.endswith("references.md") and anchor and anchor not in keys:
            problems.append(f"[{match['text']}]({target}): {anchor} is not a key of references.bib")
        elif file.endswith("glossary.md") and anchor and anchor not in anchors:
            problems.append(f"[{match['text']}]({target}): {anchor} is not a term of the glossary")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_no_solution_follows_an_exercise_in_the_table_of_contents():
    """The site's "Next" button follows _toc.yml: an exercise page must not lead to its solution."""
    files = re.findall(r"^\s*- file: (\S+)", (ROOT / "_toc.yml").read_text(), re.M)
    for current, following in zip(files, files[1:], strict=False):
        if current.startswith("book/exercises/"):
            assert not following.startswith("solutions/"), f"{current} is followed by {following}"


@pytest.mark.parametrize("uid, allow_root", [("0", True), ("1000", False)])
def test_make_lab_allows_root_only_for_root(tmp_path, uid, allow_root):
    fake_id = tmp_path / "id"
    fake_id.write_text(f"#!/bin/sh\necho {uid}\n")
    fake_id.chmod(0o755)
    result = subprocess.run(["make", "-n", "lab", 'LAB_ARGS=--port 8890'], cwd=ROOT, capture_output=True,
                            text=True, env=dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}"))
    command = next(line for line in result.stdout.splitlines() if " lab --notebook-dir" in line)
    assert "--port 8890" in command
    assert ("--allow-root" in command) == allow_root, command


def readme_table():
    """Path cell -> what-it-holds cell of README.md's repository table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("## Repository", 1)[1]
    rows = [line.split("|")[1:3] for line in text.splitlines() if line.startswith("| `")]
    return {path.strip(): what.strip() for path, what in rows}


def test_readme_repository_table_lists_what_is_really_there():
    table = readme_table()
    named = set(re.findall(r"`([^`]+)`", " ".join(table)))
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    top = {p.split("/")[0] + ("/" if "/" in p else "") for p in tracked}
    top -= {".gitignore/", ".gitignore", ".gitattributes", "README.md", "CONTRIBUTING.md"}
    missing = sorted(t for t in top
                     if not any(n == t.rstrip("/") or n.startswith(t) for n in named))
    assert not missing, f"README's repository table does not mention {missing}"
    for path in named:
        assert (ROOT / path).exists(), f"README's repository table names {path}, which is not there"
    tools_row = table["`tools/`"]
    for script in sorted((ROOT / "tools").glob("*.py")):
        assert f"`{script.name}`" in tools_row, f"README's tools/ row does not mention {script.name}"


def test_gitattributes_marks_exactly_the_generated_modules():
    marked = {line.split()[0] for line in (ROOT / ".gitattributes").read_text().splitlines()
              if line.strip() and not line.startswith("#") and "linguist-generated" in line}
    generated = {p.relative_to(ROOT).as_posix() for p in (ROOT / "attention_course").rglob("*.py")
                 if p.read_text(encoding="utf-8").startswith("# AUTOGENERATED! DO NOT EDIT!")}
    assert generated and generated <= marked, f"not marked generated: {sorted(generated - marked)}"
    stale = {m for m in marked - generated if m.endswith(".py")}
    assert not stale, f".gitattributes marks modules that are not generated: {sorted(stale)}"
    assert {"exercises/**", "book/exercises/**"} <= marked


def run_export(root):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "nbdev_export.py"), "--root", str(root)],
                          capture_output=True, text=True)


def generated_texts(root):
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in (root / "attention_course").rglob("*.py")
            if p.read_text(encoding="utf-8").startswith("# AUTOGENERATED! DO NOT EDIT!")}


def test_a_failing_export_leaves_the_package_as_it_was(repo_copy):
    before = generated_texts(repo_copy)
    (repo_copy / "notebooks" / "ch4_6_self_attention.ipynb").write_text("{not json")
    result = run_export(repo_copy)
    assert result.returncode != 0
    assert generated_texts(repo_copy) == before and len(before) == 9


def test_export_is_stable_and_reads_directives_as_nbdev_does(repo_copy):
    path = repo_copy / "notebooks" / "ch4_3_luong_attention.ipynb"
    text = path.read_text()
    path.write_text(text.replace('"#| export numpy_attention\\n"', '"#|export numpy_attention\\n"'))
    before = generated_texts(repo_copy)
    for _ in range(2):
        assert run_export(repo_copy).returncode == 0
    assert generated_texts(repo_copy) == before
