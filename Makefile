# The two commands of the README: `make demo` (build the firmware-ready model on the
# synthetic default) and `make test` (run the test suite).  Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LEADS ?= 2
PROFILE ?= default
# Test workers (pytest-xdist): a file's tests run on one worker (its module fixtures are made
# once); the smoke build is made once per run and shared (tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: venv demo test smoke clean

$(BIN)/lrh-tflm: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/lrh-tflm

demo: venv
	$(BIN)/lrh-tflm build --leads $(LEADS) --profile $(PROFILE)

smoke: venv
	$(BIN)/lrh-tflm build --leads $(LEADS) --profile smoke --out build/smoke

test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf build firmware/build .pytest_cache
