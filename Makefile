# Two commands set everything up on a fresh machine with Python 3.11 and make:
#   make demo   create .venv, install explainscore, run the demo on the bundled bank data
#   make test   the same set-up with the dev extras, then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# xgboost-cpu: the CPU-only XGBoost wheel (the regular one pulls ~470 MB of CUDA libraries).
EXTRAS_RUNTIME := 'xgboost-cpu>=2.0' 'lightgbm>=4.0'
STAMP := $(VENV)/.installed-dev

.PHONY: demo test docs bench bench-quick lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,lime,spark,service]" $(EXTRAS_RUNTIME)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/explainscore demo --output demo_output

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The docs site (mkdocs-material + mkdocstrings) into site/; --strict fails on any broken
# link, anchor or API reference. The docs extra is installed once (again when pyproject changes).
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf $(VENV) demo_output site .pytest_cache .mypy_cache .ruff_cache
