# Everything installs itself: `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench lint shop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/harness campaign --profile profiles/step-300.toml

test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks -p no:cacheprovider --benchmark-only --benchmark-autosave \
	  --benchmark-storage=.benchmarks --benchmark-compare --benchmark-compare-fail=median:10% \
	  || $(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-autosave --benchmark-storage=.benchmarks

lint: $(STAMP)
	$(BIN)/python -m ruff check .

shop: $(STAMP)
	$(BIN)/harness shop --port 8000

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
