# Lesson 5: attention and transformers for NLP. Every command a person types.
# First use creates .venv with the pinned versions (requirements.txt + requirements.lock) and
# the system tools grading needs (bubblewrap; PostgreSQL for its test), see `make setup`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# make autograde A=01_tokenization STUDENT=ana FORCE=1 WORKERS=2 SCHEDULER=tcp://host:8786
A ?=
STUDENT ?=
FORCE ?=
WORKERS ?=
SCHEDULER ?=
# make bench IMDB=/path/to/aclImdb_v1.tar.gz (or an extracted folder); default: setting/download
IMDB ?=
MODELS ?=
# make test's pytest workers: one more than the cores (while one waits for a kernel, a browser
# or a timeout, the others use its core; 2 cores: 3 workers 6:11-6:41, 2 workers 6:37, and
# 7:10 against 7:35 before the tests' students' environment was kept; 4 workers no faster),
# at most 8 (each worker's process, template and kernels take 1-1.5 GB); the cores this
# process may use, whatever OMP_NUM_THREADS says (nproc would follow it)
TEST_WORKERS ?= $(shell n=$$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1); \
	[ "$$n" -gt 7 ] && n=7; echo $$((n + 1)))

GRADING_FLAGS = $(foreach s,$(STUDENT),--student $(s)) $(if $(FORCE),--force) \
	$(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

.PHONY: help setup system demo test test-fast lint release autograde feedback grades sync \
	clean bench bench-grading hub student-env test-student-env export similarity

help:
	@echo "make demo           the whole nbgrader cycle on sample submissions (the main job)"
	@echo "make test           the project's test suite (everything, 6-13 min on 2 cores)"
	@echo "make test-fast      the tests that start no kernel (~1 min)"
	@echo "make hub            JupyterHub + ngshare (.venv-hub) and its proxy (hub/node_modules):"
	@echo "                    the authenticated exchange's test, and the recipe of a course hub"
	@echo "make student-env PREFIX=/opt/lesson5   the students' environment for a hub, readable"
	@echo "                    by every user: attention_course, the notebooks' pins, nbgrader's"
	@echo "                    client, JupyterLab; never the grader (EXCHANGE=folder or NGSHARE=url)"
	@echo "make lint           ruff check + ruff format --check"
	@echo "make release        nbgrader generate_assignment -> release/ (commit the result)"
	@echo "make autograde      grade new or changed submissions: sandboxed, in parallel"
	@echo "                    (A=assignment STUDENT=id FORCE=1 WORKERS=n SCHEDULER=address)"
	@echo "make feedback       nbgrader generate_feedback (hidden tests scrubbed)"
	@echo "                    (held back while a written answer waits: ALLOW_PENDING=1)"
	@echo "make grades         grades.csv, score table, reports/class_report.html"
	@echo "make export         reports/canvas_grades.csv + moodle_grades.csv for the LMS"
	@echo "                    (MAP=lms.toml: course ids -> LMS ids; ALLOW_PENDING=1)"
	@echo "make similarity A=assignment   similar submissions (copydetect) ->"
	@echo "                    reports/similarity_<assignment>.html (THRESHOLD=0.5)"
	@echo "make sync           strip notebooks, rewrite Colab badges/setup cells from pyproject.toml"
	@echo "make bench          IMDB models of notebook 05 on the official split (IMDB=<archive or folder>)"
	@echo "make bench-grading  grading speed of the sample submissions with 1 and 2 workers"
	@echo "                    (RUNS=n: medians of n runs; STUDENTS=n students, default 2),"
	@echo "                    and what the sandbox adds to one notebook"
	@echo "make clean          remove submitted/, autograded/, feedback/, gradebook.db (asks nothing!)"

# System tools: bubblewrap (the grading sandbox) and PostgreSQL (its gradebook test). As root
# with apt-get they are installed here; otherwise the message says what to install.
system:
	@$(PYTHON) tools/system_packages.py

$(STAMP): requirements.txt requirements.lock pyproject.toml grader/pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11, 5) else "Python 3.11.5 or newer is needed, found %d.%d.%d: make PYTHON=python3.11 ..." % v[:3])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . -e ./grader
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d && cp grader/jupyter-config/jupyter_server_config.d/attention_grader.json $(VENV)/etc/jupyter/jupyter_server_config.d/  # formgrader escapes its pages (an editable install skips data-files)
	@touch $@

setup: system $(STAMP)

# The hub side of the ngshare exchange, apart from the course's .venv (ngshare 0.6.0 needs
# SQLAlchemy 1.4, see requirements-hub.txt): JupyterHub and ngshare in .venv-hub, the
# configurable-http-proxy (Node.js >= 20, npm) in hub/node_modules. ~2 min once; `make test`
# needs it (tests/test_ngshare.py runs a real hub).
HUB_STAMP := .venv-hub/.installed-stamp
CHP_STAMP := hub/node_modules/.installed-stamp

$(HUB_STAMP): requirements-hub.txt
	$(PYTHON) -m venv .venv-hub
	.venv-hub/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-hub.txt
	@touch $@

$(CHP_STAMP): hub/package.json hub/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "error: make hub needs \
	Node.js >= 20 and npm (the hub's proxy, configurable-http-proxy): install them, e.g. \
	https://nodejs.org or NodeSource's nodejs package (Debian 12's nodejs is 18)" >&2; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { \
	echo "error: make hub needs Node.js >= 20 for configurable-http-proxy 5.3.0, found \
	$$(node --version)" >&2; exit 1; }
	cd hub && npm ci --no-audit --no-fund
	@touch $@

hub: $(HUB_STAMP) $(CHP_STAMP)

# The students' servers on a hub run this environment (tools/student_env.py): a venv every
# user can read, with its own copy of the interpreter when the one running make is not
# readable by others (pyenv under /root). Re-running updates it in place (~30 s; ~2 min new).
# EXCHANGE=/srv/nbgrader/exchange or NGSHARE=http://<hub>/services/ngshare writes the
# students' nbgrader_config.py (with the course id) into it.
student-env:
	@test -n "$(PREFIX)" || { echo "error: make student-env needs PREFIX=<folder every \
	user can read>, e.g. make student-env PREFIX=/opt/lesson5" >&2; exit 1; }
	$(PYTHON) tools/student_env.py "$(PREFIX)" $(if $(EXCHANGE),--exchange "$(EXCHANGE)") \
		$(if $(NGSHARE),--ngshare "$(NGSHARE)")

# The test suite's copy of it (tests/test_exchange_hub.py runs real students from it), in a
# folder under /tmp named in .test-student-env: built once per clone (~50 s), kept, updated
# in place when the pins, src/ or tools/student_env.py change, before the tests start.
test-student-env: setup
	$(BIN)/python tools/student_env.py --for-tests

demo: setup
	$(BIN)/course demo $(GRADING_FLAGS)

# PYTHONDONTWRITEBYTECODE is emptied for pytest and the processes it starts: where the
# environment sets it, pytest cannot keep the test modules it rewrites (their __pycache__,
# ignored by git), and each of its processes rewrote and compiled all of them again at every run
# (5.7 s of a core to collect, 2.6 s from the second run of a clone on; kernels set it again)
test: setup hub test-student-env
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=12

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

release: $(STAMP)
	$(BIN)/course release $(A)

autograde: setup
	$(BIN)/course autograde $(A) $(GRADING_FLAGS)

feedback: $(STAMP)
	$(BIN)/course feedback $(A) $(foreach s,$(STUDENT),--student $(s)) $(if $(ALLOW_PENDING),--allow-pending)

grades: $(STAMP)
	$(BIN)/course grades

export: $(STAMP)
	$(BIN)/course export $(if $(MAP),--map "$(MAP)") $(if $(ALLOW_PENDING),--allow-pending)

similarity: $(STAMP)
	@test -n "$(A)" || { echo "error: make similarity needs A=<assignment>" >&2; exit 1; }
	$(BIN)/course similarity $(A) $(if $(THRESHOLD),--threshold $(THRESHOLD))

sync: $(STAMP)
	$(BIN)/course sync-notebooks

clean:
	rm -rf submitted autograded/*/ autograded/.course-* feedback gradebook.db grades.csv \
		reports .autograde.lock

bench: $(STAMP)
	$(BIN)/course bench $(if $(IMDB),--imdb "$(IMDB)") $(if $(MODELS),--models $(MODELS)) $(if $(SEEDS),--seeds $(SEEDS))

bench-grading: setup
	$(BIN)/course bench-grading $(if $(RUNS),--runs $(RUNS)) $(if $(STUDENTS),--students $(STUDENTS))
	$(BIN)/course bench-sandbox
