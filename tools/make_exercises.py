"""Generate exercises/ from solutions/ with nbgrader's own preprocessors.

The same steps `nbgrader generate_assignment` applies to a notebook, without a course
directory or a gradebook: lock the cells nbgrader marks as read-only, replace each
`### BEGIN SOLUTION` ... `### END SOLUTION` region by nbgrader's stub, clear hidden tests and
outputs, and record nbgrader's checksums so that an instructor's autograder can tell whether
a graded cell was changed.

    python tools/make_exercises.py           # write exercises/ (make exercises)
    python tools/make_exercises.py --check   # fail, naming the notebooks, when exercises/ is stale
"""

import argparse
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


def student_version(solution_path: Path) -> str:
    """The exercise notebook nbgrader makes from one solution notebook, as JSON text."""
    notebook = nbformat.read(solution_path, as_version=4)
    resources = {"unique_key": solution_path.stem, "metadata": {"path": str(solution_path.parent)}}
    for step in STEPS:
        notebook, resources = step().preprocess(notebook, resources)
    notebook.metadata.pop("widgets", None)
    return nbformat.writes(notebook) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when exercises/ differs")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    solutions = sorted((args.root / "solutions").glob("ex*.ipynb"))
    expected = {args.root / "exercises" / path.name: student_version(path) for path in solutions}
    stale = [path for path, text in expected.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    extra = sorted(set((args.root / "exercises").glob("ex*.ipynb")) - set(expected))
    if args.check:
        for path in stale:
            print(f"{path.relative_to(args.root)} differs from what solutions/{path.name} generates")
        for path in extra:
            print(f"{path.relative_to(args.root)} has no solution notebook in solutions/")
        if stale or extra:
            print("Never edit exercises/ by hand: edit solutions/, then run `make exercises`.")
            return 1
        print(f"exercises/ matches solutions/ ({len(expected)} notebooks)")
        return 0
    for path in stale:
        path.write_text(expected[path], encoding="utf-8")
        print(f"generated {path.relative_to(args.root)}")
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(args.root)} (no solution)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
