"""Generate exercises/ from solutions/ with nbgrader's own preprocessors, and their site pages.

The same steps `nbgrader generate_assignment` applies to a notebook, without a course
directory or a gradebook: lock the cells nbgrader marks as read-only, replace each
`### BEGIN SOLUTION` ... `### END SOLUTION` region by nbgrader's stub, clear hidden tests and
outputs, and record nbgrader's checksums so that an instructor's autograder can tell whether
a graded cell was changed. Each exercise also gets a page of the book, book/exercises/NAME.md:
the task (the notebook's first cell) in a sphinx-exercise `exercise` block, and the answer
cells in a `solution` dropdown that links to the solution notebook.

A solution is titled and worded as a solution: its first cell reads

    # Solution to exercise 4.1: TITLE

    What the solution shows (for the solution's readers only).

    > The task, quoted as the exercise states it ("**You will write** ...").

and the exercise's first cell is made from it: "# Exercise 4.1: TITLE", then the quoted task
without its "> " marks. Everything else is the solution notebook as nbgrader turns it into the
student version.

    python tools/make_exercises.py           # write exercises/ (make exercises)
    python tools/make_exercises.py --check   # fail, naming the notebooks, when exercises/ is stale
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

ROOT = Path(__file__).resolve().parent.parent
# The order of nbgrader's GenerateAssignment converter, without the steps that need a course
# (IncludeHeaderFooter, InstantiateTests) or its database (SaveCells).
STEPS = [LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
         ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]


SOLUTION_TITLE = re.compile(r"# Solution to exercise (\d+\.\d+): (\S.*)")


def exercise_header(solution_header: str, where: str = "the first cell") -> str:
    """The exercise's first cell, from the solution's: its title, and the task it quotes."""
    title, _, body = solution_header.partition("\n")
    match = SOLUTION_TITLE.fullmatch(title.strip())
    lines = body.splitlines()
    quoted = [i for i, line in enumerate(lines) if line.startswith(">")]
    if not match or not quoted:
        raise ValueError(
            f"{where} must start with '# Solution to exercise N.N: TITLE' and quote the task as the "
            "exercise states it, as a blockquote ('> ' lines)"
        )
    block = lines[quoted[0]:quoted[-1] + 1]
    if not all(line.startswith(">") for line in block) or any(line.strip() for line in
                                                               lines[quoted[-1] + 1:]):
        raise ValueError(f"{where}: the quoted task must be one blockquote at the end of the cell")
    task = "\n".join(line[2:] if line.startswith("> ") else line[1:] for line in block)
    return f"# Exercise {match[1]}: {match[2]}\n\n{task.strip()}"


def _read(solution_path: Path):
    notebook = nbformat.read(solution_path, as_version=4)
    notebook.cells[0].source = exercise_header(notebook.cells[0].source,
                                               f"{solution_path.name}, first cell,")
    return notebook


def student_version(solution_path: Path) -> str:
    """The exercise notebook nbgrader makes from one solution notebook, as JSON text."""
    notebook = _read(solution_path)
    resources = {"unique_key": solution_path.stem, "metadata": {"path": str(solution_path.parent)}}
    for step in STEPS:
        notebook, resources = step().preprocess(notebook, resources)
    notebook.metadata.pop("widgets", None)
    return nbformat.writes(notebook) + "\n"


def exercise_page(solution_path: Path) -> str:
    """The book page of one exercise: the task, then the solution in a closed dropdown."""
    notebook = _read(solution_path)
    title, _, task = notebook.cells[0].source.partition("\n")
    task = task.replace("](../", "](../../")  # the page is one folder deeper than the notebook
    label = solution_path.stem.split("_")[0] + "_" + solution_path.stem.split("_")[1]  # ex4_6
    answers = [c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    code = "\n\n\n".join("\n".join(line for line in answer.splitlines() if line.strip() not in markers)
                          for answer in answers)
    name = solution_path.name
    return (
        f"{title.strip()}\n\n"
        f"`````{{exercise}}\n:label: {label}\n:nonumber:\n\n{task.strip()}\n\n"
        f"**Get started:** download {{download}}`the exercise notebook <../../exercises/{name}>` "
        f"and open it in JupyterLab (or run `make lab` in the repository and open `exercises/{name}`). "
        "Run the check cells as you go: each one says what is right or what is off.\n"
        "`````\n\n"
        f"`````{{solution}} {label}\n:class: dropdown\n\n"
        f"The answer cells of the {{doc}}`solution notebook <../../solutions/{solution_path.stem}>`, "
        "which also shows every check passing, the results and a discussion:\n\n"
        f"```python\n{code}\n```\n`````\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when exercises/ differs")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    solutions = sorted((args.root / "solutions").glob("ex*.ipynb"))
    try:
        expected = {args.root / "exercises" / path.name: student_version(path) for path in solutions}
        expected.update({args.root / "book" / "exercises" / f"{path.stem}.md": exercise_page(path)
                         for path in solutions})
    except ValueError as error:
        print(f"make_exercises: {error}")
        return 1
    stale = [path for path, text in expected.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    generated = {*(args.root / "exercises").glob("ex*.ipynb"),
                 *(args.root / "book" / "exercises").glob("ex*.md")}
    extra = sorted(generated - set(expected))
    if args.check:
        for path in stale:
            print(f"{path.relative_to(args.root)} differs from what solutions/ generates")
        for path in extra:
            print(f"{path.relative_to(args.root)} has no solution notebook in solutions/")
        if stale or extra:
            print("Never edit exercises/ by hand: edit solutions/, then run `make exercises`.")
            return 1
        print(f"exercises/ and book/exercises/ match solutions/ ({len(solutions)} exercises)")
        return 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[path], encoding="utf-8")
        print(f"generated {path.relative_to(args.root)}")
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(args.root)} (no solution)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
