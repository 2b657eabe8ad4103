# agentfund — the two commands that matter:
#   make demo   set everything up and run the demo backtest (W1) on the shipped sample data
#   make test   install what the tests need (Debian packages included) and run the suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/demo-w1
SITE_DIR ?= site

.PHONY: demo test install system-deps lint docs pytest bench bench-scaling bench-ui bench-peers bench-sweep soak clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,llama]"  # llama: builds llama.cpp once (~6 min)
	$(PY) -m compileall -q fund agentfund  # PYTHONDONTWRITEBYTECODE may be set
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/fund backtest examples/rebalance.toml --out $(DEMO_OUT)
	$(VENV)/bin/fund verify $(DEMO_OUT)/journal.db

system-deps:
	bash scripts/system-deps.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# two processes side by side (pytest-xdist), then the timing-sensitive tests alone
pytest: install
	bash scripts/with-postgres.sh bash -c '$(PY) -m pytest -q -n 2 -m "not serial" && \
	  $(PY) -m pytest -q -m serial'

# the documentation site (mkdocs.yml, docs/), built strictly: a broken link or anchor fails
# it (hence no --quiet, which hides the warnings strict mode counts); the configuration
# reference in it is generated from the config models at every build
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(SITE_DIR)
	@echo "docs: $(SITE_DIR)/index.html"

test: system-deps lint docs pytest

# the issue-18 table: this checkout (A) against BENCH_BASE (B), A B A B …, medians, ratios,
# targets and the floor; BENCH_BASE is the revision the targets are ratios to ("today")
BENCH_BASE ?= 585aef6
BENCH_ARGS ?=
bench: install
	$(PY) benchmarks/run.py --against $(BENCH_BASE) $(BENCH_ARGS)

# how cost grows: assets (5, 20, 100), wakes (hourly, 5 min, 1 min), journal size (SQLite,
# and PostgreSQL when DATABASE_URL is set); BENCH_SCALING_ARGS e.g. --sizes 1000,1000000
BENCH_SCALING_ARGS ?=
bench-scaling: install
	$(PY) benchmarks/scaling.py $(BENCH_SCALING_ARGS)

# the monitoring UI on a ~1M-entry journal (a real backtest, built once and reused)
bench-ui: install
	$(PY) benchmarks/ui_million.py

# W1 on agentfund, vectorbt and backtrader; the peers get their own venv, .bench-venv/
bench-peers: install
	$(PY) benchmarks/compare.py $(BENCH_PEERS_ARGS)

# fund sweep: a 64-combination grid on 1, then 2, local Dask workers (run it on a quiet machine)
bench-sweep: install
	$(PY) benchmarks/sweep_scaling.py

# real-time soaks: 50 actors for 10 minutes, then two funds in one daemon for 2 minutes (one
# raising every third wake, its exchange down 20 s: the other's wakes stay on time)
soak: install
	$(PY) benchmarks/soak.py --actors 50 --minutes 10
	AGENTFUND_SOAK=1 $(PY) -m pytest -q -m soak tests/integration/test_many_funds.py

clean:
	rm -rf $(VENV) runs $(SITE_DIR) .pytest_cache .mypy_cache .ruff_cache
