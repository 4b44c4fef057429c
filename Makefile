# Entry points. `make test` and `make demo` work on a fresh Debian 12 machine: they install
# what they need first (tools/setup.sh). Everything else goes through meson/ninja in build/.

PY      := .venv/bin/python
BUILD   := build
MODELS  := models
NINJA   := ninja -C $(BUILD) -j2

.PHONY: all setup build test test-sanitize test-tsan fuzz fuzz-smoke demo bench clean

SAN     := build-sanitize
TSAN    := build-tsan
# tools/fuzz.sh builds the fuzz targets in build-fuzz; `make test-torch2` builds in build-torch2.
FUZZ_BUILD   := build-fuzz
TORCH2_BUILD := build-torch2

all: build

setup:
	bash tools/setup.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dtorch=enabled

build: setup $(BUILD)/build.ninja
	$(NINJA)

# The whole suite: the pure-C parts under ASan+UBSan, the extractors' threads under TSan, short
# fuzz runs, the C unit and ABI tests, the Python-driven parity tests (pytest) against PyTorch,
# Pillow and Hugging Face tokenizers, then the Python, Go and Rust bindings, then an install
# into a temporary prefix and the programs that use it (tests/install/test_install.sh).
test: build test-sanitize test-tsan fuzz-smoke
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	FEAT_BUILD_DIR=$(CURDIR)/$(BUILD) $(PY) -m pytest -q tests
	FEAT_BUILD_DIR=$(CURDIR)/$(BUILD) bash bindings/test.sh
	bash tests/install/test_install.sh

$(SAN)/build.ninja:
	meson setup $(SAN) -Dtorch=disabled -Db_sanitize=address,undefined -Dbuildtype=debugoptimized

# Decoders, tokenizer, tap parsing, results and the side-car reader under ASan+UBSan
# (libtorch is left out: it is not built with sanitizers).
test-sanitize: setup $(SAN)/build.ninja
	ninja -C $(SAN) -j2
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(SAN) --suite unit --print-errorlogs --num-processes 2

TSAN_TESTS := tests/unit/extract/test_extract_image tests/unit/extract/test_extract_text tests/unit/probe/test_probe

$(TSAN)/build.ninja:
	meson setup $(TSAN) -Dtorch=disabled -Db_sanitize=thread -Dbuildtype=debugoptimized

# The extractors' threads (decode workers, batches side by side, cancellation, clones) on the
# test backend (docs/testing.md) and the probe's fold threads, under ThreadSanitizer (suite
# 'threads'). Only those tests are built: seconds.
test-tsan: setup $(TSAN)/build.ninja
	ninja -C $(TSAN) -j2 $(TSAN_TESTS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  meson test -C $(TSAN) --suite threads --no-rebuild --print-errorlogs --num-processes 2

# Every libFuzzer target for FUZZ_SECONDS each (issue-sized runs: FUZZ_SECONDS=600).
FUZZ_SECONDS ?= 60
fuzz: setup
	bash tools/fuzz.sh $(FUZZ_SECONDS)

# Short runs of every fuzz target, part of `make test`, so regressions show.
fuzz-smoke: setup
	bash tools/fuzz.sh 15

# The main job end to end: export models, extract image and text features, train a classifier.
demo: build
	bash tools/demo.sh

# Throughput against the Python peers, measured in the same run (slow; opt-in).
bench: build
	FEAT_BUILD_DIR=$(CURDIR)/$(BUILD) $(PY) bench/run_bench.py

# Every build folder the targets above make (the venvs stay: setup is slow to redo).
clean:
	rm -rf $(BUILD) $(SAN) $(TSAN) $(FUZZ_BUILD) $(TORCH2_BUILD)

# Opt-in (not part of `make test`): the model tests against a pip libtorch 2.x, linked CPU-only
# (docs/backends.md). TORCH2_VERSION picks the wheel; the venv and build dir are reused.
TORCH2_VERSION ?= 2.15.0
.PHONY: test-torch2
test-torch2: setup
	tdir=$$(bash tools/torch2_venv.sh $(TORCH2_VERSION) .venv-torch2) && \
	  { test -f $(TORCH2_BUILD)/build.ninja || meson setup $(TORCH2_BUILD) -Dtorch=enabled -Dtorch_dir=$$tdir; }
	ninja -C $(TORCH2_BUILD) -j2
	meson test -C $(TORCH2_BUILD) --print-errorlogs --num-processes 2
	FEAT_BUILD_DIR=$(CURDIR)/$(TORCH2_BUILD) $(PY) -m pytest -q tests/model/test_taps.py \
	  tests/model/test_image_features.py tests/model/test_text_features.py

# Opt-in: the model zoo's parity table in docs/models.md, "Zoo parity" (tools/model_zoo_table.py:
# one model per family against PyTorch forward hooks; minutes, ~1.5 GB of exports in
# $(BUILD)/zoo-models).
.PHONY: zoo-table
zoo-table: build
	$(PY) tools/model_zoo_table.py --build $(BUILD) --write docs/models.md
