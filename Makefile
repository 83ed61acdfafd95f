# The two commands a new user needs: `make demo` and `make test`. Each installs what it needs.
VENV  := .venv
STAMP := $(VENV)/.flywheel-installed
WORKDIR ?= runs/demo
ROUNDS  ?= 8
PORT    ?= 3000

.PHONY: setup demo test test-fast lint ui clean

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/flywheel demo --rounds $(ROUNDS) --workdir $(WORKDIR)

# The whole suite on both cores, one test file per worker at a time (a module's fixtures are made once); the
# 40 slowest tests, the slow set's total against its budget and the wall time are printed at the end.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: $(STAMP) lint
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) --durations=40

# ruff's bug-finding rules, the import contracts (pyproject.toml) and the docs site, before the tests
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -q -d site

# The inner loop: everything not marked slow, in about 6 minutes on two cores.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS) --durations=15

# The UI opens the instance that flywheel demo recorded into, with the config the demo used (make ui PORT=3001):
# flywheel ui, which runs from any folder.
ui: $(STAMP)
	$(VENV)/bin/flywheel ui --workdir $(WORKDIR) --port $(PORT)

clean:
	rm -rf runs .pytest_cache
