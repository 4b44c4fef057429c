# Entry points. `make test` and `make demo` work on a fresh Debian 12 machine: they install
# what they need first (tools/setup.sh). Everything else goes through meson/ninja in build/.

PY      := .venv/bin/python
BUILD   := build
MODELS  := models
NINJA   := ninja -C $(BUILD) -j2

.PHONY: all setup build test test-unit test-py demo bench fuzz clean

all: build

setup:
	bash tools/setup.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dtorch=enabled

build: setup $(BUILD)/build.ninja
	$(NINJA)

# The whole suite: C unit tests (meson), then the Python-driven parity tests (pytest).
test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	FEAT_BUILD_DIR=$(CURDIR)/$(BUILD) $(PY) -m pytest -q tests

# The main job end to end: export models, extract image and text features, train a classifier.
demo: build
	bash tools/demo.sh

# Throughput against the Python peers, measured in the same run (slow; opt-in).
bench: build
	FEAT_BUILD_DIR=$(CURDIR)/$(BUILD) $(PY) bench/run_bench.py

clean:
	rm -rf $(BUILD)
