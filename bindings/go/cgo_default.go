//go:build !feat_pkgconfig

package feat

// Default: the repository's headers and its build/ directory (with an rpath to it).
// Elsewhere: build with -tags feat_pkgconfig (pkg-config libfeat), or add CGO_CFLAGS /
// CGO_LDFLAGS (e.g. CGO_LDFLAGS="-L/opt/feat/lib -Wl,-rpath,/opt/feat/lib"); at run time
// LD_LIBRARY_PATH takes precedence over the built-in run path.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../build -Wl,-rpath,${SRCDIR}/../../build -lfeat
import "C"
