# The two commands of README.md: `make demo` and `make test`. Each installs what it needs.
.PHONY: demo test lint golden bench fuzz deb clean

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

# Property-based tests (tests/unit/test_fuzz_*.py) with many more examples than `make test`
fuzz:
	scripts/setup test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -m unit -q tests/unit -k fuzz

# dist/s2s-sd_VERSION_all.deb (debhelper + pybuild), checked by lintian
deb:
	scripts/setup deb
	scripts/build-deb dist

golden:
	$(BIN)/pytest -q tests/unit/test_golden.py tests/unit/test_pacemaker_render.py --regen-golden

bench:
	scripts/setup test
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/cib.py
	$(BIN)/python bench/vip.py
	flock /tmp/s2s-sd-lab.lock $(BIN)/python bench/move.py
	flock /tmp/s2s-sd-lab.lock $(BIN)/python bench/move_pcmk.py
	flock /tmp/s2s-sd-lab.lock $(BIN)/python bench/move_gap.py
	flock /tmp/s2s-sd-lab.lock $(BIN)/python bench/move_force.py
	flock /tmp/s2s-sd-lab.lock $(BIN)/python bench/drill.py
	flock /tmp/s2s-sd-lab.lock $(BIN)/python bench/status.py

clean:
	rm -rf out build dist *.egg-info
