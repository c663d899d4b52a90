# The two commands: `make run` and `make test`. Everything else here serves them.
VENV    ?= .venv
BIN     := $(VENV)/bin
HOST    ?= 127.0.0.1
PORT    ?= 8000
STAMP   := $(VENV)/.installed
# Front-end packages come from npm at build time and are served from our own static files.
ECHARTS := jiedao/front/static/vendor/echarts.min.js

.PHONY: run test venv static lint clean

$(STAMP): pyproject.toml requirements.lock
	@PY=$$(scripts/find-python) || exit 1; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

$(ECHARTS): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $(ECHARTS))
	cp node_modules/echarts/dist/echarts.min.js $(ECHARTS)

static: $(ECHARTS)

## run: install, migrate, load the demo street and serve it on http://$(HOST):$(PORT)
run: $(STAMP) $(ECHARTS)
	$(BIN)/jiedao migrate --noinput
	$(BIN)/jiedao collectstatic --noinput --verbosity 0
	$(BIN)/jiedao demo
	$(BIN)/jiedao serve --host $(HOST) --port $(PORT)

## test: the whole suite (DATABASE_URL=postgres://… runs it on PostgreSQL)
test: $(STAMP) $(ECHARTS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check jiedao tests bench

clean:
	rm -rf $(VENV) node_modules $(ECHARTS)
