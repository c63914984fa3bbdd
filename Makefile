# One-command set-up: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install test lint typecheck unit demo clean

# Exact versions, each file checked against its hash: requirements-test.lock (runtime + test + dev) here,
# requirements.lock (runtime) in the Docker image. `pip check` catches a lock older than pyproject.toml.
$(STAMP): pyproject.toml requirements-test.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-test.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@$(BIN)/python -m pip check --disable-pip-version-check || { \
	  echo "make install: requirements-test.lock does not satisfy pyproject.toml: run make lock" >&2; exit 1; }
	touch $(STAMP)

install: $(STAMP)

# Refreshes both locks from pyproject.toml for Python 3.11 (run it on 3.11), with pip-tools in its own venv.
# Pins still allowed are kept: `make lock LOCK_ARGS=--upgrade` moves everything to the newest release,
# LOCK_ARGS="--upgrade-package httpx" one package. The test lock keeps the runtime lock's versions.
TOOLS_VENV ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(TOOLS_VENV)/bin/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	touch $(TOOLS_STAMP)

.PHONY: lock
lock: $(TOOLS_STAMP)
	@$(TOOLS_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and \
	  "make lock: the locks are for Python 3.11; run it with one (PYTHON=python3.11 and rm -r $(TOOLS_VENV))")'
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra test --extra dev -c requirements.lock -o requirements-test.lock pyproject.toml

# Style, lint and the layering: what CI checks first (.ci/run). `pre-commit install` runs ruff on each commit.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy over streams/ and examples/ as [tool.mypy] says: lenient everywhere, --strict for the pure modules.
typecheck: install
	$(BIN)/mypy

# The unit tests of code that needs no server, socket, subprocess, broker or Faust: a few seconds, for
# every edit. A new test file of that kind goes here too; make test runs every test, these included.
PURE_TESTS := addresses backfill batches book bootstrap control control_auth deadletter domain_commands \
	domain_summary due events fast_schema_check gate_and_breakers offset_order policy profile_shares rdap_policy rows schedule \
	settings whois_dates whois_policy whois_servers wire_values
unit: install
	$(BIN)/python -m pytest $(PURE_TESTS:%=tests/unit/test_%.py)

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: install
	@$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

demo: install
	$(BIN)/lapsewatch demo

clean:
	rm -rf $(VENV) lapsewatch-data .pytest_cache *.egg-info

# Measurements, not tests (see BENCHMARKS.md): about 15 minutes on 2 cores. `make bench ONLY="ingest checks"` picks some.
.PHONY: bench
bench: install
	$(BIN)/python -m bench $(ONLY)

# The soak (BENCHMARKS.md, Soak): LAPSEWATCH_SOAK_SECONDS (600) of mixed account events against misbehaving RDAP
# registries, with a worker restart and a kill -9; about 11 minutes in all. Exits non-zero on a missed or false lapse.
# Not part of `make bench`; `make bench ONLY=soak` runs it too.
.PHONY: soak
soak: install
	$(BIN)/python -m bench soak
