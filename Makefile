# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat settings.ini setup.py pyproject.toml | md5sum | cut -c1-10)
DEMO_DIR ?= runs/demo
PORT ?= 5006
# extra `medclip demo` options, e.g. DEMO_ARGS=--no-serve (stop after the evaluation and its headline)
DEMO_ARGS ?=

# Two cores: one BLAS thread per test worker; no hub, ever.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test demo browser sync-check clean-nbs

install: $(STAMP)

$(STAMP): settings.ini setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the exact torch pair that lies on disk here; anything looser pulls a new multi-GB build
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

# Debian's Chromium for the dashboard's browser tests (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install -y chromium'"; exit 1; fi; }

test: install browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Commit notebooks clean and in step with the library.
clean-nbs: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean && $(BIN)/nbdev_clean --fname nbs/90_dashboard.ipynb --clear_all 2>/dev/null; true

demo: install
	$(BIN)/medclip demo --out "$(DEMO_DIR)" --port "$(PORT)" $(DEMO_ARGS)
