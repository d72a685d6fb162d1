# Lesson 5: attention and transformers for NLP. Every command a person types.
# First use creates .venv with the pinned versions (requirements.txt + requirements.lock).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# pass A=01_tokenization to limit release/autograde/feedback to one assignment
A ?=

# make bench IMDB=/path/to/aclImdb_v1.tar.gz (or an extracted folder); default: setting/download
IMDB ?=
MODELS ?=

.PHONY: help setup demo test test-fast release autograde feedback grades sync lint clean bench

help:
	@echo "make demo       the whole nbgrader cycle on sample submissions (the main job)"
	@echo "make test       the project's test suite (everything, ~10 min on 2 cores)"
	@echo "make test-fast  the tests that start no kernel (~1 min)"
	@echo "make release    nbgrader generate_assignment -> release/ (commit the result)"
	@echo "make autograde  nbgrader autograde of submitted/ (kernel deaths reported, batch goes on)"
	@echo "make feedback   nbgrader generate_feedback (hidden tests scrubbed)"
	@echo "make grades     grades.csv + score table + class report"
	@echo "make sync       strip notebooks, rewrite Colab badges/setup cells from pyproject.toml"
	@echo "make bench      IMDB models of notebook 05 on the official split (IMDB=<archive or folder>)"
	@echo "make lint       ruff"
	@echo "make clean      remove submitted/, autograded/, feedback/, gradebook.db (asks nothing!)"

$(STAMP): requirements.txt requirements.lock pyproject.toml grader/pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Python 3.11 or newer is needed, found %d.%d: make PYTHON=python3.11 ..." % v[:2])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . -e ./grader
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/course demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=12

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

release: $(STAMP)
	$(BIN)/course release $(A)

autograde: $(STAMP)
	$(BIN)/course autograde $(A)

feedback: $(STAMP)
	$(BIN)/course feedback $(A)

grades: $(STAMP)
	$(BIN)/course grades

sync: $(STAMP)
	$(BIN)/course sync-notebooks

lint: $(STAMP)
	$(BIN)/ruff check src tests nbgrader_config.py

clean:
	rm -rf submitted autograded/*/ feedback gradebook.db grades.csv .autograde.lock

bench: $(STAMP)
	$(BIN)/course bench $(if $(IMDB),--imdb "$(IMDB)") $(if $(MODELS),--models $(MODELS))
