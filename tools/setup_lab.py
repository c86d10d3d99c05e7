"""Set up the JupyterLab of this Python environment for the course (run by `make setup` and `make lab`).

- Opens Markdown files rendered: the default viewer for .md becomes JupyterLab's Markdown
  Preview (with jupyterlab-myst, MyST renders there too), so chapter 4.7 and the book pages
  open as pages, not as source. Also stops JupyterLab's news pop-up (it needs the network).
  Written to this environment's JupyterLab settings overrides
  (<sys.prefix>/share/jupyter/lab/settings/overrides.json); a learner's own settings still win.
- Trusts the course's own notebooks for the user who runs it (Jupyter's notebook signatures,
  what `jupyter trust` does), so that their stored interactive outputs, such as the Plotly
  figure of chapter 4.4, show without re-running the cell. Only files of this repository that
  are not already trusted are signed; a notebook you change and save stays trusted.
- --learner (default of `make setup`) hides nbgrader's instructor tools (Formgrader, Create
  Assignment, Course List) and keeps what a student of an nbgrader course uses (Validate,
  Assignment List); --instructor (`make instructor`) shows them all again.

    python tools/setup_lab.py               # settings and trust only (every `make lab`)
    python tools/setup_lab.py --learner     # ... and hide the instructor tools
    python tools/setup_lab.py --instructor  # ... and show them
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.sign import NotebookNotary

ROOT = Path(__file__).resolve().parent.parent
COURSE_NOTEBOOKS = ("notebooks", "solutions", "exercises")
OVERRIDES = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
# nbgrader's JupyterLab plugins and server extensions that only an instructor uses.
INSTRUCTOR_PLUGINS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list"]
INSTRUCTOR_SERVER_EXTENSIONS = ["nbgrader.server_extensions.formgrader",
                                "nbgrader.server_extensions.course_list"]


def write_overrides(prefix: Path = Path(sys.prefix)) -> Path:
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    settings = json.loads(path.read_text()) if path.exists() else {}
    for plugin, values in OVERRIDES.items():
        settings.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path


def trust_notebooks(root: Path = ROOT) -> list[Path]:
    """Sign the course's notebooks that are not trusted yet; return the ones signed."""
    notary = NotebookNotary()
    signed = []
    for folder in COURSE_NOTEBOOKS:
        for path in sorted((root / folder).glob("*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            if not notary.check_signature(notebook):
                notary.sign(notebook)
                signed.append(path)
    return signed


def jupyter(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "jupyter", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def set_instructor_tools(enabled: bool) -> None:
    action = "enable" if enabled else "disable"
    jupyter("labextension", action, "--level=sys_prefix", *INSTRUCTOR_PLUGINS)
    for extension in INSTRUCTOR_SERVER_EXTENSIONS:
        jupyter("server", "extension", action, "--sys-prefix", extension)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--learner", action="store_true", help="hide nbgrader's instructor tools")
    mode.add_argument("--instructor", action="store_true", help="show nbgrader's instructor tools")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course whose notebooks to trust")
    args = parser.parse_args(argv)
    try:
        write_overrides()
    except PermissionError as error:  # an environment this user may not change: skip, say so
        print(f"setup_lab: cannot write JupyterLab's settings overrides ({error}); "
              "Markdown files will open as source (right-click > Open With > Markdown Preview)")
    signed = trust_notebooks(args.root)
    if signed:
        print(f"trusted {len(signed)} course notebooks (their stored interactive outputs will show)")
    if args.learner or args.instructor:
        set_instructor_tools(args.instructor)
        print("nbgrader's instructor tools (Formgrader, Create Assignment, Course List) are "
              + ("shown: `make learner` hides them" if args.instructor
                 else "hidden: `make instructor` shows them"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
