package feat

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// TextExtractor extracts text features (embeddings) with a TorchScript BERT-family model.
type TextExtractor struct{ h handle }

func (ex *TextExtractor) ptr() *C.feat_text_extractor { return (*C.feat_text_extractor)(ex.h.p) }

func newTextExtractor(p *C.feat_text_extractor) *TextExtractor {
	ex := &TextExtractor{h: handle{p: unsafe.Pointer(p)}}
	runtime.SetFinalizer(ex, (*TextExtractor).Close)
	return ex
}

// NewTextExtractor loads a model and its vocabulary ("" = the side-car's vocab).
func NewTextExtractor(model, vocab string, opts *TextOptions) (*TextExtractor, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	if opts == nil {
		opts = &TextOptions{}
	}
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.feat_text_options_free(co)
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var cv *C.char
	if vocab != "" {
		cv = C.CString(vocab)
		defer C.free(unsafe.Pointer(cv))
	}
	var p *C.feat_text_extractor
	var msg *C.char
	if err := statusErr(C.go_text_load(cm, cv, co, &p, &msg), msg); err != nil {
		return nil, err
	}
	return newTextExtractor(p), nil
}

// Close frees the extractor (waiting for a call in progress). Safe to call twice.
func (ex *TextExtractor) Close() error {
	ex.h.closeWith(func(p unsafe.Pointer) { C.feat_text_extractor_free((*C.feat_text_extractor)(p)) })
	runtime.SetFinalizer(ex, nil)
	return nil
}

// Clone makes an extractor sharing the weights and vocabulary, for another goroutine.
func (ex *TextExtractor) Clone() (*TextExtractor, error) {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return nil, errClosed
	}
	var p *C.feat_text_extractor
	var msg *C.char
	if err := statusErr(C.go_text_clone(ex.ptr(), &p, &msg), msg); err != nil {
		return nil, err
	}
	return newTextExtractor(p), nil
}

// Cancel stops a call in progress (it returns ErrCancelled). Any goroutine.
func (ex *TextExtractor) Cancel() {
	ex.h.cancelWith(func(p unsafe.Pointer) { C.feat_text_extractor_cancel((*C.feat_text_extractor)(p)) })
}

// Dim is the length of one feature row (0 once closed).
func (ex *TextExtractor) Dim() int {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return 0
	}
	return int(C.feat_text_extractor_dim(ex.ptr()))
}

// Taps are the resolved taps as "path:pool".
func (ex *TextExtractor) Taps() []string {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return nil
	}
	n := int(C.feat_text_extractor_n_taps(ex.ptr()))
	out := make([]string, n)
	for i := range out {
		out[i] = C.GoString(C.feat_text_extractor_tap(ex.ptr(), C.size_t(i)))
	}
	return out
}

// TapDims are the pooled lengths of the taps, in tap order (concat fusion: the row's column blocks).
func (ex *TextExtractor) TapDims() []int {
	return ex.h.tapDims(func() int { return int(C.feat_text_extractor_n_taps(ex.ptr())) },
		func(i int) int { return int(C.feat_text_extractor_tap_dim(ex.ptr(), C.size_t(i))) })
}

func (ex *TextExtractor) dimLocked() int { return int(C.feat_text_extractor_dim(ex.ptr())) }

func textArrays(a *cArena, texts [][]byte) (**C.char, *C.size_t) {
	n := len(texts)
	ptrs := unsafe.Slice((**C.char)(a.array(n, int(unsafe.Sizeof(uintptr(0))))), n+1)
	lens := unsafe.Slice((*C.size_t)(a.array(n, int(unsafe.Sizeof(C.size_t(0))))), n+1)
	for i, t := range texts {
		ptrs[i] = (*C.char)(a.bytes(t))
		lens[i] = C.size_t(len(t))
	}
	return &ptrs[0], &lens[0]
}

// Extract gives one row per text (UTF-8); invalid UTF-8 fails only its own item.
func (ex *TextExtractor) Extract(ctx context.Context, texts []string) (*Features, error) {
	b := make([][]byte, len(texts))
	for i, t := range texts {
		b[i] = []byte(t)
	}
	return ex.ExtractBytes(ctx, b)
}

// ExtractBytes is Extract for texts given as bytes.
func (ex *TextExtractor) ExtractBytes(ctx context.Context, texts [][]byte) (*Features, error) {
	return ex.h.run(ctx, len(texts), ex.dimLocked, ex.Cancel, textTarget{ex: ex.ptr()}.textsCall(texts))
}

// ExtractPairs gives one row per sentence pair (a[i], b[i]).
func (ex *TextExtractor) ExtractPairs(ctx context.Context, a, b []string) (*Features, error) {
	if len(a) != len(b) {
		return nil, errPairs
	}
	return ex.h.run(ctx, len(a), ex.dimLocked, ex.Cancel, textTarget{ex: ex.ptr()}.pairsCall(a, b))
}

var errPairs = &Error{Status: StatusInvalidArgument, Message: "ExtractPairs: a and b differ in length"}

// textTarget is what a text extraction runs on: an extractor or an ensemble (the other nil).
type textTarget struct {
	ex  *C.feat_text_extractor
	ens *C.feat_text_ensemble
}

// textsCall makes the C call of one chunk of ExtractBytes.
func (t textTarget) textsCall(texts [][]byte) func(lo, hi int) (*C.feat_result, error) {
	return func(lo, hi int) (*C.feat_result, error) {
		var a cArena
		defer a.free()
		p, l := textArrays(&a, texts[lo:hi])
		var r *C.feat_result
		var msg *C.char
		err := statusErr(C.go_text_extract(t.ex, t.ens, p, l, C.size_t(hi-lo), &r, &msg), msg)
		return r, err
	}
}

// pairsCall makes the C call of one chunk of ExtractPairs.
func (t textTarget) pairsCall(a, b []string) func(lo, hi int) (*C.feat_result, error) {
	return func(lo, hi int) (*C.feat_result, error) {
		var ar cArena
		defer ar.free()
		ba, bb := make([][]byte, hi-lo), make([][]byte, hi-lo)
		for i := lo; i < hi; i++ {
			ba[i-lo], bb[i-lo] = []byte(a[i]), []byte(b[i])
		}
		pa, la := textArrays(&ar, ba)
		pb, lb := textArrays(&ar, bb)
		var r *C.feat_result
		var msg *C.char
		err := statusErr(C.go_text_pairs(t.ex, t.ens, pa, la, pb, lb, C.size_t(hi-lo), &r, &msg), msg)
		return r, err
	}
}

// Tokenizer is a BERT WordPiece tokenizer. Once loaded it is read-only: any number of
// goroutines may Encode at once.
type Tokenizer struct {
	mu     sync.RWMutex // Encode (readers) vs Close (writer)
	p      *C.feat_tokenizer
	parent *TextExtractor // set for an extractor's borrowed tokenizer (never freed here)
}

// NewTokenizer loads a vocab.txt with opts (nil = defaults).
func NewTokenizer(vocab string, opts *TextOptions) (*Tokenizer, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	if opts == nil {
		opts = &TextOptions{}
	}
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.feat_text_options_free(co)
	cv := C.CString(vocab)
	defer C.free(unsafe.Pointer(cv))
	var p *C.feat_tokenizer
	var msg *C.char
	if err := statusErr(C.go_tokenizer_load(cv, co, &p, &msg), msg); err != nil {
		return nil, err
	}
	t := &Tokenizer{p: p}
	runtime.SetFinalizer(t, (*Tokenizer).Close)
	return t, nil
}

// Tokenizer is the extractor's own tokenizer (borrowed: valid while the extractor is open).
func (ex *TextExtractor) Tokenizer() *Tokenizer {
	ex.h.mu.Lock()
	defer ex.h.mu.Unlock()
	if ex.h.p == nil {
		return &Tokenizer{}
	}
	return &Tokenizer{p: C.feat_text_extractor_tokenizer(ex.ptr()), parent: ex}
}

// Close frees the tokenizer; twice is safe; a borrowed one is left to its extractor.
func (t *Tokenizer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p != nil && t.parent == nil {
		C.feat_tokenizer_free(t.p)
	}
	t.p = nil
	runtime.SetFinalizer(t, nil)
	return nil
}

// Encoding is one encoded text. Offsets are [start, end) pairs in Unicode code points
// (Offsets) and UTF-8 bytes (ByteOffsets); special tokens get (0, 0).
type Encoding struct {
	IDs, TypeIDs, AttentionMask, SequenceIDs []int32
	Offsets, ByteOffsets                     [][2]int64
	NTruncated                               int
}

// Encode encodes text, or the pair (text, pair) when pair is non-nil.
func (t *Tokenizer) Encode(text string, pair *string) (*Encoding, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.p == nil || (t.parent != nil && t.parent.h.p == nil) {
		return nil, &Error{Status: StatusState, Message: "tokenizer is closed"}
	}
	var a cArena
	defer a.free()
	ca := (*C.char)(a.bytes([]byte(text)))
	var cb *C.char
	var lb C.size_t
	if pair != nil {
		cb = (*C.char)(a.bytes([]byte(*pair)))
		lb = C.size_t(len(*pair))
	}
	var enc *C.feat_encoding
	var msg *C.char
	if err := statusErr(C.go_encode(t.p, ca, C.size_t(len(text)), cb, lb, &enc, &msg), msg); err != nil {
		return nil, err
	}
	defer C.feat_encoding_free(enc)
	n := int(C.feat_encoding_len(enc))
	i32 := func(p *C.int32_t) []int32 {
		if n == 0 {
			return nil
		}
		return append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(p)), n)...)
	}
	offs := func(p *C.int64_t) [][2]int64 {
		out := make([][2]int64, n)
		if n > 0 {
			s := unsafe.Slice((*int64)(unsafe.Pointer(p)), 2*n)
			for i := range out {
				out[i] = [2]int64{s[2*i], s[2*i+1]}
			}
		}
		return out
	}
	return &Encoding{
		IDs: i32(C.feat_encoding_ids(enc)), TypeIDs: i32(C.feat_encoding_type_ids(enc)),
		AttentionMask: i32(C.feat_encoding_attention_mask(enc)), SequenceIDs: i32(C.feat_encoding_sequence_ids(enc)),
		Offsets: offs(C.feat_encoding_offsets_chars(enc)), ByteOffsets: offs(C.feat_encoding_offsets_bytes(enc)),
		NTruncated: int(C.feat_encoding_n_truncated(enc)),
	}, nil
}

// VocabSize is the number of vocabulary entries.
func (t *Tokenizer) VocabSize() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.p == nil {
		return 0
	}
	return int(C.feat_tokenizer_vocab_size(t.p))
}

// TokenToID is the id of token, or -1.
func (t *Tokenizer) TokenToID(token string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.p == nil {
		return -1
	}
	c := C.CString(token)
	defer C.free(unsafe.Pointer(c))
	return int(C.feat_tokenizer_token_to_id(t.p, c))
}

// IDToToken is the token of id, or "" and false.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.p == nil {
		return "", false
	}
	s := C.feat_tokenizer_id_to_token(t.p, C.int32_t(id))
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}
