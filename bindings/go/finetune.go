package feat

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime/cgo"
	"unsafe"
)

// Schedule is the learning-rate schedule of a fine-tuning run (feat_lr_schedule).
type Schedule int

// CacheMode says whether the untrained layers' activations are cached (feat_finetune_cache).
type CacheMode int

const (
	ScheduleDefault  Schedule = 0 // constant
	ScheduleConstant Schedule = 1
	ScheduleCosine   Schedule = 2 // lr * 0.5 * (1 + cos(pi * step / steps))

	CacheDefault CacheMode = 0 // on when the split is exact and the cache fits its limit
	CacheOff     CacheMode = 1
	CacheOn      CacheMode = 2 // required: the run fails when it cannot cache

	// WeightDecayNone asks for no weight decay (0 means the default, 1e-2).
	WeightDecayNone = -1.0
)

// FinetuneOptions configures a fine-tuning run (feat/finetune.h); zero values mean the
// defaults.
type FinetuneOptions struct {
	Train              string // modules to train, tap grammar without pooling ("" = the last block)
	HeadTap            string // the head's input, "path:pool" ("" = the last default tap)
	Epochs             uint32 // 0 = 3
	BatchSize          uint32 // 0 = 16
	LearningRate       float64
	Schedule           Schedule
	WeightDecay        float64 // 0 = 1e-2, WeightDecayNone = none
	Seed               uint64
	ValidationFraction float64 // of each class, held out to choose the epoch
	Patience           uint32  // early stopping after this many epochs without a better accuracy
	Dropout            float64 // before the head
	ClassWeights       []float32
	Cache              CacheMode
	CacheLimit         uint64 // bytes; 0 = 1 GiB
	Checkpoint         string // written after every epoch ("" = none)
	Resume             bool   // continue from Checkpoint when it exists
	// Progress is called after every step (valAccuracy NaN) and after each epoch (loss: the
	// epoch's mean, valAccuracy: its validation accuracy, or -1 without validation), on the
	// goroutine of the run. Returning true cancels the run (ErrCancelled, nothing written).
	Progress func(epoch uint32, step uint64, loss, valAccuracy float64) bool
}

// FinetuneReport is what a run reports: per epoch the training loss and the validation
// accuracy (NaN without validation), the chosen epoch, every step's loss, whether the cache
// was used, and per input item its status and message (StatusOK and "" for the items that
// trained; the others were left out).
type FinetuneReport struct {
	TrainLoss   []float64
	ValAccuracy []float64
	ChosenEpoch int
	StepLosses  []float32
	Cached      bool
	Statuses    []Status
	Errors      []string
}

// ItemErr is why input i was left out, nil when it trained.
func (r *FinetuneReport) ItemErr(i int) error {
	if r.Statuses[i] == StatusOK {
		return nil
	}
	return &Error{Status: r.Statuses[i], Message: r.Errors[i]}
}

// progressState is what the trampoline reaches through its cgo.Handle: the callback, the
// context, and a panic of the callback, which is recovered there (it must not unwind through
// the C frames of the run) and raised again once the run has returned.
type progressState struct {
	ctx      context.Context
	fn       func(epoch uint32, step uint64, loss, valAccuracy float64) bool
	panicked bool
	value    any
}

//export goFinetuneProgress
func goFinetuneProgress(h C.uintptr_t, epoch C.uint32_t, step C.uint64_t, loss, valAccuracy C.double) (stop C.int) {
	p := cgo.Handle(h).Value().(*progressState)
	defer func() {
		if r := recover(); r != nil {
			p.panicked, p.value, stop = true, r, 1
		}
	}()
	if p.ctx.Err() != nil {
		return 1
	}
	if p.fn != nil && p.fn(uint32(epoch), uint64(step), float64(loss), float64(valAccuracy)) {
		return 1
	}
	return 0
}

func (o *FinetuneOptions) toC() (*C.feat_finetune_options, error) {
	var p *C.feat_finetune_options
	var msg *C.char
	if err := statusErr(C.go_finetune_options_new(&p, &msg), msg); err != nil {
		return nil, err
	}
	set := func(kind int, a uint64, x float64, s string, w []float32) error {
		var cs *C.char
		if s != "" {
			cs = C.CString(s)
			defer C.free(unsafe.Pointer(cs))
		}
		var cw *C.float
		if len(w) > 0 { // Go memory without Go pointers, only read during the call
			cw = (*C.float)(unsafe.Pointer(&w[0]))
		}
		var msg *C.char
		return statusErr(C.go_finetune_set(p, C.int(kind), C.uint64_t(a), C.double(x), cs, cw, C.size_t(len(w)), &msg), msg)
	}
	resume := uint64(0)
	if o.Resume {
		resume = 1
	}
	steps := []func() error{
		func() error { return set(0, 0, 0, o.Train, nil) },
		func() error { return set(1, 0, 0, o.HeadTap, nil) },
		func() error { return set(2, uint64(o.Epochs), 0, "", nil) },
		func() error { return set(3, uint64(o.BatchSize), 0, "", nil) },
		func() error { return set(4, 0, o.LearningRate, "", nil) },
		func() error { return set(5, uint64(o.Schedule), 0, "", nil) },
		func() error { return set(6, 0, o.WeightDecay, "", nil) },
		func() error { return set(7, o.Seed, 0, "", nil) },
		func() error { return set(8, 0, o.ValidationFraction, "", nil) },
		func() error { return set(9, uint64(o.Patience), 0, "", nil) },
		func() error { return set(10, 0, o.Dropout, "", nil) },
		func() error { return cond(o.ClassWeights != nil, func() error { return set(11, 0, 0, "", o.ClassWeights) }) },
		func() error { return set(12, uint64(o.Cache), 0, "", nil) },
		func() error { return set(13, o.CacheLimit, 0, "", nil) },
		func() error { return set(14, resume, 0, o.Checkpoint, nil) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			C.feat_finetune_options_free(p)
			return nil, err
		}
	}
	return p, nil
}

// FinetuneImages fine-tunes the image model at model on image files with labels in 0..K-1
// (K >= 2, every class present) and writes the tuned model to out (and its side-car, out with
// .json for .pt); the extractors load it like any model. opts nil = the defaults. The context
// is checked at every step: when it is done the run stops with an error matching both
// ErrCancelled and ctx.Err(). Images that cannot be read or decoded are left out and named in
// the report. A panic of opts.Progress cancels the run and is raised again from here.
func FinetuneImages(ctx context.Context, model string, paths []string, labels []int, out string, opts *FinetuneOptions) (*FinetuneReport, error) {
	in := make([][]byte, len(paths))
	for i, p := range paths {
		in[i] = []byte(p)
	}
	return finetune(ctx, 0, model, in, labels, out, opts)
}

// FinetuneTexts is FinetuneImages for a text model and UTF-8 texts (tokenized with the
// model's side-car settings; a text is cut at a NUL byte).
func FinetuneTexts(ctx context.Context, model string, texts []string, labels []int, out string, opts *FinetuneOptions) (*FinetuneReport, error) {
	in := make([][]byte, len(texts))
	for i, t := range texts {
		in[i] = []byte(t)
	}
	return finetune(ctx, 1, model, in, labels, out, opts)
}

func finetune(ctx context.Context, text int, model string, in [][]byte, labels []int, out string, opts *FinetuneOptions) (*FinetuneReport, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	if len(in) != len(labels) {
		return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("%d inputs but %d labels", len(in), len(labels))}
	}
	if opts == nil {
		opts = &FinetuneOptions{}
	}
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.feat_finetune_options_free(co)
	state := &progressState{ctx: ctx, fn: opts.Progress}
	h := cgo.NewHandle(state)
	defer h.Delete()
	var msg *C.char
	if err := statusErr(C.go_finetune_set_progress(co, C.uintptr_t(h), &msg), msg); err != nil {
		return nil, err
	}
	var a cArena
	defer a.free()
	arr := unsafe.Slice((**C.char)(a.array(len(in), int(unsafe.Sizeof(uintptr(0))))), len(in)+1)
	lab := unsafe.Slice((*C.int32_t)(a.array(len(in), 4)), len(in)+1)
	for i, b := range in {
		if labels[i] < math.MinInt32 || labels[i] > math.MaxInt32 {
			return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("label %d of item %d is out of range", labels[i], i)}
		}
		arr[i], lab[i] = (*C.char)(a.bytes(b)), C.int32_t(labels[i])
	}
	cm, cout := C.CString(model), C.CString(out)
	defer C.free(unsafe.Pointer(cm))
	defer C.free(unsafe.Pointer(cout))
	var rep *C.feat_finetune_report
	st := C.go_finetune(C.int(text), cm, &arr[0], &lab[0], C.size_t(len(in)), co, cout, &rep, &msg)
	report := readReport(rep)
	C.feat_finetune_report_free(rep)
	if state.panicked {
		C.free(unsafe.Pointer(msg))
		panic(state.value)
	}
	if err := statusErr(st, msg); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", err, ctx.Err())
		}
		return nil, err
	}
	return report, nil
}

// readReport copies a C report (NULL: nil) into Go.
func readReport(r *C.feat_finetune_report) *FinetuneReport {
	if r == nil {
		return nil
	}
	epochs := int(C.feat_finetune_report_n_epochs(r))
	out := &FinetuneReport{ChosenEpoch: int(C.feat_finetune_report_chosen_epoch(r)),
		Cached: C.feat_finetune_report_cached(r) != 0}
	for e := 0; e < epochs; e++ {
		out.TrainLoss = append(out.TrainLoss, float64(C.feat_finetune_report_train_loss(r, C.uint32_t(e))))
		out.ValAccuracy = append(out.ValAccuracy, float64(C.feat_finetune_report_val_accuracy(r, C.uint32_t(e))))
	}
	steps := uint64(C.feat_finetune_report_n_steps(r))
	for s := uint64(0); s < steps; s++ {
		out.StepLosses = append(out.StepLosses, float32(C.feat_finetune_report_step_loss(r, C.uint64_t(s))))
	}
	n := int(C.feat_finetune_report_n_items(r))
	for i := 0; i < n; i++ {
		out.Statuses = append(out.Statuses, Status(C.feat_finetune_report_item_status(r, C.size_t(i))))
		out.Errors = append(out.Errors, C.GoString(C.feat_finetune_report_item_error(r, C.size_t(i))))
	}
	return out
}
