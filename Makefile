# recheckbot — `make run` starts the demo instance, `make test` runs the test suite.
# Both create the virtualenv on first use.

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: run test lint format bench fuzz docs image clean

$(BIN)/recheckbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/recheckbot
	$(BIN)/recheckbot run --demo

# pytest exits 5 when it collected no test: that is not a failure of the code under test.
test: $(BIN)/recheckbot
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# A longer property-based fuzz of every parser (tests/test_fuzz.py, 5000 examples each).
fuzz: $(BIN)/recheckbot
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py

lint: $(BIN)/recheckbot
	$(BIN)/ruff check bot commands tests benchmarks
	$(BIN)/ruff format --check bot commands tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(BIN)/recheckbot
	$(BIN)/ruff format bot commands tests benchmarks
	$(BIN)/ruff check --fix bot commands tests benchmarks

bench: $(BIN)/recheckbot
	@for b in benchmarks/*.py; do \
		case $$b in */__init__.py|*/_*.py) continue;; esac; \
		echo "== $$b"; $(BIN)/python -m benchmarks.$$(basename $$b .py) || exit 1; \
	done

# The configuration reference is generated from the settings model (a test keeps it current).
docs: $(BIN)/recheckbot
	$(BIN)/recheckbot config-reference > docs/configuration.md

image:
	podman build --format docker -t recheckbot -f Containerfile .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
