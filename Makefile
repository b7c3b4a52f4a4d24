# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv on first use.
# The demo installs only the runtime dependencies (faster first run); the tests add the test extra.
# --no-compile: bytecode is written on first import instead of for every file of every dependency,
# which roughly halves the first install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --no-compile --disable-pip-version-check
RUNTIME := $(VENV)/.installed-runtime
TESTDEPS := $(VENV)/.installed-test
# the ingest scanners are C, compiled by pip install: a changed source means a new install
NATIVE := $(wildcard ingest/native/*.c ingest/native/*.h)

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml $(NATIVE) | $(BIN)/python
	$(PIP) -e .
	touch $(RUNTIME)

$(TESTDEPS): pyproject.toml $(NATIVE) $(RUNTIME)
	$(PIP) -e '.[test]'
	touch $(TESTDEPS)

demo: $(RUNTIME)
	$(BIN)/tracereplay demo

test: $(TESTDEPS)
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/pytest

lint: $(TESTDEPS)
	$(BIN)/ruff check .

# pyright (basic mode, pyrightconfig.json) over the five packages. The packages install under one import name
# from five folders (package-dir), which pyright cannot follow: build/typecheck/tracereplay is that layout as
# symlinks. Part of `make test` (after ruff): any finding fails it (docs/architecture.md, "Types").
# PYRIGHT_PYTHON_IGNORE_WARNINGS: no look-up of pyright's newest release on PyPI at every run.
typecheck: $(TESTDEPS)
	rm -rf build/typecheck && mkdir -p build/typecheck/tracereplay
	for entry in tracereplay/*; do ln -s ../../../$$entry build/typecheck/tracereplay/; done
	for stage in ingest model replay report; do ln -s ../../../$$stage build/typecheck/tracereplay/$$stage; done
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(BIN)/pyright $(PYRIGHT_ARGS)

bench: $(TESTDEPS)
	$(PIP) -e '.[test,bench]'
	@echo "run one: $(BIN)/python benchmarks/<name>.py (see docs/benchmarks.md)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache ingest/_native.*.so
