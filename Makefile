# The README's commands. `make test` and `make demo` build .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Tests and the demo never reach a model hub unless asked.
export HF_HUB_OFFLINE ?= 1

.PHONY: install test test-slow demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --editable '.[dev]'
	@touch $@

install: $(STAMP)

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(VENV)/bin/pathfocus demo --out runs/demo

bench: $(STAMP)
	$(PY) benchmarks/kfde_overhead.py
	$(PY) benchmarks/tile_read.py
	$(PY) benchmarks/sew_focus.py --out runs/bench-sew-focus
	$(PY) benchmarks/scaling.py --out runs/bench-scaling
	test -d runs/demo/runs/sew || $(VENV)/bin/pathfocus demo --out runs/demo
	$(PY) benchmarks/cluster.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
