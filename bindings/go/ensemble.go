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
	"sort"
	"unsafe"
)

// ensemble is what ImageEnsemble and TextEnsemble share: the C ensemble's handle and the
// members' handles. The C ensemble borrows its members; holding them here keeps them (and
// their C extractors) alive as long as the ensemble is, and their locks keep other goroutines
// off them while an ensemble call runs (feat/image.h: members must not be used elsewhere then).
type ensemble struct {
	h       handle
	members []*handle
}

// lockMembers takes the lock of every distinct member, in address order so that two
// ensembles sharing members cannot deadlock, and fails when a member has been closed. The
// caller holds e.h.mu (which guards e.members).
func (e *ensemble) lockMembers() (unlock func(), err error) {
	seen := map[*handle]bool{}
	var hs []*handle
	for _, m := range e.members {
		if !seen[m] {
			seen[m] = true
			hs = append(hs, m)
		}
	}
	sort.Slice(hs, func(i, j int) bool { return uintptr(unsafe.Pointer(hs[i])) < uintptr(unsafe.Pointer(hs[j])) })
	unlock = func() {
		for _, m := range hs {
			m.mu.Unlock()
		}
	}
	for _, m := range hs {
		m.mu.Lock()
	}
	for i, m := range e.members {
		if m.p == nil {
			unlock()
			return nil, &Error{Status: StatusState, Message: fmt.Sprintf("ensemble member %d is closed", i)}
		}
	}
	return unlock, nil
}

// cancel cancels every member (a cancelled member fails the ensemble's call). It may come
// from any goroutine while a call holds e.h.mu, so e.members is read under e.h.cmu.
func (e *ensemble) cancel(f func(unsafe.Pointer)) {
	e.h.cmu.Lock()
	defer e.h.cmu.Unlock()
	for _, m := range e.members {
		m.cancelWith(f)
	}
}

// run is handle.run with the members locked for the whole call.
func (e *ensemble) run(ctx context.Context, n int, dim func() int, cancel func(), call func(lo, hi int) (*C.feat_result, error)) (*Features, error) {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	if e.h.p == nil {
		return nil, errEnsembleClosed
	}
	unlock, err := e.lockMembers()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return runLocked(ctx, n, dim, cancel, call)
}

var errEnsembleClosed = &Error{Status: StatusState, Message: "ensemble is closed"}

// locked runs f under e.h.mu; f gets false once the ensemble is closed.
func (e *ensemble) locked(f func(open bool)) {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	f(e.h.p != nil)
}

// close frees the C ensemble with free and lets go of the members (clear drops the typed
// list), under both of the handle's locks.
func (e *ensemble) close(free func(unsafe.Pointer), clear func()) {
	e.h.closeWith(func(p unsafe.Pointer) {
		free(p)
		e.members = nil
		clear()
	})
}

// add adds the members to the new C ensemble with addOne (name "" = the C default
// "member K"), each under its lock.
func (e *ensemble) add(members []*handle, names []string, addOne func(i int, name *C.char) error) error {
	if names != nil && len(names) != len(members) {
		return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("%d names for %d members", len(names), len(members))}
	}
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	e.members = members
	unlock, err := e.lockMembers()
	if err != nil {
		return err
	}
	defer unlock()
	for i := range members {
		var cn *C.char
		if names != nil && names[i] != "" {
			cn = C.CString(names[i])
		}
		err := addOne(i, cn)
		C.free(unsafe.Pointer(cn))
		if err != nil {
			return err
		}
	}
	return nil
}

// memberHandles are the handles of members, or an error naming a nil one.
func memberHandles[T any](members []*T, h func(*T) *handle) ([]*handle, error) {
	out := make([]*handle, len(members))
	for i, m := range members {
		if m == nil {
			return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("ensemble member %d is nil", i)}
		}
		out[i] = h(m)
	}
	return out, nil
}

// ImageEnsemble runs several image extractors on the same inputs: one row per input, the
// members' rows side by side in the order given (their columns start after the dims of the
// members before them). Each image is read and decoded once for all members that decode
// alike, and preprocessed once per group of members with the same preprocessing; a row equals
// the concatenation of the members' own rows bit for bit. An input that fails for any member
// is a failed row (all NaN) whose message names that member.
//
// The ensemble borrows its members: it keeps them alive, and an ensemble call holds their
// locks, so other goroutines wait to use them meanwhile. A member closed before a call fails
// that call with ErrState. An ensemble is used like an extractor (calls are serialized); for
// parallel work make one ensemble per goroutine over cloned members.
type ImageEnsemble struct {
	e       ensemble
	members []*ImageExtractor
}

func (en *ImageEnsemble) ptr() *C.feat_image_ensemble { return (*C.feat_image_ensemble)(en.e.h.p) }

// NewImageEnsemble makes an ensemble of members; names (nil, or one per member; "" = the
// default "member K", K from 0) name the members in the messages of items that fail for them.
func NewImageEnsemble(members []*ImageExtractor, names []string) (*ImageEnsemble, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	hs, err := memberHandles(members, func(m *ImageExtractor) *handle { return &m.h })
	if err != nil {
		return nil, err
	}
	var p *C.feat_image_ensemble
	var msg *C.char
	if err := statusErr(C.go_image_ensemble_new(&p, &msg), msg); err != nil {
		return nil, err
	}
	en := &ImageEnsemble{e: ensemble{h: handle{p: unsafe.Pointer(p)}}, members: append([]*ImageExtractor(nil), members...)}
	runtime.SetFinalizer(en, (*ImageEnsemble).Close)
	if err := en.e.add(hs, names, func(i int, name *C.char) error {
		var msg *C.char
		return statusErr(C.go_image_ensemble_add(p, members[i].ptr(), name, &msg), msg)
	}); err != nil {
		en.Close()
		return nil, err
	}
	return en, nil
}

// Close frees the ensemble (not its members) and lets go of them. Safe to call twice.
func (en *ImageEnsemble) Close() error {
	en.e.close(func(p unsafe.Pointer) { C.feat_image_ensemble_free((*C.feat_image_ensemble)(p)) },
		func() { en.members = nil })
	runtime.SetFinalizer(en, nil)
	return nil
}

// Members are the extractors of the ensemble, in column order (nil once closed).
func (en *ImageEnsemble) Members() (out []*ImageExtractor) {
	en.e.locked(func(bool) { out = append(out, en.members...) })
	return out
}

// Len is the number of members (0 once closed).
func (en *ImageEnsemble) Len() (n int) {
	en.e.locked(func(open bool) { n = cond2(open, func() int { return int(C.feat_image_ensemble_n_members(en.ptr())) }) })
	return n
}

// Dim is the length of one row: the sum of the members' dims (0 once closed).
func (en *ImageEnsemble) Dim() (n int) {
	en.e.locked(func(open bool) { n = cond2(open, en.dimLocked) })
	return n
}

func (en *ImageEnsemble) dimLocked() int { return int(C.feat_image_ensemble_dim(en.ptr())) }

// Taps are every member's resolved taps, in column order.
func (en *ImageEnsemble) Taps() (out []string) {
	for _, m := range en.Members() {
		out = append(out, m.Taps()...)
	}
	return out
}

// TapDims are every member's tap sizes, in column order.
func (en *ImageEnsemble) TapDims() (out []int) {
	for _, m := range en.Members() {
		out = append(out, m.TapDims()...)
	}
	return out
}

// Cancel stops a call in progress (by cancelling the members). Any goroutine.
func (en *ImageEnsemble) Cancel() {
	en.e.cancel(func(p unsafe.Pointer) { C.feat_image_extractor_cancel((*C.feat_image_extractor)(p)) })
}

// ExtractFiles is ImageExtractor.ExtractFiles with every member.
func (en *ImageEnsemble) ExtractFiles(ctx context.Context, paths []string) (*Features, error) {
	defer runtime.KeepAlive(en)
	return en.e.run(ctx, len(paths), en.dimLocked, en.Cancel, imageTarget{ens: en.ptr()}.filesCall(paths))
}

// ExtractEncoded is ImageExtractor.ExtractEncoded with every member.
func (en *ImageEnsemble) ExtractEncoded(ctx context.Context, images [][]byte) (*Features, error) {
	defer runtime.KeepAlive(en)
	return en.e.run(ctx, len(images), en.dimLocked, en.Cancel, imageTarget{ens: en.ptr()}.encodedCall(images))
}

// ExtractRGB8 is ImageExtractor.ExtractRGB8 with every member.
func (en *ImageEnsemble) ExtractRGB8(ctx context.Context, images []RGB8) (*Features, error) {
	if err := checkRGB8(images); err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(en)
	return en.e.run(ctx, len(images), en.dimLocked, en.Cancel, imageTarget{ens: en.ptr()}.rgb8Call(images))
}

// TextEnsemble runs several text extractors (each with its own vocabulary and options) on
// the same texts, with the rules of ImageEnsemble; each member tokenizes with its own
// tokenizer.
type TextEnsemble struct {
	e       ensemble
	members []*TextExtractor
}

func (en *TextEnsemble) ptr() *C.feat_text_ensemble { return (*C.feat_text_ensemble)(en.e.h.p) }

// NewTextEnsemble makes an ensemble of members, named as in NewImageEnsemble.
func NewTextEnsemble(members []*TextExtractor, names []string) (*TextEnsemble, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	hs, err := memberHandles(members, func(m *TextExtractor) *handle { return &m.h })
	if err != nil {
		return nil, err
	}
	var p *C.feat_text_ensemble
	var msg *C.char
	if err := statusErr(C.go_text_ensemble_new(&p, &msg), msg); err != nil {
		return nil, err
	}
	en := &TextEnsemble{e: ensemble{h: handle{p: unsafe.Pointer(p)}}, members: append([]*TextExtractor(nil), members...)}
	runtime.SetFinalizer(en, (*TextEnsemble).Close)
	if err := en.e.add(hs, names, func(i int, name *C.char) error {
		var msg *C.char
		return statusErr(C.go_text_ensemble_add(p, members[i].ptr(), name, &msg), msg)
	}); err != nil {
		en.Close()
		return nil, err
	}
	return en, nil
}

// Close frees the ensemble (not its members) and lets go of them. Safe to call twice.
func (en *TextEnsemble) Close() error {
	en.e.close(func(p unsafe.Pointer) { C.feat_text_ensemble_free((*C.feat_text_ensemble)(p)) },
		func() { en.members = nil })
	runtime.SetFinalizer(en, nil)
	return nil
}

// Members are the extractors of the ensemble, in column order (nil once closed).
func (en *TextEnsemble) Members() (out []*TextExtractor) {
	en.e.locked(func(bool) { out = append(out, en.members...) })
	return out
}

// Len is the number of members (0 once closed).
func (en *TextEnsemble) Len() (n int) {
	en.e.locked(func(open bool) { n = cond2(open, func() int { return int(C.feat_text_ensemble_n_members(en.ptr())) }) })
	return n
}

// Dim is the length of one row: the sum of the members' dims (0 once closed).
func (en *TextEnsemble) Dim() (n int) {
	en.e.locked(func(open bool) { n = cond2(open, en.dimLocked) })
	return n
}

func (en *TextEnsemble) dimLocked() int { return int(C.feat_text_ensemble_dim(en.ptr())) }

// Taps are every member's resolved taps, in column order.
func (en *TextEnsemble) Taps() (out []string) {
	for _, m := range en.Members() {
		out = append(out, m.Taps()...)
	}
	return out
}

// TapDims are every member's tap sizes, in column order.
func (en *TextEnsemble) TapDims() (out []int) {
	for _, m := range en.Members() {
		out = append(out, m.TapDims()...)
	}
	return out
}

// Cancel stops a call in progress (by cancelling the members). Any goroutine.
func (en *TextEnsemble) Cancel() {
	en.e.cancel(func(p unsafe.Pointer) { C.feat_text_extractor_cancel((*C.feat_text_extractor)(p)) })
}

// Extract is TextExtractor.Extract with every member.
func (en *TextEnsemble) Extract(ctx context.Context, texts []string) (*Features, error) {
	b := make([][]byte, len(texts))
	for i, t := range texts {
		b[i] = []byte(t)
	}
	return en.ExtractBytes(ctx, b)
}

// ExtractBytes is TextExtractor.ExtractBytes with every member.
func (en *TextEnsemble) ExtractBytes(ctx context.Context, texts [][]byte) (*Features, error) {
	defer runtime.KeepAlive(en)
	return en.e.run(ctx, len(texts), en.dimLocked, en.Cancel, textTarget{ens: en.ptr()}.textsCall(texts))
}

// ExtractPairs is TextExtractor.ExtractPairs with every member.
func (en *TextEnsemble) ExtractPairs(ctx context.Context, a, b []string) (*Features, error) {
	if len(a) != len(b) {
		return nil, errPairs
	}
	defer runtime.KeepAlive(en)
	return en.e.run(ctx, len(a), en.dimLocked, en.Cancel, textTarget{ens: en.ptr()}.pairsCall(a, b))
}

// cond2 is f() when c holds, else 0.
func cond2(c bool, f func() int) int {
	if c {
		return f()
	}
	return 0
}
