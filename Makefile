# Set-up and entry points. Every target creates .venv from the machine's python3 when it is missing.
# torch==2.13.0 is installed first: any other torch spec pulls several GB of CUDA wheels on CPU machines.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint clean

$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-base
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.stamp-base
	$(VENV)/bin/ttpose demo

test: $(VENV)/.stamp-test
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
