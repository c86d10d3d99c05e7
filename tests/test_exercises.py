"""Exercises: generated from the solutions by nbgrader, well-formed, and gradable end to end."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("ex*.ipynb"))
BIN = Path(sys.executable).parent


def run_make_exercises(root, *args):
    command = [sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--root", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_there_are_solutions():
    assert SOLUTIONS, "solutions/ holds no exercise notebook"


def test_exercises_are_generated_from_the_solutions():
    result = run_make_exercises(ROOT, "--check")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_are_titled_as_solutions_and_exercises_as_exercises(path):
    chapter, exercise_number = path.stem.split("_")[:2]  # ex4_6_multi_head_attention -> ex4, 6
    number = f"{chapter[2:]}.{exercise_number}"
    solution = nbformat.read(path, as_version=4).cells[0].source
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4).cells[0].source
    page = (ROOT / "book" / "exercises" / f"{path.stem}.md").read_text(encoding="utf-8")
    assert solution.startswith(f"# Solution to exercise {number}: "), solution.splitlines()[0]
    assert "\n> **You will write**" in solution, "the solution quotes the task, not addresses the reader"
    for text in (exercise, page):
        assert text.startswith(f"# Exercise {number}: ") and "Solution to" not in text.splitlines()[0]
    assert "**You will write**" in exercise
    assert not any(line.startswith(">") for line in exercise.splitlines()), "the task is unquoted"
    assert "The worked solution" not in exercise


def test_generator_rejects_a_solution_without_its_title_or_quoted_task(tmp_path):
    for folder in ("solutions", "exercises", "book/exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    solution = tmp_path / "solutions" / SOLUTIONS[0].name
    notebook = nbformat.read(solution, as_version=4)
    notebook.cells[0].source = notebook.cells[0].source.replace("# Solution to exercise", "# Exercise")
    nbformat.write(notebook, solution)
    result = run_make_exercises(tmp_path, "--check")
    assert result.returncode == 1 and "# Solution to exercise N.N: TITLE" in result.stdout


def test_generation_is_byte_stable(tmp_path):
    for folder in ("solutions", "exercises", "book/exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    for _ in range(2):
        assert run_make_exercises(tmp_path).returncode == 0
    for folder in ("exercises", "book/exercises"):
        for path in (tmp_path / folder).iterdir():
            if path.suffix in (".ipynb", ".md") and path.name != "README.md":
                assert path.read_bytes() == (ROOT / folder / path.name).read_bytes(), path.name


def test_sync_check_fails_on_a_hand_edited_exercise(tmp_path):
    for folder in ("solutions", "exercises", "book/exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    exercise = tmp_path / "exercises" / SOLUTIONS[0].name
    notebook = nbformat.read(exercise, as_version=4)
    notebook.cells[0].source += "\n\nEdited by hand."
    nbformat.write(notebook, exercise)
    result = run_make_exercises(tmp_path, "--check")
    assert result.returncode == 1 and SOLUTIONS[0].name in result.stdout


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_is_marked_up_for_nbgrader(path):
    cells = nbformat.read(path, as_version=4).cells
    meta = [c.metadata.get("nbgrader", {}) for c in cells]
    ids = [m["grade_id"] for m in meta if "grade_id" in m]
    assert len(ids) == len(set(ids)), f"{path.name}: grade_ids must be unique"
    answers = [c for c, m in zip(cells, meta, strict=True) if m.get("solution")]
    graded = [c for c, m in zip(cells, meta, strict=True) if m.get("grade")]
    assert answers and graded, f"{path.name} needs answer cells and graded check cells"
    for cell in answers:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
    for cell in graded:
        assert cell.metadata.nbgrader["points"] > 0
        assert "raises-exception" in cell.metadata.get("tags", []), "graded checks raise until solved"
    assert cells[1].source.startswith("# Setup"), f"{path.name}: the second cell is the course setup"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_name_imported_from_the_checks_is_exported_by_them(path):
    """`from attention_course.checks import ...` in a solution (and so in its exercise) works,
    and names only what the checks package exports (its __all__), not a private helper."""
    import ast

    import attention_course.checks as checks
    imported = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "attention_course.checks" not in cell.source:
            continue
        lines = cell.source.splitlines()
        code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module == "attention_course.checks":
                imported |= {alias.name for alias in node.names}
    assert imported, f"{path.name} imports no check"
    assert imported <= set(checks.__all__), sorted(imported - set(checks.__all__))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_is_executed_without_errors(path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name}: run it (make execute)"
    errors = [o.ename for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} has stored errors: {errors}"


def autograde(course: Path, assignment: str, notebook: Path):
    """An instructor's round trip in a fresh nbgrader course: release, collect, autograde."""
    (course / "source" / assignment).mkdir(parents=True)
    shutil.copy(notebook, course / "source" / assignment)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'attention'\n"
        f"c.CourseDirectory.db_assignments = [dict(name='{assignment}')]\n"
        "c.CourseDirectory.db_students = [dict(id=s) for s in ('solved', 'handed_out')]\n"
        "c.Execute.timeout = 300\n"
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # nbgrader runs alembic
    nbgrader = [str(BIN / "nbgrader")]
    subprocess.run(nbgrader + ["generate_assignment", assignment, "--force"], cwd=course, env=env,
                   check=True, capture_output=True)
    released = course / "release" / assignment / notebook.name
    handed_out = ROOT / "exercises" / notebook.name  # what learners get from the repository
    # nbgrader's own release is the handed-out exercise but for its title cell: the same code
    # cells with the same nbgrader metadata, so grading the handed-out one grades both.
    code = [[(c.source, c.metadata.get("nbgrader")) for c in nbformat.read(p, as_version=4).cells
             if c.cell_type == "code"] for p in (released, handed_out)]
    assert code[0] == code[1], f"{notebook.name}: exercises/ differs from nbgrader's release"
    for student, version in STUDENTS.items():
        target = course / "submitted" / student / assignment
        target.mkdir(parents=True)
        shutil.copy({"solved": notebook, "handed_out": handed_out}[version], target / notebook.name)
    subprocess.run(nbgrader + ["autograde", assignment, "--force"], cwd=course, env=env,
                   check=True, capture_output=True)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {student: (gradebook.find_submission(assignment, student).score,
                          gradebook.find_submission(assignment, student).max_score)
                for student in STUDENTS}


STUDENTS = {"solved": "solved", "handed_out": "handed_out"}


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_nbgrader_round_trip_full_marks_and_zero(path, tmp_path):
    assignment = "_".join(path.stem.split("_")[:2])  # ex4_6_multi_head_attention -> ex4_6
    scores = autograde(tmp_path, assignment, path)
    solved, handed_out = scores["solved"], scores["handed_out"]
    assert solved[0] == solved[1] > 0, f"the solution should earn full marks, got {solved}"
    assert handed_out[0] == 0, f"the untouched exercise of exercises/ should earn zero, got {handed_out}"
    # Every error an untouched exercise shows says plainly what is missing: no bare traceback.
    for student in ("handed_out",):
        graded = nbformat.read(tmp_path / "autograded" / student / assignment / path.name, as_version=4)
        errors = [(o.ename, o.evalue) for c in graded.cells if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.output_type == "error"]
        assert errors, f"{student}: an untouched exercise should show its missing answers"
        unclear = [e for e in errors if e[0] != "AssertionError"
                   or not e[1].startswith(("not implemented yet", "not available yet"))]
        assert not unclear, f"{student}: errors that do not say what is missing: {unclear}"
