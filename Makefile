# The two commands of the README, and the targets behind them. `make help` lists them.
# Every target installs what it needs (virtual environment, packages, Kafka jars) and is safe to run twice.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EGOV   := $(BIN)/egov
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install browser demo test unit integration bench bench-quick chaos chaos-cluster lint format typecheck kafka-start kafka-stop kafka-status clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create the virtual environment and install the project, the Kafka jars and Keycloak
	$(EGOV) kafka fetch
	$(EGOV) idp fetch

browser: ## Headless Chromium from the OS packages, for the dashboard test (installed if root may apt-get)
	@infra/browser/ensure-chromium.sh

demo: install ## Start a local Kafka broker and every service, play the scenario, print the summary, stop
	$(EGOV) demo

test: install browser ## Lint and type-check, then the whole suite (unit, handler and integration tests; a real broker)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

unit: $(STAMP) ## Only the fast tests that need no broker (unit tests, and handler tests on the fake runtime)
	$(BIN)/python -m pytest tests/unit tests/handlers

integration: install browser ## Only the tests that talk to a real broker
	$(BIN)/python -m pytest tests/integration

$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@touch $(VENV)/.bench

bench: install $(VENV)/.bench ## The benchmark beside a raw Kafka client (about 25 min; bench/results/latest.json, latency.png)
	$(BIN)/python -m bench

bench-quick: install $(VENV)/.bench ## The benchmark's quick mode (under two minutes of load)
	$(BIN)/python -m bench --quick

chaos: install ## Faults under load on one broker: each service killed and restarted, then the broker (about 8 min)
	$(EGOV) chaos run --plan services

chaos-cluster: install ## The same on a three-node cluster, two workers per service, then a worker of each lost (about 45 min on two CPUs)
	$(EGOV) chaos run --plan services --brokers 3 --workers 2
	$(EGOV) chaos run --plan cluster --brokers 3 --workers 2

lint: $(STAMP) ## ruff lint and format check, and the import layers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy on the shared packages and the services
	$(BIN)/mypy

kafka-start: install ## Start the local jar broker in the background
	$(EGOV) kafka start

kafka-stop: $(STAMP) ## Stop the local jar broker
	$(EGOV) kafka stop

kafka-status: $(STAMP) ## Is the local broker running and answering?
	$(EGOV) kafka status

clean: ## Stop the broker and the identity provider, remove local state (.egov/), the venv and fetched jars
	-[ -x $(EGOV) ] && $(EGOV) kafka stop
	-[ -x $(EGOV) ] && $(EGOV) idp stop
	rm -rf .egov $(VENV) infra/kafka/libs infra/keycloak/dist infra/keycloak/target
