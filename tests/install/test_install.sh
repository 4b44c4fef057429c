#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs libfeat the way a user does and checks that everything installed runs with nothing
# set: no LD_LIBRARY_PATH, no FEAT_LIBRARY (README.md, "Install"). From a clean copy of the
# source tree (the files `git ls-files` lists, as a fresh clone of the working tree has them):
# `meson setup --prefix` a temporary prefix, build, `meson install`; then
#   * the installed `feat` (its RUNPATH is $ORIGIN-relative),
#   * a C program built with the installed libfeat.pc, and one built with the build tree's
#     meson-uninstalled/libfeat-uninstalled.pc,
#   * a fresh venv's `pip install bindings/python` (found through pkg-config), and the platform
#     wheel of tools/python_wheel.sh in another fresh venv (its bundled copy; tag and
#     Requires-External checked),
#   * a Go module outside the repository (the `replace` recipe, -tags feat_pkgconfig),
#   * a new cargo project (its build.rs takes the rpath from libfeat-sys's DEP_FEAT_LIB_DIR).
# Each program loads libfeat.so from the prefix (read back from /proc/self/maps) and encodes a
# sentence; the ids must equal those of Hugging Face `tokenizers` on the same vocab.txt.
# Only PKG_CONFIG_PATH points at the prefix, as for any library in a non-system prefix.
# Offline: pip with --no-index (numpy, setuptools and wheel from the system Python), Go with
# GOPROXY=off, cargo with --offline (the bindings need no crates or modules from outside).
# Last line: "install: N passed, N failed". Run by `make test`.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
BASEPY=$("$PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CARGO=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
TMP=$(mktemp -d /tmp/feat-install.XXXXXX)
[ -n "${FEAT_INSTALL_KEEP:-}" ] || trap 'rm -rf "$TMP"' EXIT
SRC=$TMP/src PREFIX=$TMP/prefix BUILD=$TMP/build
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() {
    echo "install: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
unset LD_LIBRARY_PATH FEAT_LIBRARY FEAT_BUILD_DIR FEAT_LIB_DIR PKG_CONFIG_PATH

echo "== meson install into $PREFIX"
mkdir -p "$SRC"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$SRC"
if meson setup "$BUILD" "$SRC" --prefix="$PREFIX" -Dtorch=enabled -Dtests=false >"$TMP/setup.log" 2>&1 &&
    ninja -C "$BUILD" -j2 >"$TMP/build.log" 2>&1 &&
    meson install -C "$BUILD" --no-rebuild >"$TMP/install.log" 2>&1; then
    ok "meson setup --prefix, build, meson install"
else
    tail -n 30 "$TMP"/setup.log "$TMP"/build.log "$TMP"/install.log 2>/dev/null
    bad "meson setup --prefix, build, meson install"
    finish
fi
VERSION=$(meson introspect --projectinfo "$BUILD" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["version"])')
PC=$(find "$PREFIX" -name libfeat.pc)
PCDIR=$(dirname "$PC")
LIBDIR=$(dirname "$PCDIR")

# The sentence and vocabulary every program encodes; the expected ids come from Hugging Face.
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' hello , world ! un '##aff' '##able' >"$TMP/vocab.txt"
TEXT='Hello, UNaffable wörld!'
EXPECTED=$("$PY" - "$TMP/vocab.txt" "$TEXT" <<'EOF'
import sys
from tokenizers import BertWordPieceTokenizer
print(" ".join(map(str, BertWordPieceTokenizer(sys.argv[1], lowercase=True).encode(sys.argv[2]).ids)))
EOF
)
echo "expected ids (tokenizers): $EXPECTED; version $VERSION; libdir $LIBDIR"

# check NAME OUTPUT: the program printed "version V", "lib PATH" (PATH in the prefix) and "ids ...".
check() {
    local name=$1 out=$2 want_lib=${3:-$LIBDIR/libfeat.so.1.0.0}
    local v l i
    v=$(sed -n 's/^version //p' <<<"$out")
    l=$(sed -n 's/^lib //p' <<<"$out")
    i=$(sed -n 's/^ids //p' <<<"$out")
    if [ "$v" = "$VERSION" ] && [ "$(readlink -f "$l")" = "$(readlink -f "$want_lib")" ] && [ "$i" = "$EXPECTED" ]; then
        ok "$name (libfeat $v from $l; ids $i)"
    else
        printf '%s\n' "$out" | tail -n 20
        bad "$name: want version $VERSION, lib $want_lib, ids $EXPECTED"
    fi
}

echo "== feat"
runpath=$(readelf -d "$PREFIX/bin/feat" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
out=$("$PREFIX/bin/feat" --version 2>&1)
if [[ $runpath == '$ORIGIN/'* ]] && [ "$out" = "libfeat $VERSION (ABI 1)" ]; then
    ok "installed feat runs ($out; RUNPATH $runpath)"
else
    bad "installed feat: RUNPATH '$runpath', --version: $out"
fi
out=$(printf '%s\n' "$TEXT" | "$PREFIX/bin/feat" tokenize --vocab "$TMP/vocab.txt" 2>&1)
[ "$out" = "$EXPECTED" ] && ok "installed feat tokenize" || bad "installed feat tokenize: $out"

echo "== C"
cat >"$TMP/prog.c" <<'EOF'
#include <feat/feat.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (FEAT_ABI_VERSION != feat_abi_version())
        return 1;
    printf("version %d.%d.%d\n", FEAT_VERSION_MAJOR, FEAT_VERSION_MINOR, FEAT_VERSION_PATCH);
    char line[4096];
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "libfeat.so")) {
            printf("lib %s", strchr(line, '/'));
            break;
        }
    feat_tokenizer *tok;
    feat_encoding *enc;
    if (feat_tokenizer_new(&tok) || feat_tokenizer_load(tok, argv[1], NULL) ||
        feat_tokenizer_encode(tok, argv[2], (size_t)-1, NULL, 0, &enc)) {
        fprintf(stderr, "%s\n", feat_last_error());
        return 1;
    }
    printf("ids");
    for (size_t i = 0; i < feat_encoding_len(enc); i++)
        printf(" %d", feat_encoding_ids(enc)[i]);
    printf("\n");
    feat_encoding_free(enc);
    feat_tokenizer_free(tok);
    return argc == 3 ? 0 : 1;
}
EOF
# shellcheck disable=SC2046  # pkg-config's flags are words
if cc -o "$TMP/prog" "$TMP/prog.c" $(PKG_CONFIG_PATH=$PCDIR pkg-config --cflags --libs libfeat) 2>"$TMP/cc.log"; then
    check "C program built with the installed libfeat.pc" "$("$TMP/prog" "$TMP/vocab.txt" "$TEXT" 2>&1)"
else
    cat "$TMP/cc.log"; bad "C program built with the installed libfeat.pc"
fi
# shellcheck disable=SC2046
if cc -o "$TMP/prog-uninstalled" "$TMP/prog.c" \
    $(PKG_CONFIG_PATH=$BUILD/meson-uninstalled pkg-config --cflags --libs libfeat) 2>"$TMP/cc.log"; then
    check "C program built with the build tree's libfeat-uninstalled.pc" \
        "$("$TMP/prog-uninstalled" "$TMP/vocab.txt" "$TEXT" 2>&1)" "$BUILD/libfeat.so.1.0.0"
else
    cat "$TMP/cc.log"; bad "C program built with the build tree's libfeat-uninstalled.pc"
fi

echo "== python"
PYPROG='import sys, libfeat
print("version", libfeat.version())
print("lib", libfeat._ffi.lib.path)
print("ids", " ".join(map(str, libfeat.Tokenizer(sys.argv[1]).encode(sys.argv[2]).ids)))'
# --system-site-packages: numpy, setuptools and wheel come from the system Python (offline).
if "$BASEPY" -m venv --system-site-packages "$TMP/venv" &&
    "$TMP/venv/bin/pip" install -q --no-index --no-build-isolation "$SRC/bindings/python" >"$TMP/pip.log" 2>&1; then
    check "pip install bindings/python in a fresh venv (via pkg-config)" \
        "$(cd "$TMP" && PKG_CONFIG_PATH=$PCDIR "$TMP/venv/bin/python" -c "$PYPROG" "$TMP/vocab.txt" "$TEXT" 2>&1)"
    out=$(cd "$TMP" && "$TMP/venv/bin/python" -c 'import libfeat' 2>&1)
    [[ $out == *"pkg-config libfeat"* ]] && ok "without PKG_CONFIG_PATH the ImportError says where it looked" ||
        bad "import libfeat without PKG_CONFIG_PATH: $out"
else
    cat "$TMP/pip.log"; bad "pip install bindings/python in a fresh venv"
fi
if whl=$(PYTHON=$TMP/venv/bin/python bash "$SRC/tools/python_wheel.sh" "$BUILD" "$TMP/wheels" 2>"$TMP/wheel.log"); then
    # The tag must be one this interpreter accepts and not 'any'; Requires-External must be
    # the libtorch sonames the bundled library NEEDs (readelf on the built library).
    needs=$(readelf -d "$BUILD/libfeat.so.1" | sed -n 's/.*(NEEDED).*\[\(lib\(torch\|c10\)[^]]*\)\]/\1/p' | sort | paste -sd ' ')
    tagcheck=$("$TMP/venv/bin/python" - "$whl" "$needs" <<'EOF'
import sys, zipfile
from packaging import tags
from packaging.utils import parse_wheel_filename
name, version, _, wheel_tags = parse_wheel_filename(sys.argv[1].rsplit("/", 1)[-1])
supported = set(tags.sys_tags())
plat = {t.platform for t in wheel_tags}
meta = zipfile.ZipFile(sys.argv[1]).read("%s-%s.dist-info/METADATA" % (name, version)).decode()
ext = sorted(l.split(": ", 1)[1] for l in meta.splitlines() if l.startswith("Requires-External: lib") and ".so" in l)
print("ok" if plat != {"any"} and wheel_tags & supported and ext == sys.argv[2].split() else
      "tags %s, Requires-External %s, NEEDED %s" % (sorted(map(str, wheel_tags)), ext, sys.argv[2]))
EOF
)
    [ "$tagcheck" = ok ] && ok "wheel $(basename "$whl"): platform tag, Requires-External $needs" ||
        bad "wheel $(basename "$whl"): $tagcheck"
    if "$BASEPY" -m venv --system-site-packages "$TMP/venv-wheel" &&
        "$TMP/venv-wheel/bin/pip" install -q --no-index "$whl" >"$TMP/pip.log" 2>&1; then
        site=$("$TMP/venv-wheel/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
        check "the wheel in a fresh venv (its bundled libfeat.so)" \
            "$(cd "$TMP" && "$TMP/venv-wheel/bin/python" -c "$PYPROG" "$TMP/vocab.txt" "$TEXT" 2>&1)" \
            "$site/libfeat/_lib/libfeat.so.1"
    else
        cat "$TMP/pip.log"; bad "pip install of the wheel in a fresh venv"
    fi
else
    cat "$TMP/wheel.log"; bad "tools/python_wheel.sh"
fi

echo "== go"
if [ -x "$GO" ]; then
    mkdir -p "$TMP/gomod"
    cat >"$TMP/gomod/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"strings"

	feat "github.com/libfeat/libfeat/bindings/go"
)

func main() {
	fmt.Println("version", feat.Version())
	maps, _ := os.ReadFile("/proc/self/maps")
	for _, l := range strings.Split(string(maps), "\n") {
		if i := strings.Index(l, "/"); i >= 0 && strings.Contains(l, "libfeat.so") {
			fmt.Println("lib", l[i:])
			break
		}
	}
	tok, err := feat.NewTokenizer(os.Args[1], nil)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	enc, err := tok.Encode(os.Args[2], nil)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ids", strings.Trim(fmt.Sprint(enc.IDs), "[]"))
}
EOF
    if (cd "$TMP/gomod" && export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off PKG_CONFIG_PATH=$PCDIR &&
        "$GO" mod init example.com/featuser &&
        "$GO" mod edit -require=github.com/libfeat/libfeat/bindings/go@v0.0.0 \
            -replace=github.com/libfeat/libfeat/bindings/go="$SRC/bindings/go" &&
        "$GO" build -tags feat_pkgconfig -o featuser .) >"$TMP/go.log" 2>&1; then
        check "Go module outside the repository (replace + -tags feat_pkgconfig)" \
            "$("$TMP/gomod/featuser" "$TMP/vocab.txt" "$TEXT" 2>&1)"
    else
        cat "$TMP/go.log"; bad "Go module outside the repository"
    fi
else
    echo "go: toolchain not found: skipped"
fi

echo "== rust"
if [ -x "$CARGO" ]; then
    mkdir -p "$TMP/rsapp/src"
    cat >"$TMP/rsapp/Cargo.toml" <<EOF
[package]
name = "featuser"
version = "0.1.0"
edition = "2021"

[dependencies]
libfeat = { path = "$SRC/bindings/rust/libfeat" }
libfeat-sys = { path = "$SRC/bindings/rust/libfeat-sys" }
EOF
    cat >"$TMP/rsapp/build.rs" <<'EOF'
fn main() {
    if let Ok(dir) = std::env::var("DEP_FEAT_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
EOF
    cat >"$TMP/rsapp/src/main.rs" <<'EOF'
fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("version {}", libfeat::version());
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    if let Some(l) = maps.lines().find(|l| l.contains("libfeat.so")) {
        println!("lib {}", &l[l.find('/').unwrap_or(0)..]);
    }
    let tok = libfeat::Tokenizer::new(&args[1], &libfeat::TextOptions::new()).expect("tokenizer");
    let enc = tok.encode(&args[2], None).expect("encode");
    let ids: Vec<String> = enc.ids.iter().map(|i| i.to_string()).collect();
    println!("ids {}", ids.join(" "));
}
EOF
    if (cd "$TMP/rsapp" && PKG_CONFIG_PATH=$PCDIR CARGO_TARGET_DIR=$TMP/rsapp/target \
        "$CARGO" build --offline -q) >"$TMP/cargo.log" 2>&1; then
        check "new cargo project (build.rs rpath from DEP_FEAT_LIB_DIR)" \
            "$("$TMP/rsapp/target/debug/featuser" "$TMP/vocab.txt" "$TEXT" 2>&1)"
    else
        cat "$TMP/cargo.log"; bad "new cargo project"
    fi
else
    echo "rust: cargo not found: skipped"
fi

finish
