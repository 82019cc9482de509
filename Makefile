# The two commands: `make run` and `make test`. Both create .venv and install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-fast install install-dev test-deps lint typecheck pytest bench lock clean

run: install
	$(BIN)/narration-desk run

test: install-dev test-deps lint typecheck pytest

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# requirements*.txt are the locks (every package pinned); the .in files list what we depend on directly.
$(VENV)/.runtime: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

test-deps:
	scripts/test-deps.sh

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's worker processes (experimental in mypy 2, on since 2.0's default local partial types):
# a fresh clone's check went from 33 s to 17 s on 2 cores; a warm cache takes about a second either way.
typecheck: install-dev
	$(BIN)/mypy --num-workers auto db workers dashboard tests bench

# Every test process imports ~150 of our modules and pytest rewrites every test module's asserts:
# with PYTHONDONTWRITEBYTECODE set (as on the shared machine) none of that was kept, and each xdist
# worker compiled it all again, ~3 s of CPU. The tests write __pycache__ (ignored by git) whatever it says.
TEST_ENV := PYTHONDONTWRITEBYTECODE=

# The fast tests on every core first (minutes become one), then the slow ones on one pytest-xdist
# worker more than there are cores: they start workers, dashboards and Chromium and wait on them, and
# at one xdist worker per core the cores stood idle a third of the time (2 cores: 4 min 39 s on two,
# 3 min 30 s on three, 4 min 28 s on four). Each xdist worker has its own database and Redis
# database; the few tests where the local voice really computes share one (tests/workers_env.py
# LOCAL_VOICE). Exit 5 is "none selected".
SLOW_TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
pytest: install-dev
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(TEST_ENV) $(BIN)/python -m pytest -m slow -n $(SLOW_TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The inner loop: the tests that start no process (no worker, dashboard, browser or command: the
# fixtures in tests/conftest.py SLOW_FIXTURES mark a test slow), on the same PostgreSQL and Redis,
# spread over one pytest-xdist worker per core (each with its own database and Redis database).
# TEST_WORKERS=0 runs them in this process: quicker for a handful of tests (`-k ...`).
TEST_WORKERS ?= auto
test-fast: install-dev
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Benchmarks print ratios against baselines measured in the same run; BENCH=worker|long-story|local-voice|library|monitoring|splitter|qc|narration-memory|mastering|bulk|takeover|seeding|metrics|object-storage|connections|live-upgrade|many-hosts|dashboard-load (LOAD_SESSIONS, LOAD_SECONDS: see bench/dashboard_load.py).
bench: install-dev
	$(BIN)/python -m bench $(BENCH)

lock:
	scripts/lock.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
