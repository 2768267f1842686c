# Firebreak: `make run` starts the portal on the embedded default; `make test` runs lint (with the
# import contracts in pyproject.toml), the type check and the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py
# Runtime data of the embedded default (SQLite file, broker folders, cache); settings read the same.
FIREBREAK_VAR_DIR ?= var
TYPED := incidents/services incidents/selectors.py incidents/policies.py incidents/events.py \
	incidents/guards.py incidents/subscribers.py portal/events.py \
	portal/auth.py portal/webhook_bodies.py portal/celery.py portal/timers.py portal/tasks.py portal/services.py \
	portal/idempotency.py portal/idempotency_tasks.py \
	portal/links.py portal/people.py portal/csv_safe.py portal/backoff.py portal/mail.py \
	portal/input_guard.py portal/api \
	portal/integrations postmortems \
	incidents/oncall incidents/alerting incidents/statuspage incidents/chat \
	incidents/runbooks incidents/health incidents/heartbeats

.PHONY: run test lint format typecheck bench demo migrate vardirs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

vardirs:
	@mkdir -p $(FIREBREAK_VAR_DIR)/broker/out $(FIREBREAK_VAR_DIR)/broker/processed \
		$(FIREBREAK_VAR_DIR)/cache

migrate: $(STAMP) vardirs
	$(MANAGE) migrate --noinput

demo: migrate
	$(MANAGE) demo_data

# Web on 127.0.0.1:8000, one worker on every queue and beat, in the foreground; Ctrl-C stops all.
run: demo
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONUNBUFFERED=1 $(BIN)/honcho start -f Procfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) lint typecheck
	$(BIN)/pytest

typecheck: $(STAMP)
	$(BIN)/mypy $(TYPED)

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Runtime data and caches; the virtualenv stays (remove .venv by hand to reinstall).
clean:
	rm -rf $(FIREBREAK_VAR_DIR) staticfiles .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
