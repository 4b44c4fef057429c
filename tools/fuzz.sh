#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every libFuzzer target for SECONDS each (default 60) from its seed corpus
# (tests/fuzz/corpus/NAME; new inputs go to build-fuzz/corpus/NAME). Prints executions per
# second and coverage per target; fails on the first crash.
#   tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
dir=build-fuzz
if [ ! -f $dir/build.ninja ]; then
  CC=clang CXX=clang++ meson setup $dir -Dtorch=disabled -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(sed -n "s/^ *'\(fuzz_[a-z_]*\)'.*/\1/p" tests/fuzz/meson.build))
ninja -C $dir -j2 $(printf 'tests/fuzz/%s ' "${targets[@]}") >/dev/null
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  mkdir -p $dir/corpus/$name
  log=$dir/$t.log
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
      $dir/tests/fuzz/$t -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=1048576 \
      -artifact_prefix=$dir/$t- $dir/corpus/$name tests/fuzz/corpus/$name >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED (crash input saved as $dir/$t-*)"
    exit 1
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(echo "$last" | sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p')
  cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  echo "fuzz: $t ok, ${seconds}s, ${execs:-?} exec/s, coverage ${cov:-?} edges"
done
