#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Formats the C and C++ sources with clang-format and the repository's .clang-format.
#   tools/format.sh            rewrite every file that differs
#   tools/format.sh --check    list the files that differ; exit 1 if any (nothing is written)
#   tools/format.sh [--check] FILE...   only these files
# Without FILE arguments it covers the C/C++ files (.c .h .cpp) under the folders in
# format_dirs. lib/text/unicode_fast_tables.h is generated (lib/text/gen_fast_tables.py) and
# left as the generator writes it. Layout differs between clang-format releases, so the
# style is pinned to Debian 12's clang-format 14 (apt-get install clang-format).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

format_dirs=(lib shim tools/feat include tests/unit examples bench)
generated=(lib/text/unicode_fast_tables.h)

check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi

clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null; then
  echo "format: $clang_format not found (apt-get install clang-format)" >&2
  exit 2
fi

files=()
if (($#)); then
  files=("$@")
else
  # Tracked files and new ones git does not ignore; build folders and the venv stay out.
  while IFS= read -r -d '' f; do
    skip=0
    for g in "${generated[@]}"; do [ "$f" = "$g" ] && skip=1; done
    [ -e "$f" ] && ((!skip)) && files+=("$f")
  done < <(git ls-files -z --cached --others --exclude-standard -- "${format_dirs[@]}" |
           grep -zE '\.(c|h|cpp)$')
fi

differ=0
for f in "${files[@]}"; do
  if ((check)); then
    if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then
      echo "$f"
      differ=1
    fi
  else
    "$clang_format" --style=file -i "$f"
  fi
done
if ((check && differ)); then
  echo "format: the files above differ from .clang-format (run tools/format.sh)" >&2
  exit 1
fi
