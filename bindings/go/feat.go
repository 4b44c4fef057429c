// Package feat binds libfeat (deep-learning features from images and text) through cgo.
//
// Errors are *Error values carrying the C status and message. Every C call that can fail is
// made through a small C helper that copies the message in the same cgo call, so a goroutine
// moving between OS threads never reads another call's message.
//
// Threads: an extractor serializes its calls (one goroutine at a time, others wait); for
// parallel work give each goroutine its own Clone(), which shares the weights. A loaded
// Tokenizer may be used by any number of goroutines. Close() frees a handle (twice is safe);
// a finalizer frees forgotten ones.
package feat

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ABIVersion is the ABI generation this package was written for (FEAT_ABI_VERSION).
const ABIVersion = 1

// Status is a libfeat status code: 0 = OK, failures are stable negative numbers.
type Status int32

const (
	StatusOK              Status = 0
	StatusInvalidArgument Status = -1
	StatusNoMem           Status = -2
	StatusNotFound        Status = -3
	StatusUnsupported     Status = -4
	StatusBufferTooSmall  Status = -5
	StatusDecode          Status = -6
	StatusDevice          Status = -7
	StatusCancelled       Status = -8
	StatusState           Status = -9
	StatusBackend         Status = -10
	StatusInternal        Status = -11
	StatusIO              Status = -12
	StatusLimit           Status = -13
	StatusModel           Status = -14
)

// String is the C symbol, e.g. "FEAT_E_DECODE".
func (s Status) String() string { return C.GoString(C.feat_status_name(C.feat_status(s))) }

// Error is a failed call or a failed item: the C status and the library's message.
// errors.Is(err, feat.ErrNotFound) matches by status.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "feat: " + e.Status.String()
	}
	return fmt.Sprintf("feat: %s: %s", e.Status, e.Message)
}

// Is reports whether target is an *Error with the same status (messages are not compared).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrNoMem           = &Error{Status: StatusNoMem}
	ErrNotFound        = &Error{Status: StatusNotFound}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
	ErrDecode          = &Error{Status: StatusDecode}
	ErrDevice          = &Error{Status: StatusDevice}
	ErrCancelled       = &Error{Status: StatusCancelled}
	ErrState           = &Error{Status: StatusState}
	ErrBackend         = &Error{Status: StatusBackend}
	ErrInternal        = &Error{Status: StatusInternal}
	ErrIO              = &Error{Status: StatusIO}
	ErrLimit           = &Error{Status: StatusLimit}
	ErrModel           = &Error{Status: StatusModel}
)

// statusErr turns a status and a message copied by a helper into an error; frees the copy.
func statusErr(st C.feat_status, msg *C.char) error {
	if msg != nil {
		defer C.free(unsafe.Pointer(msg))
	}
	if st == C.FEAT_OK {
		return nil
	}
	m := ""
	if msg != nil {
		m = C.GoString(msg)
	}
	return &Error{Status: Status(st), Message: m}
}

var abiErr = func() error {
	if got := int(C.feat_abi_version()); got != ABIVersion {
		return &Error{Status: StatusUnsupported,
			Message: fmt.Sprintf("the loaded libfeat has ABI %d, this package needs ABI %d", got, ABIVersion)}
	}
	return nil
}()

// CheckABI reports whether the loaded libfeat has the ABI this package was written for.
// Every constructor returns this error too.
func CheckABI() error { return abiErr }

// Version of the loaded library, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.feat_version_string()) }

// VersionNumber is MAJOR*10000 + MINOR*100 + PATCH.
func VersionNumber() int { return int(C.feat_version_number()) }

// LibABIVersion is the ABI generation of the loaded library.
func LibABIVersion() int { return int(C.feat_abi_version()) }

// SetThreads sets the process-wide number of cores inference may use (0 = default).
func SetThreads(n int) error {
	var msg *C.char
	return statusErr(C.go_set_threads(C.int32_t(n), &msg), msg)
}

// Threads is the number of inference threads in force.
func Threads() int { return int(C.feat_global_threads()) }

// Layer is a submodule of a model: its dotted path, output shape (batch first; nil when it
// cannot be tapped) and a note saying why not.
type Layer struct {
	Path  string
	Shape []int64
	Note  string
}

// Layers lists every submodule of a model with its output shape for one example input of
// inputSize (image side, or tokens; 0 = 224 / 16).
func Layers(model string, inputSize int) ([]Layer, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var list *C.feat_layer_list
	var msg *C.char
	if err := statusErr(C.go_layers(cm, C.uint32_t(inputSize), &list, &msg), msg); err != nil {
		return nil, err
	}
	defer C.feat_layer_list_free(list)
	n := int(C.feat_layer_list_len(list))
	out := make([]Layer, n)
	for i := 0; i < n; i++ {
		rank := int(C.feat_layer_list_shape(list, C.size_t(i), nil, 0))
		var shape []int64
		if rank > 0 {
			shape = make([]int64, rank)
			C.feat_layer_list_shape(list, C.size_t(i), (*C.int64_t)(unsafe.Pointer(&shape[0])), C.size_t(rank))
		}
		out[i] = Layer{Path: C.GoString(C.feat_layer_list_path(list, C.size_t(i))), Shape: shape,
			Note: C.GoString(C.feat_layer_list_note(list, C.size_t(i)))}
	}
	return out, nil
}

// Features holds one row of Dim float32 per input, in order. Rows of failed items are NaN;
// Statuses and Errors say which failed and why.
type Features struct {
	Data     []float32 // Rows x Dim, row-major
	Rows     int
	Dim      int
	Statuses []Status // StatusOK for items that succeeded
	Errors   []string // "" for items that succeeded
}

// Row returns row i (a slice of Data).
func (f *Features) Row(i int) []float32 { return f.Data[i*f.Dim : (i+1)*f.Dim] }

// ItemErr is why item i failed, nil when it succeeded.
func (f *Features) ItemErr(i int) error {
	if f.Statuses[i] == StatusOK {
		return nil
	}
	return &Error{Status: f.Statuses[i], Message: f.Errors[i]}
}

// NFailed counts the failed items.
func (f *Features) NFailed() int {
	n := 0
	for _, s := range f.Statuses {
		if s != StatusOK {
			n++
		}
	}
	return n
}

// appendResult copies a C result into f (one copy, into Go memory) and frees it.
func (f *Features) appendResult(r *C.feat_result) error {
	defer C.feat_result_free(r)
	n := int(C.feat_result_n_items(r))
	dim := int(C.feat_result_dim(r))
	if f.Rows == 0 {
		f.Dim = dim
	}
	start := len(f.Data)
	f.Data = append(f.Data, make([]float32, n*dim)...)
	if n*dim > 0 {
		var msg *C.char
		// Go memory without Go pointers may be written by C during the call.
		if err := statusErr(C.go_copy(r, (*C.float)(unsafe.Pointer(&f.Data[start])), C.size_t(n*dim), &msg), msg); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		st := Status(C.feat_result_item_status(r, C.size_t(i)))
		f.Statuses = append(f.Statuses, st)
		m := ""
		if st != StatusOK {
			m = C.GoString(C.feat_result_item_error(r, C.size_t(i)))
		}
		f.Errors = append(f.Errors, m)
	}
	f.Rows += n
	return nil
}
