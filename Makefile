# Two entry points for a fresh machine with Python 3.11 and make: `make preview` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

.PHONY: preview test lint typecheck unit bench clean

# The venv is rebuilt whenever a requirements file is newer than the stamp.
$(VENV)/.stamp-runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

preview: $(VENV)/.stamp-runtime
	@for stack in $(STACKS); do \
	  echo "== pulumi preview (offline) $$stack"; \
	  $(PY) -m preview $$stack || exit 1; \
	done

lint: $(VENV)/.stamp-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.stamp-dev
	$(PY) -m mypy .

unit: $(VENV)/.stamp-dev
	$(PY) -m pytest -q -n 2

test: lint typecheck unit

bench: $(VENV)/.stamp-dev
	$(PY) benchmarks/preview_speed.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
