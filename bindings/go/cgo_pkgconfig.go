//go:build feat_pkgconfig

package feat

// #cgo pkg-config: libfeat
import "C"
