# The two commands of the README:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= data/ml-latest-small
OUT    ?= artifacts/latentlens.duckdb
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-fast lint docs docs-serve install browser build serve mlflow-ui notebooks-strip deploy deploy-dry-run smoke audit clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt --upgrade pip setuptools  # not the interpreter's old setuptools (known CVEs)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[build,spark,deep,test,dev]'
	@touch $(STAMP)

install: $(STAMP)

## make run: install, build the artifact from the embedded data, then serve the API on 127.0.0.1
run: $(STAMP)
	$(VENV)/bin/latentlens build --data $(DATA) --out $(OUT)
	$(VENV)/bin/latentlens serve --db $(OUT) --host $(HOST) --port $(PORT)

## make test: install if needed (Debian's chromium too, for the page's browser tests), then the whole suite
test: $(STAMP) browser
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=25

## make test-fast: the quick loop: every test that needs no build, Spark, browser, server or Docker (tiers: tests/conftest.py)
FAST := not (build or spark or browser or server or docker or slow)
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "$(FAST)"

## the gates the suite also runs: ruff over the whole tree, mypy over the latentlens package (pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

## the documentation site: build it into site/ (strict: a broken link fails), or serve it on 127.0.0.1:8001
docs: $(STAMP)
	$(PY) -m mkdocs build --strict

docs-serve: $(STAMP)
	$(PY) -m mkdocs serve --dev-addr 127.0.0.1:8001

## the headless browser the page's tests drive: Debian's chromium, installed when missing and we are root
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "note: apt-get could not install chromium: the browser tests will be skipped"; \
	else echo "note: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get): the browser tests will be skipped"; fi

build: $(STAMP)
	$(VENV)/bin/latentlens build --data $(DATA) --out $(OUT)

serve: $(STAMP)
	$(VENV)/bin/latentlens serve --db $(OUT) --host $(HOST) --port $(PORT)

mlflow-ui: $(STAMP)
	$(VENV)/bin/latentlens mlflow-ui

## strip notebooks/*.ipynb for a commit: no outputs, no execution counts (tests/test_notebooks.py checks it)
notebooks-strip: $(STAMP)
	$(PY) notebooks/strip.py

## deploy to AWS (needs the SAM CLI, python3.12 and credentials; see README "Deploy")
deploy: $(STAMP)
	$(PY) -m infra.deploy $(DEPLOY_ARGS)

deploy-dry-run: $(STAMP)
	$(PY) -m infra.deploy --dry-run $(DEPLOY_ARGS)

## run the package `sam build` made, without Docker
smoke: $(STAMP)
	$(PY) -m infra.smoke

## audit the Lambda's runtime pins for known vulnerabilities (needs PyPI's JSON API or OSV)
audit: $(STAMP)
	$(PY) -m tests.reliability.audit infra/lambda/requirements.txt

clean:
	rm -rf $(VENV) artifacts mlflow.db mlflow.db.lock mlruns .pytest_cache .mypy_cache .ruff_cache site
