# The two commands: `make demo` runs the main job on the bundled input and model,
# `make test` runs linters and the test suite. Both set up everything they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint samples venv system-deps clean

demo: venv
	$(VENV)/bin/docexit run --output out/demo

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Rewrite the sample pages `docexit run` reads by default (package data in pipeline/samples/).
samples: venv
	rm -rf pipeline/samples
	$(PY) -c 'from docexit.corpus.synth import write_corpus; from docexit.pipeline import defaults as d; \
	  write_corpus("pipeline/samples", d.SAMPLES_PER_CLASS, d.SAMPLES_SEED, unit=d.SAMPLES_UNIT)'

venv: system-deps $(STAMP)

system-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  echo "tesseract not found: installing tesseract-ocr with apt-get"; \
	  command -v apt-get >/dev/null 2>&1 || { echo "ERROR: tesseract-ocr is missing and apt-get is not available; install Tesseract 5 by hand" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null \
	    || { echo "ERROR: apt-get install tesseract-ocr failed" >&2; exit 1; }; }
	@command -v python3.11 >/dev/null 2>&1 || python3 -c 'import sys; assert sys.version_info >= (3, 11)' \
	  || { echo "ERROR: Python >= 3.11 is required" >&2; exit 1; }

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV) || { echo "ERROR: could not create $(VENV) (is python3-venv installed?)" >&2; exit 1; }
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -e '.[dev]'
	$(PIP) check
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info out
