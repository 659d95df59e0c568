# Every target bootstraps .venv on first use. torch is pinned and installed first: a requirement that admits a
# newer torch would otherwise pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facegraft-installed
TORCH  := torch==2.13.0
PYTEST_ARGS ?=

.PHONY: all demo test bench lint clean venv browser

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

# The faceset report test opens the page in headless Chromium: Debian's package, never a downloaded browser.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } ; \
	    else echo "make: the report test needs Chromium (Debian: apt-get install chromium)" >&2; fi; }

test: $(STAMP) browser
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run

lint: $(STAMP)
	$(VENV)/bin/ruff check core tests bench
	$(VENV)/bin/ruff format --check core tests bench

clean:
	rm -rf demo_out .pytest_cache
