//go:build !feat_pkgconfig

package feat

// Default: the repository's headers and its build/ directory (with an rpath to it); the
// build directory also holds feat/version.h, which meson generates. Another build
// directory: CGO_CFLAGS="-IBUILD/include" CGO_LDFLAGS="-LBUILD -Wl,-rpath,BUILD" (flags
// from the environment come first, so they win). Elsewhere: build with -tags
// feat_pkgconfig (pkg-config libfeat), or add CGO_CFLAGS / CGO_LDFLAGS (e.g.
// CGO_LDFLAGS="-L/opt/feat/lib -Wl,-rpath,/opt/feat/lib"); at run time LD_LIBRARY_PATH
// takes precedence over the built-in run path.

// #cgo CFLAGS: -I${SRCDIR}/../../include -I${SRCDIR}/../../build/include
// #cgo LDFLAGS: -L${SRCDIR}/../../build -Wl,-rpath,${SRCDIR}/../../build -lfeat
import "C"
