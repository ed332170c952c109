# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs
# what it needs. torch is pinned and installed first, from this machine's local CPU build: a
# resolver left to choose torch would download a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --quiet
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test lint model bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# one stamp per set of extras; reinstalled when pyproject.toml changes
$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) install "$(TORCH_PIN)"
	$(PIP) install -e ".[torch]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) install "$(TORCH_PIN)"
	$(PIP) install -e ".[torch,llm,report,dev]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) examples/demo.py

test: $(VENV)/.test-installed
	$(PY) -m pytest

lint: $(VENV)/.test-installed
	$(PY) -m ruff check intentroute tests examples benchmarks
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

# The embedded brokerage model, reproducible bit for bit: the same templates, seed and settings
# give the same bundle bytes (training runs single-threaded). The recipe (generate, train, tune
# options) is intentroute/domains/brokerage/recipe.toml, which the benchmarks that retrain the
# model read too; docs/training.md says why those settings.
model: $(VENV)/.test-installed
	$(PY) -m benchmarks.recipe --run

# Speed and accuracy against baselines, each script in one run (docs/benchmarks.md has the tables);
# the public sets only when ../shared/benchmarks is there (pass --data DIR to a script otherwise).
SHARED ?= ../shared/benchmarks
bench: $(VENV)/.test-installed
	$(PIP) install fasttext-wheel
	$(PY) -m benchmarks.bench_data
	$(PY) -m benchmarks.bench_bow
	$(PY) -m benchmarks.cascade
	$(PY) -m benchmarks.stream
	$(PY) -m benchmarks.ray_route
	$(PY) -m benchmarks.restriction
	$(PY) -m benchmarks.multi_intent
	$(PY) -m benchmarks.async_llm
	$(PY) -m benchmarks.serve
	$(PY) -m benchmarks.cold_start
	$(PY) -m benchmarks.presets
	$(PY) -m benchmarks.template_splits --lexical both
	$(PY) -m benchmarks.learning_loop --plot docs/img/learning_loop.png --data $(SHARED)
	$(PY) -m benchmarks.soak
	@if [ -d $(SHARED) ]; then $(PY) -m benchmarks.public --data $(SHARED) && \
		$(PY) -m benchmarks.sklearn_defaults --data $(SHARED); \
	else echo "benchmarks.public and benchmarks.sklearn_defaults skipped: no $(SHARED)"; fi

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
