# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP := $(VENV)/bin/pip
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepaudit-installed

.PHONY: install demo demo-quick test test-fast bench app clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PIP) install -q "$(TORCH_SPEC)" 2>&1 | grep -v "is ignored" || true
	$(PIP) install -q -e ".[dev]" 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import torch, captum, shap, lime, fairlearn, streamlit, audit, models, reports"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/deepaudit demo --out runs/demo

demo-quick: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/deepaudit demo --quick --out runs/demo-quick

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m benchmarks

app: $(STAMP)
	$(VENV)/bin/streamlit run app.py

clean:
	rm -rf $(VENV) runs out test-artifacts
