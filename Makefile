# prodready -- everything sets itself up from Python 3.11 and make.
#
#   make demo   assess the bundled example system, write reports/<run-id>/
#   make test   lint, type-check, and run the whole test suite in two environments:
#               .venv       with the alibi and mlflow extras (numpy<2, pandas<3: alibi-detect's pins)
#               .venv-core  without it, on current numpy 2 / pandas 3
#   make lab    open the tutorials in JupyterLab
#
# make test also drives a real JupyterLab in the distribution's Chromium (tests/lab); it installs
# Chromium with apt-get when it is missing (Playwright's own browser download needs the network).

PYTHON ?= python3.11
VENV := .venv
CORE := .venv-core
EXAMPLE_DIR ?= .cache/example
REPORTS ?= reports
# The demo's signing key pair (private key mode 0600; .cache is not in git).
KEYS_DIR ?= .cache/keys
# Single-row predicts from threads collapse with OpenMP's default threading (see FACTS.md).
export OMP_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck test-full test-core test-timing checks-and-core bench lab chromium clean

# The stamp files record that an environment holds the package as pyproject.toml says now.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[alibi,mlflow,onnx,fleet,lab,test,test-lab]'
	touch $@

$(CORE)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CORE)
	$(CORE)/bin/python -m pip install -q --upgrade pip
	$(CORE)/bin/python -m pip install -q -e '.[onnx,fleet,test]'
	touch $@

# The two served example systems, the prototype and the production variant of one model,
# each assessed against its own `mlflow models serve`, then their verdicts side by side.
# Each run folder is signed with the demo's own key (made once, kept out of git in .cache)
# and appended to an audit ledger; then both signatures and the ledger are verified.
demo: $(VENV)/.installed
	$(VENV)/bin/prodready example --dir $(EXAMPLE_DIR)
	@test -f $(KEYS_DIR)/demo.key || { mkdir -p $(KEYS_DIR) && $(VENV)/bin/prodready keygen demo --out $(KEYS_DIR); }
	@# Exit 1 means "assessed, not ready": a verdict, not a failure of the demo.
	@run=$$(date -u +%Y%m%dT%H%M%SZ); \
	for variant in prototype production; do \
		echo; echo "== $$variant =="; \
		$(VENV)/bin/prodready assess $(EXAMPLE_DIR)/$$variant.yaml --out $(REPORTS) \
			--engine alibi --run-id $$run-$$variant --junit $(REPORTS)/$$run-$$variant.junit.xml \
			--sign-key $(KEYS_DIR)/demo.key --ledger $(REPORTS)/ledger.jsonl \
			|| [ $$? -eq 1 ] || exit $$?; \
	done; \
	echo; echo "== prototype vs production =="; \
	$(VENV)/bin/prodready compare $(REPORTS)/$$run-prototype $(REPORTS)/$$run-production; \
	echo; echo "== evidence: signatures and the audit ledger =="; \
	for variant in prototype production; do \
		$(VENV)/bin/prodready verify $(REPORTS)/$$run-$$variant --key $(KEYS_DIR)/demo.pub || exit $$?; \
	done; \
	$(VENV)/bin/prodready ledger verify $(REPORTS)/ledger.jsonl
	@echo
	@echo "Next:"
	@echo "  - open the two reports above in a browser (they work offline; the .junit.xml files are for CI);"
	@echo "  - assess your own model: write a spec as in the README, section 'Assess your own model',"
	@echo "    then run: $(VENV)/bin/prodready validate SPEC && $(VENV)/bin/prodready assess SPEC;"
	@echo "  - or explore it live in JupyterLab: make lab (tutorials in notebooks/)."

LINT := $(CORE)/bin/ruff check src tests benchmarks && $(CORE)/bin/ruff format --check src tests benchmarks
TYPECHECK := $(CORE)/bin/mypy

lint: $(CORE)/.installed
	$(LINT)

typecheck: $(CORE)/.installed
	$(TYPECHECK)

# The distribution's Chromium, for the JupyterLab test (root, or sudo, installs it once).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get install -y -q chromium || { $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium; }; }

# The env-independent modules (tests/conftest.py, ENV_INDEPENDENT) run in test-core only.
FULL_PYTEST := PRODREADY_REQUIRE_ALIBI=1 PRODREADY_REQUIRE_MLFLOW=1 PRODREADY_REQUIRE_LAB=1 \
	PRODREADY_ENV_INDEPENDENT=skip $(VENV)/bin/pytest -q -p no:cacheprovider
CORE_PYTEST := PRODREADY_EXPECT_NO_ALIBI=1 $(CORE)/bin/pytest -q -p no:cacheprovider

test-full: $(VENV)/.installed chromium
	$(FULL_PYTEST) tests
	$(VENV)/bin/pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=600 notebooks

test-core: $(CORE)/.installed
	$(CORE_PYTEST) tests

# The tests that measure time (tests/conftest.py, TIMING), in both environments, one at a time.
test-timing: $(CORE)/.installed $(VENV)/.installed
	PRODREADY_TIMING=only $(CORE_PYTEST) tests
	PRODREADY_TIMING=only $(FULL_PYTEST) tests

# The two environments share nothing and each keeps a core busy only about 60% of its time,
# so they run at the same time (each one's output printed when it ends): lint, types and the
# core tests in one, the full environment's install, tests and tutorials in the other. Then
# the tests that measure time run alone, with nothing else competing for the cores.
test:
	PRODREADY_TIMING=skip $(MAKE) --no-print-directory -j2 --output-sync=target checks-and-core test-full
	$(MAKE) --no-print-directory test-timing

checks-and-core: $(CORE)/.installed
	$(LINT)
	$(TYPECHECK)
	$(CORE_PYTEST) tests

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_drift.py
	$(VENV)/bin/python benchmarks/bench_stages.py
	$(VENV)/bin/python benchmarks/bench_rehearsal.py
	$(VENV)/bin/python benchmarks/bench_bad_input.py
	$(VENV)/bin/python benchmarks/bench_guard.py
	$(VENV)/bin/python benchmarks/bench_load.py
	$(VENV)/bin/python benchmarks/bench_rollback.py
	$(VENV)/bin/python benchmarks/bench_retraining.py
	$(VENV)/bin/python benchmarks/bench_attest.py
	$(VENV)/bin/python benchmarks/bench_onnx.py
	$(VENV)/bin/python benchmarks/bench_large_drift.py
	$(VENV)/bin/python benchmarks/bench_fleet.py

# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf $(VENV) $(CORE) .cache .mypy_cache .ruff_cache .pytest_cache build dist
