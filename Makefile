# The two commands of README.md: `make demo` and `make test`. Each installs what it needs.
.PHONY: demo test lint golden bench clean

VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo

demo:
	scripts/setup demo
	scripts/demo $(DEMO_OUT)

test:
	scripts/setup test
	scripts/test

lint:
	$(BIN)/ruff check s2s_sd tests bench lab
	$(BIN)/mypy

golden:
	$(BIN)/pytest -q tests/unit/test_golden.py --regen-golden

bench:
	scripts/setup test
	$(BIN)/python bench/generate.py

clean:
	rm -rf out build *.egg-info
