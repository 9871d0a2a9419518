# Two commands from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test test-local demo chat notebooks notebooks-refresh bench lint typecheck unit system-deps install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "==> installing ark-context[dev] into $(VENV) (first run only)"
	@$(BIN)/python -m pip install -q -U pip
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# redis-server for the Redis store's tests: installed with apt-get (through sudo when not
# root). Without apt, install redis-server (>= 6.2) yourself or run `make test-local`,
# which skips the Redis tests with a message (never in CI, where CI=true fails them).
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "==> redis-server is missing and this machine has no apt-get."; \
	    echo "    Install redis-server >= 6.2 with your package manager (brew install redis,"; \
	    echo "    dnf install redis, ...), or run 'make test-local' to skip the Redis tests."; \
	    exit 1; \
	  fi; \
	  echo "==> installing redis-server with apt-get (sudo when not root)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Notebooks run offline in `make test` (ARK_* unset: the in-process emulator);
# `make notebooks` uses the real service when ARK_API_KEY and ARK_MODEL are set.
NBMAKE := $(BIN)/python -m pytest -q -p no:cacheprovider --nbmake notebooks/

# Unit tests only (sockets disabled; no emulator server, no redis-server).
unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not integration"

test: install system-deps lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider
	env -u ARK_API_KEY -u ARK_MODEL -u ARK_BASE_URL $(NBMAKE)
	$(BIN)/python -m benchmarks --smoke

# The same without root, apt or redis-server: the Redis tests skip with a message.
test-local: install lint typecheck
	env -u CI $(BIN)/python -m pytest -q -p no:cacheprovider
	env -u ARK_API_KEY -u ARK_MODEL -u ARK_BASE_URL $(NBMAKE)

demo: install
	$(BIN)/ark-context demo $(if $(MODEL),--model $(MODEL))

chat: install
	$(BIN)/ark-context chat $(if $(MODEL),--model $(MODEL))

notebooks: install
	$(NBMAKE)

# Re-run every notebook against the emulator and commit it with its outputs (deterministic).
notebooks-refresh: install
	$(BIN)/python -m tests.notebooks --write

bench: install system-deps
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
