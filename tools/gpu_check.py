"""Run every chapter and solution notebook on the GPU; write bench/gpu-report.md.

    make gpu-check                   # with the course's .venv
    make gpu-check PYTHON=python3    # any Python that has torch (no full set-up)

Each notebook runs top to bottom in a temporary copy (the repository's notebooks and
their stored CPU outputs are left alone) with ``ATTENTION_COURSE_DEVICE`` set to the
GPU, so every model and tensor the chapter puts on ``device`` runs there. Outputs are
not compared with the stored ones (GPU kernels round differently); each notebook's own
asserts (accuracy thresholds, equality to PyTorch's reference) still have to hold. The
report gives each notebook's wall-clock time and whether it passed.

Besides torch, the Python needs the notebooks' libraries and a Jupyter kernel:
``pip install nbclient nbformat ipykernel numpy matplotlib seaborn tqdm ipywidgets
plotly`` (the course package is found through PYTHONPATH; nothing is installed).
Without a GPU it stops and says so; ``--device cpu`` runs the same check on the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "gpu-report.md"
NEEDED = [
    "torch",
    "nbclient",
    "nbformat",
    "ipykernel",
    "numpy",
    "matplotlib",
    "seaborn",
]


def _missing_modules() -> list[str]:
    import importlib.util

    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def detect_device(requested: str | None) -> str:
    """The device to run on: ``requested``, else CUDA, else MPS; exit if none."""
    import torch

    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    raise SystemExit(
        "gpu-check: PyTorch sees no CUDA or Apple GPU on this machine, so there is "
        "nothing to check (--device cpu runs the same check on the CPU)."
    )


def describe(device: str) -> str:
    import torch

    if device == "cuda":
        name = torch.cuda.get_device_name(0)
        return f"{name}, CUDA {torch.version.cuda}, torch {torch.__version__}"
    if device == "mps":
        return f"Apple GPU (MPS), torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"


def run_notebook(path: Path, device: str, timeout: int) -> tuple[float, str]:
    """Execute a copy of ``path`` on ``device``: (seconds, "ok" or the error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    env = {
        "ATTENTION_COURSE_DEVICE": device,
        "ATTENTION_COURSE_PROGRESS": "0",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.parent.name / path.name
        copy.parent.mkdir()
        shutil.copy(path, copy)
        notebook = nbformat.read(copy, as_version=4)
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(copy.parent)}},
        )
        start = time.perf_counter()
        try:
            client.execute()
            status = "ok"
        except CellExecutionError as error:
            lines = [line for line in str(error).splitlines() if line.strip()]
            status = "FAILED: " + (lines[-1] if lines else "cell error")[:200]
        except Exception as error:  # a kernel that died, a timeout
            status = f"FAILED: {type(error).__name__}: {error}"[:200]
        seconds = time.perf_counter() - start
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return seconds, status


def render(device: str, rows: list[tuple[str, float, str]]) -> str:
    lines = [
        "# GPU check",
        "",
        "Written by `make gpu-check` (tools/gpu_check.py): every chapter and solution",
        "notebook run top to bottom on the device below, outputs not compared with the",
        "stored CPU ones, each notebook's own asserts checked.",
        "",
        f"- Device: {describe(device)}",
        f"- Python {platform.python_version()} on {platform.platform()}",
        f"- Date: {time.strftime('%Y-%m-%d')}",
        "",
        "| Notebook | Time (s) | Result |",
        "|---|---:|---|",
    ]
    lines += [
        f"| {name} | {seconds:.1f} | {status} |" for name, seconds, status in rows
    ]
    total = sum(seconds for _, seconds, _ in rows)
    passed = sum(status == "ok" for _, _, status in rows)
    lines += [
        "",
        f"{passed} of {len(rows)} notebooks passed in {total:.0f} s in all.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: chapters and solutions"
    )
    parser.add_argument(
        "--device", choices=["cuda", "mps", "cpu"], help="default: the GPU found"
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    missing = _missing_modules()
    if missing:
        print(
            f"gpu-check: {sys.executable} lacks {', '.join(missing)}. Install:\n"
            "  pip install nbclient nbformat ipykernel numpy matplotlib seaborn tqdm "
            "ipywidgets plotly\n(torch: the build for your GPU).",
            file=sys.stderr,
        )
        return 2
    device = detect_device(args.device)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb")
    )
    rows = []
    for path in notebooks:
        path = path.resolve()
        name = (
            path.relative_to(ROOT).as_posix()
            if path.is_relative_to(ROOT)
            else path.name
        )
        print(f"gpu-check: {name} on {device} ...", flush=True)
        seconds, status = run_notebook(path, device, args.timeout)
        print(f"  {seconds:.1f} s {status}", flush=True)
        rows.append((name, seconds, status))
    args.report.write_text(render(device, rows), encoding="utf-8")
    print(f"gpu-check: wrote {args.report}")
    return 0 if all(status == "ok" for _, _, status in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
