# Two entry points for a fresh machine with Python 3.11 and make: `make preview` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# check-jsonschema and zizmor, which tests/pipelines runs on the CI files, in a venv of their own.
TOOLS := .tools/ci

.PHONY: preview test lint typecheck unit bench clean ci-tools

# The venv is rebuilt whenever a requirements file is newer than the stamp.
$(VENV)/.stamp-runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(TOOLS)/.stamp: requirements-ci-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-ci-tools.txt
	touch $@

ci-tools: $(TOOLS)/.stamp

# checkov, which tests/workloads runs on the rendered manifests, in a venv of its own: its pins clash with the
# program's (requirements-checkov.txt, every package pinned).
CHECKOV := .tools/checkov
$(CHECKOV)/.stamp: requirements-checkov.txt
	test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Azurite, Microsoft's Blob storage emulator (npm), which tests/backup starts on loopback: every package pinned by
# tools/azurite/package-lock.json, installed with `npm ci` into .tools/azurite.
AZURITE := .tools/azurite
$(AZURITE)/.stamp: tools/azurite/package.json tools/azurite/package-lock.json
	mkdir -p $(AZURITE)
	cp tools/azurite/package.json tools/azurite/package-lock.json $(AZURITE)/
	cd $(AZURITE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Every stack in one process: a stack the others reference is deployed offline once.
preview: $(VENV)/.stamp-runtime
	$(PY) -m preview --all

lint: $(VENV)/.stamp-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.stamp-dev
	$(PY) -m mypy .

unit: $(VENV)/.stamp-dev $(TOOLS)/.stamp $(AZURITE)/.stamp $(CHECKOV)/.stamp
	$(PY) -m pytest -q -n 2

test: lint typecheck unit

bench: $(VENV)/.stamp-dev
	$(PY) benchmarks/preview_speed.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
