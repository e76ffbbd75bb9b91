# Two commands from a fresh machine (see README):
#   make demo   create .venv from pinned versions, then generate samples, sweep, print rankings
#   make test   the same install, then lint, type-check, the whole test suite and an asv smoke run
# Benchmarks (README, "Benchmarks with asv"): make bench, make dashboard, make preview
# The published report of a demo-size run (README, "Reports and dashboards"): make report
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
# The lock's pins are installed by uv (the same versions, about 10x faster than pip: 9 s against
# 114 s here), itself installed by pip at this exact version; pip alone if uv cannot be had.
UV_VERSION := 0.13.9
define install_lock
	$(1)/bin/python -m pip --disable-pip-version-check --quiet install uv==$(UV_VERSION) \
	  && $(1)/bin/uv --version >/dev/null 2>&1 \
	  && $(1)/bin/uv pip install --quiet --python $(1)/bin/python $(2) \
	  || $(1)/bin/python -m pip --disable-pip-version-check --quiet install $(2)
endef

.PHONY: install system-deps neuroconv-env demo test lint pytest asv-smoke bench dashboard preview report clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" && $(PYTHON) $(PY_OK) \
	  || { echo "layoutbench needs Python >= 3.12 (found: $(or $(PYTHON),none)); install python3.12 or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@$(BIN)/python $(PY_OK) || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(call install_lock,$(VENV),-r requirements.lock)
	$(call install_lock,$(VENV),--no-deps --no-build-isolation -e .)
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/layoutbench demo

lint: $(STAMP)
	$(BIN)/ruff check layoutbench tests benchmarks
	$(BIN)/mypy layoutbench

# one worker per core (pytest-xdist): every server fixture takes a free port of its own
pytest: $(STAMP) system-deps neuroconv-env
	$(BIN)/pytest -q -n auto --durations=15

# neuroconv's own environment (neuroconv 0.10 needs zarr 2; layoutbench has zarr 3), in which
# tests/test_neuroconv.py loads `recommend --format neuroconv` into neuroconv itself.
NEUROCONV_VENV  := .venv-neuroconv
NEUROCONV_STAMP := $(NEUROCONV_VENV)/.installed-$(shell cat requirements-neuroconv.lock | cksum | cut -d' ' -f1)
neuroconv-env: $(NEUROCONV_STAMP)

$(NEUROCONV_STAMP): requirements-neuroconv.lock
	@$(NEUROCONV_VENV)/bin/python $(PY_OK) \
	  || { rm -rf $(NEUROCONV_VENV) && $(PYTHON) -m venv $(NEUROCONV_VENV); }
	$(call install_lock,$(NEUROCONV_VENV),--no-deps -r requirements-neuroconv.lock)
	@rm -f $(NEUROCONV_VENV)/.installed-* && touch $@

test: lint pytest asv-smoke

# System packages the tests use, installed when missing and possible (root with apt-get):
# a real HTTP server (nginx) and a real browser (Debian's Chromium, driven by Playwright from
# requirements.lock; no browser download). Otherwise the tests that need them are skipped,
# except in CI (.ci/run sets LAYOUTBENCH_REQUIRE_NGINX=1 and LAYOUTBENCH_REQUIRE_BROWSER=1,
# and they fail).
SYSTEM_PACKAGES := nginx-light chromium
system-deps:
	@missing=""; \
	{ command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; } || missing=" nginx-light"; \
	{ command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium; } \
	  || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (apt-get)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null \
	      || { apt-get update -q >/dev/null && \
	           DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	  else echo "note:$$missing not found; the tests that need them are skipped" \
	            "(apt-get install $(SYSTEM_PACKAGES))"; fi; \
	fi

# asv in the project's environment; results are recorded against the checked-out commit.
ASV        := $(BIN)/asv
ASV_RUN    := $(ASV) run --python=same --set-commit-hash $$(git rev-parse HEAD)
ASV_STOP   := $(BIN)/python -c 'from benchmarks._kit import stop; stop()'
SMOKE_MACHINE ?= ci-smoke
BENCH_MACHINE ?= $(shell hostname)

# Every suite once, on small samples, with a fixed machine name; fails if any benchmark fails.
# A smoke run proves the suites run, not how fast: loopback (no emulated latency to sleep
# through) and the timing benchmarks only (the request, byte and amplification tracks measure
# the same cases the same way, and tests/test_benchkit.py checks their figures and runs
# `asv check`, which imports them all).
asv-smoke: $(STAMP)
	$(ASV) machine --yes --machine $(SMOKE_MACHINE) >/dev/null
	LAYOUTBENCH_BENCH_SIZE=small LAYOUTBENCH_PROFILE=loopback $(ASV_RUN) --quick \
	  --machine $(SMOKE_MACHINE) --bench 'time_pattern'; \
	  status=$$?; $(ASV_STOP); exit $$status

# The real thing: demo-size samples, LAYOUTBENCH_PROFILE (default same-region).
bench: $(STAMP)
	$(ASV) machine --yes --machine $(BENCH_MACHINE) >/dev/null
	$(ASV_RUN) --machine $(BENCH_MACHINE); status=$$?; $(ASV_STOP); exit $$status

# asv's page loads jQuery, flot and Bootstrap from CDNs; the published dashboard serves them
# itself, installed from the npm registry at build time (exact versions in
# layoutbench/reporting/asv_offline.py; needs npm), so it works offline.
ASV_HTML   := reports/asv/html
NPM_PREFIX := build/asv-vendor
dashboard: $(STAMP)
	$(ASV) publish
	$(BIN)/python -m layoutbench.reporting.asv_offline $(ASV_HTML) --npm-prefix $(NPM_PREFIX)

preview: dashboard
	$(ASV) preview

# The published report of a demo-size run, beside the asv results (README, "Reports and
# dashboards"): the demo's samples, each recommended for and swept with its recommendation (so
# cards and charts are one run), its printed tables (demo.txt), the site in reports/report/ and
# its inputs in reports/report-data/, the README's screenshot (docs/report.png) and the
# verdict cards of a large and a small movie (docs/verdict-*.png), taken in Chromium.
REPORT_RUN     := build/report-run
REPORT_DATA    := reports/report-data
REPORT_SAMPLES := ophys ecephys ophys-small
report: $(STAMP) system-deps
	@mkdir -p $(REPORT_RUN)
	$(BIN)/layoutbench demo -o $(REPORT_RUN) > $(REPORT_RUN)/demo.txt
	@rm -rf $(REPORT_DATA) && mkdir -p $(REPORT_DATA)
	cp $(REPORT_RUN)/demo.txt $(REPORT_DATA)/
	for name in $(REPORT_SAMPLES); do \
	  cp $(REPORT_RUN)/$$name.parquet $(REPORT_RUN)/$$name.recommendation.json $(REPORT_DATA)/ \
	  || exit 1; \
	done
	$(BIN)/layoutbench report $(foreach n,$(REPORT_SAMPLES),$(REPORT_DATA)/$(n).parquet) \
	  $(foreach n,$(REPORT_SAMPLES),--recommendation $(REPORT_DATA)/$(n).recommendation.json) \
	  --title "layoutbench: demo-size run" -o reports/report --overwrite
	$(BIN)/python tests/browser.py reports/report/index.html docs/report.png
	$(BIN)/python tests/browser.py reports/report/index.html docs/verdict-large.png \
	  --element '.card >> nth=0'
	$(BIN)/python tests/browser.py reports/report/index.html docs/verdict-small.png \
	  --element '.card >> nth=2'

clean:
	rm -rf $(VENV) $(NEUROCONV_VENV) demo-output build .pytest_cache .mypy_cache .ruff_cache
