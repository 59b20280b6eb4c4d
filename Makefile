# Two entry points: `make run` (install + dvc repro) and `make test` (install + pytest).
VENV ?= .venv
PY := $(VENV)/bin/python
# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set, every stage would otherwise
# recompile torch, transformers and mlflow from source (about 20 s per process).
# pip's configured find-links (a local torch wheel on some machines); uv does not read pip.conf.
FIND_LINKS := $(shell pip config get global.find-links 2>/dev/null)
UV_FLAGS := $(if $(FIND_LINKS),--find-links $(FIND_LINKS))
export DVC_NO_ANALYTICS := 1
# DVC stages call `python`: make it the virtual environment's.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install run test test-fast lock browser

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) $(UV_FLAGS) -r requirements.lock -e .
	touch $@

run: install
	$(VENV)/bin/dvc repro

# Two pytest-xdist workers, each test file on one of them (its module fixtures built once): most tests keep one
# core busy, so a second worker puts a 2-core machine's other core to work.
PYTEST := $(PY) -m pytest -n 2 --dist loadfile

test: install browser
	$(PYTEST)

# The inner loop: every test but the slow ones (a few minutes each); CI runs `make test`.
test-fast: install browser
	$(PYTEST) -m "not slow"

# Headless Chromium for the test that opens MLflow's UI (Debian's package; apt needs root, else sudo).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null || $(SUDO) apt-get install -y -q chromium \
		|| ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

# Re-resolve requirements.lock after editing pyproject.toml (torch stays pinned there).
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --no-emit-package torch $(UV_FLAGS) -o requirements.lock
