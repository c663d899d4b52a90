# The two commands: `make run` and `make test`. Everything else here serves them.
VENV    ?= .venv
BIN     := $(VENV)/bin
HOST    ?= 127.0.0.1
PORT    ?= 8000
STAMP   := $(VENV)/.installed

.PHONY: run test venv lint clean

$(STAMP): pyproject.toml requirements.lock
	@PY=$$(scripts/find-python) || exit 1; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

## run: install, migrate, load the demo street and serve it on http://$(HOST):$(PORT)
run: $(STAMP)
	$(BIN)/jiedao migrate --noinput
	$(BIN)/jiedao collectstatic --noinput --verbosity 0
	$(BIN)/jiedao demo
	$(BIN)/jiedao serve --host $(HOST) --port $(PORT)

## test: the whole suite (DATABASE_URL=postgres://… runs it on PostgreSQL)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check jiedao tests bench

clean:
	rm -rf $(VENV)
