# The course's commands. `make lab` to study, `make test` to check everything CI checks.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

# Measured on a 2-core machine: torch's default spin-waiting threads make small training
# steps ~30x slower while another process runs. Every command below runs with this.
export OMP_WAIT_POLICY := PASSIVE
export PYDEVD_DISABLE_FILE_VALIDATION := 1

PYTHON ?= $(shell command -v python3.11 || command -v python3 || command -v python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))
EXERCISES := $(sort $(wildcard exercises/*.ipynb))
# Stored outputs are made and compared on the CPU, without progress bars, so they match on any machine.
STORED_RUN := ATTENTION_COURSE_DEVICE=cpu ATTENTION_COURSE_PROGRESS=0
NBVAL := $(STORED_RUN) $(BIN)/python -m pytest --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg
# `make setup TORCH=cpu` installs PyTorch's CPU build first, so pip never downloads the multi-GB
# CUDA build that PyPI serves on Linux (for a machine without an NVIDIA GPU).
TORCH ?=
TORCH_PIN := $(shell grep -E '^torch==' requirements.txt)
# JupyterLab refuses to run as root (containers, cloud VMs) unless told: only then is it told.
# Options for JupyterLab: make lab LAB_ARGS="--port 8890 --no-browser"
LAB_ARGS ?=
ROOT_ARGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: help setup lab instructor learner book test lint export export-check exercises exercises-check \
	markup markup-check pytest nbval browser execute checkpoints linkcheck bench bench-quick gpu-check clean

help:
	@echo "make lab      set up (first time: a few minutes), then open the course in JupyterLab"
	@echo "               options for JupyterLab: make lab LAB_ARGS=\"--port 8890 --no-browser\""
	@echo "make setup TORCH=cpu  first set-up on a machine without an NVIDIA GPU (no CUDA download)"
	@echo "make test     everything CI checks: lint, export sync, tests, notebooks, book, browser"
	@echo "make book     build the site from clean into _build/html"
	@echo "make execute  re-run every notebook in place and save its outputs"
	@echo "make export   write the notebooks' '#| export' cells into the attention_course package"
	@echo "make markup   rewrite MyST roles as links that JupyterLab and the site both render"
	@echo "make instructor / make learner  show / hide nbgrader's grading tools in JupyterLab"
	@echo "make exercises  generate exercises/ from solutions/ (nbgrader)"
	@echo "make checkpoints  retrain the model shipped inside the package (deterministic on CPU)"
	@echo "make bench    measure the course against the references (up to 20 min): bench/report.md"
	@echo "make gpu-check  run every notebook on this machine's GPU: bench/gpu-report.md"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "make setup: no Python found (looked for python3.11, python3, python)."; \
	  echo "Install Python 3.11 (3.11-3.13 work), or run: make setup PYTHON=/path/to/python3.11"; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)' || { \
	  echo "make setup: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'),"; \
	  echo "but the course needs Python 3.11-3.13 (3.11 is what CI uses)."; \
	  echo "Install one, or run: make setup PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "make setup: $(PYTHON) has no venv/ensurepip module (on Debian/Ubuntu: apt install python3-venv)."; exit 1; }
	@case "$(TORCH)" in ""|cpu) ;; *) echo "make setup: TORCH=$(TORCH)? Use TORCH=cpu, or leave it out."; exit 1;; esac
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(filter cpu,$(TORCH)),$(BIN)/python -m pip install --quiet "$(TORCH_PIN)" --index-url https://download.pytorch.org/whl/cpu)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	$(BIN)/python tools/setup_lab.py --learner
	touch $(STAMP)

# Trusts the course's notebooks (stored interactive outputs show) and opens .md files rendered.
lab: setup
	$(BIN)/python tools/setup_lab.py
	@echo "Starting JupyterLab$(if $(ROOT_ARGS), as root ($(ROOT_ARGS)),). Stop it with Ctrl-C."
	@echo "JupyterLab options: make lab LAB_ARGS=\"--port 8890 --no-browser\" (jupyter lab --help-all lists them)"
	$(BIN)/jupyter lab --notebook-dir=. $(ROOT_ARGS) $(LAB_ARGS) notebooks/ch4_1_why_attention.ipynb

# nbgrader's instructor tools (Formgrader, Create Assignment, Course List) in this environment's
# JupyterLab: shown by `make instructor`, hidden again by `make learner` (the default).
instructor: setup
	$(BIN)/python tools/setup_lab.py --instructor

learner: setup
	$(BIN)/python tools/setup_lab.py --learner

# Rewrites {cite}, {term} and {doc} roles into Markdown links that render in JupyterLab and on
# the site, and book/references.md from book/references.bib. Then regenerates the exercises.
markup: setup
	$(BIN)/python tools/convert_markup.py
	$(BIN)/python tools/make_exercises.py

markup-check: setup
	$(BIN)/python tools/convert_markup.py --check

export: setup
	$(BIN)/python tools/nbdev_export.py

export-check: setup
	$(BIN)/python tools/nbdev_export.py --check

exercises: setup
	$(BIN)/python tools/make_exercises.py

exercises-check: setup
	$(BIN)/python tools/make_exercises.py --check

checkpoints: setup
	$(BIN)/python tools/make_checkpoints.py

lint: setup
	$(BIN)/ruff check attention_course tests tools _ext notebooks solutions

pytest: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not browser" tests

# Chapters and solutions are compared with their stored outputs; exercises are stored without
# outputs (nbgrader clears them), so nbval runs them and accepts the tagged checks that raise.
nbval: setup
	$(NBVAL) $(NOTEBOOKS) $(SOLUTIONS) $(EXERCISES)

book: setup
	rm -rf _build
	$(BIN)/jupyter-book build . --all -W -n --keep-going

# The built site, and the course in its own JupyterLab (tests/test_jupyterlab.py), in chromium.
browser: setup
	@test -f _build/html/index.html || { echo "no built site: run make book first"; exit 1; }
	$(BIN)/python -m pytest -m browser tests

# Everything CI checks, in order: lint, export sync, exercise sync, package and repository
# tests (with the nbgrader round trip and the markup check), notebooks (nbval), the book
# (warnings are errors), the site and JupyterLab in a real browser.
test: lint export-check exercises-check pytest nbval book browser

# Kernels start in each notebook's folder; timings are not recorded (they would churn the diff).
execute: setup
	$(STORED_RUN) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False \
	  $(NOTEBOOKS) $(SOLUTIONS)
	$(BIN)/python tools/make_exercises.py

# External links need a network, so this is not part of `make test`.
linkcheck: setup
	$(BIN)/jupyter-book build . --builder linkcheck

# A benchmark, not a test: ratios of candidates timed side by side (torch.utils.benchmark), written
# to bench/results.json by tools/bench.py and rendered to bench/report.md by tools/bench_report.py.
# bench-quick (<= 2 min) is what tests/test_bench.py smoke-tests in `make test`.
bench: setup
	$(BIN)/python tools/bench.py

bench-quick: setup
	$(BIN)/python tools/bench.py --quick

# Every chapter and solution on this machine's GPU (outputs not compared, asserts must hold):
# bench/gpu-report.md. Needs no `make setup`: `make gpu-check PYTHON=python3` uses any Python
# with torch, nbclient, nbformat and ipykernel (tools/gpu_check.py says what is missing).
GPU_PYTHON := $(if $(filter command line,$(origin PYTHON)),$(PYTHON),$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)))
gpu-check:
	$(GPU_PYTHON) tools/gpu_check.py

clean:
	rm -rf _build .pytest_cache
