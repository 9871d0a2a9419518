# Two commands from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test demo chat notebooks bench lint typecheck unit system-deps install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "==> installing ark-context[dev] into $(VENV) (first run only)"
	@$(BIN)/python -m pip install -q -U pip
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "==> installing redis-server (Debian package)"; \
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

demo: install
	$(BIN)/ark-context demo $(if $(MODEL),--model $(MODEL))

chat: install
	$(BIN)/ark-context chat $(if $(MODEL),--model $(MODEL))

notebooks: install
	$(NBMAKE)

bench: install system-deps
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
