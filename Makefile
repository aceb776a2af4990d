# Everything a fresh machine with Python 3.11, pip and git needs: `make demo`, `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# `make venv`: just the environment (.venv), for the tutorial and the party commands.
.PHONY: all venv demo test test-fast lint typecheck unit unit-fast heavy audit quality bench browser clean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The full suite, slow tests included (CI runs this through .ci/run), on up to
# four worker processes; a test file's tests share one worker (module fixtures).
XDIST := -n auto --maxprocesses=4 --dist loadfile
unit: $(STAMP)
	$(BIN)/pytest $(XDIST)

# The inner loop: everything but the end-to-end runs marked slow.
unit-fast: $(STAMP)
	$(BIN)/pytest $(XDIST) -m "not slow"

# The runs too long for make test's four minutes, which CI runs after it: two weeks
# of a panel on a 100,000-voter world (where the stated 95% intervals can be checked
# against the truth), the tutorial replayed, state_scale's exchange, the Spark engine,
# the linkage suite's script.
heavy: $(STAMP)
	$(BIN)/pytest $(XDIST) --heavy -m heavy

test: lint typecheck unit

test-fast: lint typecheck unit-fast

demo: $(STAMP)
	$(BIN)/narwhal demo --out build/demo

audit: $(STAMP)
	$(BIN)/python scripts/audit.py build/demo

quality: $(STAMP)
	$(BIN)/python scripts/linkage_quality.py --dataset febrl4
	$(BIN)/python scripts/linkage_quality.py --dataset febrl4 --no-ssn

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

browser: $(STAMP)
	$(BIN)/pytest tests/report/test_browser.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
