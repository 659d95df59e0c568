# Every target bootstraps .venv on first use. torch is pinned and installed first: a requirement that admits a
# newer torch would otherwise pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facegraft-installed
TORCH  := torch==2.13.0
PYTEST_ARGS ?=

.PHONY: all demo test bench lint clean venv

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev,demo]' $(TORCH)
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m facegraft.demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run

lint: $(STAMP)
	$(VENV)/bin/ruff check core tests bench
	$(VENV)/bin/ruff format --check core tests bench

clean:
	rm -rf demo_out .pytest_cache
