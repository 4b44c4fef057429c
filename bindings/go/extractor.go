package feat

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// ChunkSize is how many items one C call gets; the context is checked between chunks (and a
// call in progress is cancelled when the context is done).
const ChunkSize = 64

// Enumerations (0 = the default everywhere).
type (
	Preset        int
	Fusion        int
	Interpolation int
	DecodeMode    int
	Truncation    int
	WindowPooling int
	UTF8Policy    int
	Tristate      int
	Precision     int
)

const (
	PresetDefault     Preset = 0
	PresetTorchvision Preset = 1
	PresetKerasVGG16  Preset = 2

	FusionDefault Fusion = 0
	FusionConcat  Fusion = 1
	FusionMean    Fusion = 2

	InterpDefault  Interpolation = 0
	InterpNearest  Interpolation = 1
	InterpBilinear Interpolation = 2
	InterpBicubic  Interpolation = 3
	InterpLanczos  Interpolation = 4

	DecodeDefault DecodeMode = 0
	DecodeExact   DecodeMode = 1
	DecodeFast    DecodeMode = 2

	TruncateDefault      Truncation = 0
	TruncateLongestFirst Truncation = 1
	TruncateOnlyFirst    Truncation = 2
	TruncateOnlySecond   Truncation = 3
	TruncateNone         Truncation = 4

	WindowDefault WindowPooling = 0
	WindowMean    WindowPooling = 1
	WindowMax     WindowPooling = 2
	WindowFirst   WindowPooling = 3

	UTF8Default UTF8Policy = 0
	UTF8Error   UTF8Policy = 1
	UTF8Replace UTF8Policy = 2

	Default Tristate = 0
	On      Tristate = 1
	Off     Tristate = 2

	// PrecisionBF16 is opt-in: bfloat16 matrix products change the features slightly and are
	// faster only on CPUs with native bfloat16 instructions (feat_precision in feat/common.h).
	PrecisionDefault Precision = 0 // float32
	PrecisionFP32    Precision = 1
	PrecisionBF16    Precision = 2
)

// ImageOptions configures an ImageExtractor; zero values mean the model's defaults.
type ImageOptions struct {
	Taps            string // e.g. "features.29:gap,features.22:gmp"
	Fusion          Fusion
	Preset          Preset
	Resize          uint32 // shorter side before the crop (0 = 256)
	CropW, CropH    uint32
	Interpolation   Interpolation
	Mean, Std       *[3]float32
	ExifOrientation bool
	MaxPixels       uint64
	DecodeMode      DecodeMode
	BatchSize       uint32
	DecodeThreads   uint32
	Device          string // "cpu" or "cuda:N"
	Precision       Precision
}

// TextOptions configures a TextExtractor or a Tokenizer; zero values mean the defaults.
type TextOptions struct {
	Taps          string // e.g. "encoder.layer.-1:mean"
	Lowercase     Tristate
	StripAccents  Tristate
	MaxLength     uint32
	Truncation    Truncation
	WindowStride  uint32
	WindowPooling WindowPooling
	UTF8          UTF8Policy
	Fusion        Fusion
	BatchSize     uint32
	Device        string
	Precision     Precision
}

func (o *ImageOptions) toC() (*C.feat_image_options, error) {
	var p *C.feat_image_options
	var msg *C.char
	if err := statusErr(C.go_image_options_new(&p, &msg), msg); err != nil {
		return nil, err
	}
	set := func(kind int, a, b uint64, s string, m, sd *[3]float32) error {
		var cs *C.char
		if s != "" {
			cs = C.CString(s)
			defer C.free(unsafe.Pointer(cs))
		}
		var cm, csd *C.float
		if m != nil { // copied to C memory: cgo pointer rules
			cm = (*C.float)(C.CBytes((*[12]byte)(unsafe.Pointer(m))[:]))
			defer C.free(unsafe.Pointer(cm))
		}
		if sd != nil {
			csd = (*C.float)(C.CBytes((*[12]byte)(unsafe.Pointer(sd))[:]))
			defer C.free(unsafe.Pointer(csd))
		}
		var msg *C.char
		return statusErr(C.go_image_set(p, C.int(kind), C.uint64_t(a), C.uint64_t(b), cs, cm, csd, &msg), msg)
	}
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	steps := []func() error{
		func() error { return cond(o.Taps != "", func() error { return set(0, 0, 0, o.Taps, nil, nil) }) },
		func() error { return set(1, uint64(o.Fusion), 0, "", nil, nil) },
		func() error { return set(2, uint64(o.Preset), 0, "", nil, nil) },
		func() error {
			return cond(o.Resize != 0, func() error { return set(3, uint64(o.Resize), 0, "", nil, nil) })
		},
		func() error {
			return cond(o.CropW != 0 || o.CropH != 0, func() error { return set(4, uint64(o.CropW), uint64(o.CropH), "", nil, nil) })
		},
		func() error { return set(5, uint64(o.Interpolation), 0, "", nil, nil) },
		func() error {
			return cond(o.Mean != nil || o.Std != nil, func() error { return set(6, 0, 0, "", o.Mean, o.Std) })
		},
		func() error {
			return cond(o.ExifOrientation, func() error { return set(7, b2u(o.ExifOrientation), 0, "", nil, nil) })
		},
		func() error {
			return cond(o.MaxPixels != 0, func() error { return set(8, o.MaxPixels, 0, "", nil, nil) })
		},
		func() error { return set(9, uint64(o.DecodeMode), 0, "", nil, nil) },
		func() error {
			return cond(o.BatchSize != 0, func() error { return set(10, uint64(o.BatchSize), 0, "", nil, nil) })
		},
		func() error {
			return cond(o.DecodeThreads != 0, func() error { return set(11, uint64(o.DecodeThreads), 0, "", nil, nil) })
		},
		func() error { return cond(o.Device != "", func() error { return set(12, 0, 0, o.Device, nil, nil) }) },
		func() error { return set(13, uint64(o.Precision), 0, "", nil, nil) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			C.feat_image_options_free(p)
			return nil, err
		}
	}
	return p, nil
}

func cond(c bool, f func() error) error {
	if c {
		return f()
	}
	return nil
}

func (o *TextOptions) toC() (*C.feat_text_options, error) {
	var p *C.feat_text_options
	var msg *C.char
	if err := statusErr(C.go_text_options_new(&p, &msg), msg); err != nil {
		return nil, err
	}
	set := func(kind int, a uint32, s string) error {
		var cs *C.char
		if s != "" {
			cs = C.CString(s)
			defer C.free(unsafe.Pointer(cs))
		}
		var msg *C.char
		return statusErr(C.go_text_set(p, C.int(kind), C.uint32_t(a), cs, &msg), msg)
	}
	steps := []func() error{
		func() error { return cond(o.Taps != "", func() error { return set(0, 0, o.Taps) }) },
		func() error { return set(1, uint32(o.Lowercase), "") },
		func() error { return set(2, uint32(o.StripAccents), "") },
		func() error { return cond(o.MaxLength != 0, func() error { return set(3, o.MaxLength, "") }) },
		func() error { return set(4, uint32(o.Truncation), "") },
		func() error { return cond(o.WindowStride != 0, func() error { return set(5, o.WindowStride, "") }) },
		func() error { return set(6, uint32(o.WindowPooling), "") },
		func() error { return set(7, uint32(o.UTF8), "") },
		func() error { return set(8, uint32(o.Fusion), "") },
		func() error { return cond(o.BatchSize != 0, func() error { return set(9, o.BatchSize, "") }) },
		func() error { return cond(o.Device != "", func() error { return set(10, 0, o.Device) }) },
		func() error { return set(11, uint32(o.Precision), "") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			C.feat_text_options_free(p)
			return nil, err
		}
	}
	return p, nil
}

// cArena holds C copies of Go inputs for the duration of one call (cgo pointer rules: C never
// sees Go memory that holds Go pointers, and keeps nothing after the call).
type cArena []unsafe.Pointer

func (a *cArena) bytes(b []byte) unsafe.Pointer {
	p := C.malloc(C.size_t(len(b) + 1)) // +1: never NULL, and NUL-terminated for strings
	s := unsafe.Slice((*byte)(p), len(b)+1)
	copy(s, b)
	s[len(b)] = 0
	*a = append(*a, p)
	return p
}

func (a *cArena) array(n, elem int) unsafe.Pointer {
	p := C.calloc(C.size_t(n+1), C.size_t(elem))
	*a = append(*a, p)
	return p
}

func (a *cArena) free() {
	for _, p := range *a {
		C.free(p)
	}
	*a = nil
}

// handle is what ImageExtractor and TextExtractor share: serialized calls, a separately
// locked pointer for Cancel, chunking with context checks.
type handle struct {
	mu  sync.Mutex // one call at a time; Close waits for the call in progress
	cmu sync.Mutex // guards p against Close for Cancel, which may come from any goroutine
	p   unsafe.Pointer
}

var errClosed = &Error{Status: StatusState, Message: "extractor is closed"}

// tapDims is TapDims of either extractor, under the handle's lock: n taps, dim(i) each.
func (h *handle) tapDims(n func() int, dim func(i int) int) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.p == nil {
		return nil
	}
	out := make([]int, n())
	for i := range out {
		out[i] = dim(i)
	}
	return out
}

func (h *handle) cancelWith(f func(unsafe.Pointer)) {
	h.cmu.Lock()
	defer h.cmu.Unlock()
	if h.p != nil {
		f(h.p)
	}
}

func (h *handle) closeWith(free func(unsafe.Pointer)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmu.Lock()
	defer h.cmu.Unlock()
	if h.p != nil {
		free(h.p)
		h.p = nil
	}
}

// run extracts n items in chunks; call(lo, hi) makes one C call. Holds h.mu.
func (h *handle) run(ctx context.Context, n int, dim func() int, cancel func(), call func(lo, hi int) (*C.feat_result, error)) (*Features, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.p == nil {
		return nil, errClosed
	}
	return runLocked(ctx, n, dim, cancel, call)
}

// runLocked is run for a caller that holds the lock and has checked the handle.
func runLocked(ctx context.Context, n int, dim func() int, cancel func(), call func(lo, hi int) (*C.feat_result, error)) (*Features, error) {
	f := &Features{Dim: dim()}
	for lo := 0; lo < n; lo += ChunkSize {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCancelled, err)
		}
		hi := min(lo+ChunkSize, n)
		stop := watch(ctx, cancel)
		r, err := call(lo, hi)
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", err, ctx.Err())
			}
			return nil, err
		}
		if err := f.appendResult(r); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// watch calls cancel if ctx is done before stop() is called; stop waits for the watcher.
func watch(ctx context.Context, cancel func()) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			cancel()
		case <-done:
		}
	}()
	return func() { close(done); wg.Wait() }
}

// ImageExtractor extracts image features with a TorchScript model.
type ImageExtractor struct{ h handle }

func (ex *ImageExtractor) ptr() *C.feat_image_extractor { return (*C.feat_image_extractor)(ex.h.p) }

func newImageExtractor(p *C.feat_image_extractor) *ImageExtractor {
	ex := &ImageExtractor{h: handle{p: unsafe.Pointer(p)}}
	runtime.SetFinalizer(ex, (*ImageExtractor).Close)
	return ex
}

// NewImageExtractor loads a model (and its side-car) with opts (nil = defaults).
func NewImageExtractor(model string, opts *ImageOptions) (*ImageExtractor, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	if opts == nil {
		opts = &ImageOptions{}
	}
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.feat_image_options_free(co)
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var p *C.feat_image_extractor
	var msg *C.char
	if err := statusErr(C.go_image_load(cm, co, &p, &msg), msg); err != nil {
		return nil, err
	}
	return newImageExtractor(p), nil
}

// Close frees the extractor (waiting for a call in progress). Safe to call twice.
func (ex *ImageExtractor) Close() error {
	ex.h.closeWith(func(p unsafe.Pointer) { C.feat_image_extractor_free((*C.feat_image_extractor)(p)) })
	runtime.SetFinalizer(ex, nil)
	return nil
}

// Clone makes an extractor sharing the weights, for another goroutine.
func (ex *ImageExtractor) Clone() (*ImageExtractor, error) {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return nil, errClosed
	}
	var p *C.feat_image_extractor
	var msg *C.char
	if err := statusErr(C.go_image_clone(ex.ptr(), &p, &msg), msg); err != nil {
		return nil, err
	}
	return newImageExtractor(p), nil
}

// Cancel stops a call in progress (it returns ErrCancelled). Any goroutine.
func (ex *ImageExtractor) Cancel() {
	ex.h.cancelWith(func(p unsafe.Pointer) { C.feat_image_extractor_cancel((*C.feat_image_extractor)(p)) })
}

// Dim is the length of one feature row (0 once closed).
func (ex *ImageExtractor) Dim() int {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return 0
	}
	return int(C.feat_image_extractor_dim(ex.ptr()))
}

// Taps are the resolved taps as "path:pool".
func (ex *ImageExtractor) Taps() []string {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return nil
	}
	n := int(C.feat_image_extractor_n_taps(ex.ptr()))
	out := make([]string, n)
	for i := range out {
		out[i] = C.GoString(C.feat_image_extractor_tap(ex.ptr(), C.size_t(i)))
	}
	return out
}

// TapDims are the pooled lengths of the taps, in tap order (concat fusion: the row's column blocks).
func (ex *ImageExtractor) TapDims() []int {
	return ex.h.tapDims(func() int { return int(C.feat_image_extractor_n_taps(ex.ptr())) },
		func(i int) int { return int(C.feat_image_extractor_tap_dim(ex.ptr(), C.size_t(i))) })
}

func (ex *ImageExtractor) dimLocked() int { return int(C.feat_image_extractor_dim(ex.ptr())) }

// imageTarget is what an image extraction runs on: an extractor or an ensemble (the other nil).
type imageTarget struct {
	ex  *C.feat_image_extractor
	ens *C.feat_image_ensemble
}

// filesCall makes the C call of one chunk of ExtractFiles.
func (t imageTarget) filesCall(paths []string) func(lo, hi int) (*C.feat_result, error) {
	return func(lo, hi int) (*C.feat_result, error) {
		var a cArena
		defer a.free()
		arr := unsafe.Slice((**C.char)(a.array(hi-lo, int(unsafe.Sizeof(uintptr(0))))), hi-lo+1)
		for i, p := range paths[lo:hi] {
			arr[i] = (*C.char)(a.bytes([]byte(p)))
		}
		var r *C.feat_result
		var msg *C.char
		err := statusErr(C.go_image_files(t.ex, t.ens, &arr[0], C.size_t(hi-lo), &r, &msg), msg)
		return r, err
	}
}

// encodedCall makes the C call of one chunk of ExtractEncoded.
func (t imageTarget) encodedCall(images [][]byte) func(lo, hi int) (*C.feat_result, error) {
	return func(lo, hi int) (*C.feat_result, error) {
		var a cArena
		defer a.free()
		n := hi - lo
		ptrs := unsafe.Slice((*unsafe.Pointer)(a.array(n, int(unsafe.Sizeof(uintptr(0))))), n+1)
		sizes := unsafe.Slice((*C.size_t)(a.array(n, int(unsafe.Sizeof(C.size_t(0))))), n+1)
		for i, b := range images[lo:hi] {
			ptrs[i] = a.bytes(b)
			sizes[i] = C.size_t(len(b))
		}
		var r *C.feat_result
		var msg *C.char
		err := statusErr(C.go_image_encoded(t.ex, t.ens, &ptrs[0], &sizes[0], C.size_t(n), &r, &msg), msg)
		return r, err
	}
}

// rgb8Call makes the C call of one chunk of ExtractRGB8 (the images checked by checkRGB8).
func (t imageTarget) rgb8Call(images []RGB8) func(lo, hi int) (*C.feat_result, error) {
	return func(lo, hi int) (*C.feat_result, error) {
		var a cArena
		defer a.free()
		n := hi - lo
		px := unsafe.Slice((**C.uint8_t)(a.array(n, int(unsafe.Sizeof(uintptr(0))))), n+1)
		ws := unsafe.Slice((*C.uint32_t)(a.array(n, 4)), n+1)
		hs := unsafe.Slice((*C.uint32_t)(a.array(n, 4)), n+1)
		st := unsafe.Slice((*C.size_t)(a.array(n, int(unsafe.Sizeof(C.size_t(0))))), n+1)
		for i, im := range images[lo:hi] {
			px[i] = (*C.uint8_t)(a.bytes(im.Pixels))
			ws[i], hs[i], st[i] = C.uint32_t(im.Width), C.uint32_t(im.Height), C.size_t(im.Stride)
		}
		var r *C.feat_result
		var msg *C.char
		err := statusErr(C.go_image_rgb8(t.ex, t.ens, &px[0], &ws[0], &hs[0], &st[0], C.size_t(n), &r, &msg), msg)
		return r, err
	}
}

// ExtractFiles gives one row per image file; files that cannot be read or decoded fail alone.
func (ex *ImageExtractor) ExtractFiles(ctx context.Context, paths []string) (*Features, error) {
	return ex.h.run(ctx, len(paths), ex.dimLocked, ex.Cancel, imageTarget{ex: ex.ptr()}.filesCall(paths))
}

// ExtractEncoded gives one row per encoded image (JPEG/PNG bytes); the bytes are copied.
func (ex *ImageExtractor) ExtractEncoded(ctx context.Context, images [][]byte) (*Features, error) {
	return ex.h.run(ctx, len(images), ex.dimLocked, ex.Cancel, imageTarget{ex: ex.ptr()}.encodedCall(images))
}

// RGB8 is one image of packed RGB pixels: Height rows of Stride bytes (0 = 3*Width).
type RGB8 struct {
	Pixels        []byte
	Width, Height int
	Stride        int
}

// checkRGB8 refuses, before any C call, images whose bytes do not hold their pixels.
func checkRGB8(images []RGB8) error {
	for i, im := range images {
		stride := im.Stride
		if stride == 0 {
			stride = 3 * im.Width
		}
		need := 0
		if im.Height > 0 {
			need = stride*(im.Height-1) + 3*im.Width
		}
		if im.Width < 0 || im.Height < 0 || stride < 3*im.Width || len(im.Pixels) < need {
			return &Error{Status: StatusInvalidArgument,
				Message: fmt.Sprintf("image %d: %d bytes do not hold %dx%d RGB8 pixels with row stride %d", i, len(im.Pixels), im.Width, im.Height, stride)}
		}
	}
	return nil
}

// ExtractRGB8 gives one row per in-memory RGB8 image; the pixels are copied.
func (ex *ImageExtractor) ExtractRGB8(ctx context.Context, images []RGB8) (*Features, error) {
	if err := checkRGB8(images); err != nil {
		return nil, err
	}
	return ex.h.run(ctx, len(images), ex.dimLocked, ex.Cancel, imageTarget{ex: ex.ptr()}.rgb8Call(images))
}
