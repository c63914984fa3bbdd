# One-command set-up: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install test demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

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
