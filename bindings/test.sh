#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the Python, Go and Rust binding test suites against $FEAT_BUILD_DIR (default build/).
# A language whose toolchain is missing is skipped with a message. The last line is the
# summary the CI reads:  "bindings: N passed, N failed, N skipped".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export FEAT_BUILD_DIR=$(cd "${FEAT_BUILD_DIR:-$ROOT/build}" && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CARGO=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
passed=0 failed=0 skipped=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

if [ ! -e "$FEAT_BUILD_DIR/libfeat.so" ] || [ ! -x "$FEAT_BUILD_DIR/tools/feat/feat" ]; then
    echo "bindings: $FEAT_BUILD_DIR has no libfeat.so or feat CLI: build first"
    echo "bindings: 0 passed, 1 failed, 0 skipped"
    exit 1
fi

# Models, inputs and the CLI's reference outputs, once for all three suites.
if ! FEAT_TEST_DATA=$("$PY" "$ROOT/bindings/testdata/prepare.py" | tail -n 1); then
    echo "bindings: bindings/testdata/prepare.py failed"
    echo "bindings: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
export FEAT_TEST_DATA
rm -f "$FEAT_TEST_DATA/measurements.txt"

count() { # count PASSED FAILED
    passed=$((passed + $1)); failed=$((failed + $2))
}

echo "== python"
if "$PY" -c 'import numpy, pytest' 2>/dev/null; then
    FEAT_LIBRARY="$FEAT_BUILD_DIR/libfeat.so" "$PY" -m pytest -q -p no:cacheprovider \
        "$ROOT/bindings/python/tests" 2>&1 | tee "$log/py"
    p=$(grep -Eo '[0-9]+ passed' "$log/py" | tail -1 | cut -d' ' -f1)
    f=$(grep -Eo '[0-9]+ (failed|error)' "$log/py" | awk '{s+=$1} END {print s+0}')
    [ -n "$p$f" ] || f=1
    count "${p:-0}" "${f:-0}"
else
    echo "python: numpy or pytest missing in $PY: skipped"; skipped=$((skipped + 1))
fi

echo "== go"
if [ -x "$GO" ]; then
    (cd "$ROOT/bindings/go" &&
        export GOTOOLCHAIN=local GOFLAGS=-mod=mod \
            CGO_CFLAGS="-I$FEAT_BUILD_DIR/include ${CGO_CFLAGS:--g -O2}" \
            CGO_LDFLAGS="-L$FEAT_BUILD_DIR -Wl,-rpath,$FEAT_BUILD_DIR ${CGO_LDFLAGS:-}" \
            LD_LIBRARY_PATH="$FEAT_BUILD_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" &&
        { "$GO" vet ./... && echo "--- PASS: go vet" || echo "--- FAIL: go vet"; } &&
        "$GO" test -count=1 -v -timeout 15m ./...) 2>&1 | tee "$log/go" | grep -E '^(--- |ok|FAIL|panic)'
    count "$(grep -c -- '--- PASS' "$log/go")" "$(grep -Ec -- '--- FAIL|^panic:|build failed' "$log/go")"
else
    echo "go: toolchain not found: skipped"; skipped=$((skipped + 1))
fi

echo "== rust"
if [ -x "$CARGO" ]; then
    (cd "$ROOT/bindings/rust" &&
        { "$CARGO" clippy --offline --all-targets -q -- -D warnings && echo "test clippy ... ok" ||
            echo "test clippy ... FAILED"; } &&
        "$CARGO" test --offline 2>&1) 2>&1 | tee "$log/rs" | grep -E '^test |test result|error'
    p=$(grep -E '^test .* \.\.\. ok$' "$log/rs" | wc -l)
    f=$(grep -Ec '^test .* \.\.\. FAILED$|^error' "$log/rs")
    count "$p" "$f"
else
    echo "rust: cargo not found: skipped"; skipped=$((skipped + 1))
fi

if [ -s "$FEAT_TEST_DATA/measurements.txt" ]; then
    echo "== measurements"
    cat "$FEAT_TEST_DATA/measurements.txt"
fi
echo "bindings: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
