# Two commands matter: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Rasa 3.6 runs on Python 3.8-3.10: the first python3.10 that really runs, from PATH,
# then pyenv's versions (a pyenv shim on PATH may exist without 3.10 selected).
ifndef PYTHON310
PYTHON310 := $(firstword $(foreach candidate,\
	$(shell command -v python3.10 2>/dev/null) \
	$(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) \
	$(wildcard /usr/local/bin/python3.10 /usr/bin/python3.10),\
	$(shell $(candidate) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && echo $(candidate))))
endif
VENV := .venv
BIN := $(VENV)/bin
RASA := $(BIN)/rasa
MODEL := models/checkout.tar.gz
# The catalog the bot sells from (CATALOG_PATH, from the environment or .env, as at run
# time): its product names are training data (nlu/catalog_data.py), so an edit retrains.
CATALOG_FILE := $(or $(CATALOG_PATH),$(shell sed -n 's/^CATALOG_PATH=//p' .env 2>/dev/null | tail -n 1 | tr -d "\"'"),catalog.yml)
TRAINING_INPUTS := config.yml domain.yml $(CATALOG_FILE) $(wildcard nlu/*.py) $(shell find data -name '*.yml' 2>/dev/null)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help install run train shell test validate browser pytest conversation-tests nlu-report lint lock inbox reconcile bench fuzz clean print-python

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.lock
	@if [ -z "$(PYTHON310)" ]; then \
		echo "Python 3.10 not found. Install it (e.g. 'pyenv install 3.10') or run 'make PYTHON310=/path/to/python3.10'."; exit 1; fi
	@[ -x $(BIN)/python ] || $(PYTHON310) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	@touch $@

install: $(BIN)/.installed ## create .venv and install the locked dependencies

$(MODEL): $(BIN)/.installed $(TRAINING_INPUTS)
	CATALOG_PATH=$(CATALOG_FILE) $(RASA) train --fixed-model-name checkout --out models
	@touch $@

train: $(MODEL) ## train the model when data, domain, config or the catalog changed

run: $(MODEL) ## start the bot (sandbox without credentials; RASA_SERVERS=N for several Rasa servers)
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	if [ "$${RASA_SERVERS:-1}" != 1 ] || [ "$${SANIC_WORKERS:-1}" != 1 ]; then exec scripts/run_cluster.sh; \
	else exec scripts/run.sh server; fi

shell: $(MODEL) ## chat with the bot in this terminal
	@scripts/run.sh shell

validate: $(BIN)/.installed ## check the training data and domain (every reply in every language)
	CATALOG_PATH=$(CATALOG_FILE) $(RASA) data validate --fail-on-warnings
	$(BIN)/python scripts/check_languages.py

browser: ## Debian's Chromium for the browser test (apt-get, only when missing and root)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; \
	else echo "No /usr/bin/chromium and not root: the browser test will skip (apt-get install chromium)."; fi

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest

conversation-tests: $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests --fail-on-prediction-errors --out results

test: validate $(MODEL) browser pytest conversation-tests ## every check: validate, train, pytest, conversation tests

nlu-report: $(BIN)/.installed ## cross-validate the NLU data: per-intent and per-language scores, macro F1
	$(BIN)/python scripts/nlu_cross_validate.py -- --folds 5 --successes --out results/nlu
	$(BIN)/python scripts/nlu_report.py results/nlu

inbox: $(BIN)/.installed ## inbox and outbox health, parked items; RETRY="ID ..."|all retries them, RESEND="ID ..."|all sends given-up messages again
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	$(BIN)/python -m server.inbox_cli $(if $(RETRY),--retry $(RETRY)) $(if $(RESEND),--resend $(RESEND))

reconcile: $(BIN)/.installed ## check pending payments with Razorpay once and send missing confirmations
	$(BIN)/python -m server.reconcile_cli --once

bench: $(MODEL) ## run the benchmarks (figures in bench/README.md; check `uptime` first)
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/whatsapp_bench.py
	$(BIN)/python bench/durability_bench.py
	$(BIN)/python bench/scaling_bench.py
	$(BIN)/python bench/catalog_bench.py

FUZZ_SECONDS ?= 600
fuzz: $(BIN)/.installed ## fuzz both webhooks with signed bodies for FUZZ_SECONDS (600); FUZZ_SEED=N replays a round
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(if $(FUZZ_SEED),FUZZ_SEED=$(FUZZ_SEED)) \
		$(BIN)/python -m pytest -p no:warnings -q -s --show-capture=no -k signed_ tests/test_fuzz_webhooks.py

lint: $(BIN)/.installed ## static checks on the Python code
	$(BIN)/ruff check actions channels commerce language nlu orders gateways durable handover sandbox server tests scripts bench

lock: ## re-resolve requirements.txt into requirements.lock
	rm -rf .venv-lock && $(PYTHON310) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip && .venv-lock/bin/pip install --quiet -r requirements.txt
	.venv-lock/bin/pip freeze --exclude-editable > requirements.lock && rm -rf .venv-lock

clean: ## remove trained models and test results
	rm -rf models results .pytest_cache .hypothesis

print-python: ## show which Python 3.10 make found
	@echo "$(PYTHON310)"
