//go:build feat_pkgconfig

package feat

// Flags from `pkg-config libfeat` (PKG_CONFIG_PATH): an installed prefix, or a build tree's
// meson-uninstalled/. Outside /usr and /usr/local its Libs carry -Wl,-rpath,${libdir}, so the
// program finds libfeat.so without LD_LIBRARY_PATH (this folder's README.md, "Building").

// #cgo pkg-config: libfeat
import "C"
