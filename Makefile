# Every target bootstraps .venv on first use. torch is pinned and installed first: a requirement that admits a
# newer torch would otherwise pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facegraft-installed
TORCH  := torch==2.13.0
# Two workers, a test module at a time each, in the order tests/conftest.py gives (longest first); the 25
# slowest tests are listed at the end, so a slow suite says where its time went.
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder --durations=25

.PHONY: all demo test test-fast bench lint clean venv test-programs ofx

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

# Tests that need programs from Debian: the faceset report opens in headless Chromium, the review page is
# driven through Debian's chromedriver (package chromium-driver), the Blender add-on runs in real Blender.
# Installed when missing (root with apt-get); never a downloaded browser, driver or Blender.
APT_PROGRAMS := chromium chromium-driver blender
test-programs:
	@for p in $(APT_PROGRAMS); do \
	  { command -v $$p || dpkg -s $$p; } >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -q $$p >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$p >/dev/null 2>&1; } || \
	    echo "make: could not install $$p" >&2; \
	  else echo "make: the tests need $$p (Debian: apt-get install $$p)" >&2; fi; \
	done

ofx:
	$(MAKE) -C ofx_bridge all

test: $(STAMP) test-programs ofx
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The fast tier: the unit tests alone (about a minute), for the edit-test loop; `make test` runs everything.
test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/unit

bench: $(STAMP)
	$(PY) -m bench.run

lint: $(STAMP)
	$(VENV)/bin/ruff check core tests bench hosts
	$(VENV)/bin/ruff format --check core tests bench hosts

clean:
	rm -rf demo_out .pytest_cache
