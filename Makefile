# Two commands from a fresh machine (see README):
#   make demo   create .venv from pinned versions, then generate samples, sweep, print rankings
#   make test   the same install, then lint, type-check, the whole test suite and an asv smoke run
# Benchmarks (README, "Benchmarks with asv"): make bench, make dashboard, make preview
# Python >= 3.12 (hdmf-zarr 0.14 and zarr 3.4 need it): PYTHON if given, else the first of
# python3.12, python3, python3.13 that runs and is recent enough, else pyenv's 3.12 (whose shim
# fails with "command not found" unless a 3.12 version is selected).
PY_OK  = -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3.12 python3 python3.13 \
            $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 \
            $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12; do \
            $$p $(PY_OK) && { command -v $$p 2>/dev/null || echo $$p; } && break; done)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: install system-deps demo test lint pytest asv-smoke bench dashboard preview clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" && $(PYTHON) $(PY_OK) \
	  || { echo "layoutbench needs Python >= 3.12 (found: $(or $(PYTHON),none)); install python3.12 or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@$(BIN)/python $(PY_OK) || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/layoutbench demo

lint: $(STAMP)
	$(BIN)/ruff check layoutbench tests benchmarks
	$(BIN)/mypy layoutbench

pytest: $(STAMP) system-deps
	$(BIN)/pytest -q

test: lint pytest asv-smoke

# System packages the tests use (a real HTTP server, nginx), installed when missing and
# possible (root with apt-get); otherwise the tests that need them are skipped, except in CI
# (.ci/run sets LAYOUTBENCH_REQUIRE_NGINX=1, and they fail).
SYSTEM_PACKAGES := nginx-light
system-deps:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(SYSTEM_PACKAGES) (apt-get)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null \
	      || { apt-get update -q >/dev/null && \
	           DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null; }; \
	  else echo "note: nginx not found; its tests are skipped (apt-get install nginx-light)"; fi; }

# asv in the project's environment; results are recorded against the checked-out commit.
ASV        := $(BIN)/asv
ASV_RUN    := $(ASV) run --python=same --set-commit-hash $$(git rev-parse HEAD)
ASV_STOP   := $(BIN)/python -c 'from layoutbench.run.benchkit import stop; stop()'
SMOKE_MACHINE ?= ci-smoke
BENCH_MACHINE ?= $(shell hostname)

# Every suite once, on small samples, with a fixed machine name; fails if any benchmark fails.
asv-smoke: $(STAMP)
	$(ASV) machine --yes --machine $(SMOKE_MACHINE) >/dev/null
	$(ASV) check --python=same
	LAYOUTBENCH_BENCH_SIZE=small $(ASV_RUN) --quick --machine $(SMOKE_MACHINE); \
	  status=$$?; $(ASV_STOP); exit $$status

# The real thing: demo-size samples, LAYOUTBENCH_PROFILE (default same-region).
bench: $(STAMP)
	$(ASV) machine --yes --machine $(BENCH_MACHINE) >/dev/null
	$(ASV_RUN) --machine $(BENCH_MACHINE); status=$$?; $(ASV_STOP); exit $$status

dashboard: $(STAMP)
	$(ASV) publish

preview: dashboard
	$(ASV) preview

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
