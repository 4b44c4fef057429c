/* SPDX-License-Identifier: MIT */
/* Internal C interface of the libtorch backend (shim/torch_shim.cpp).
 *
 * The only C++ in libfeat sits behind this header. No C++ exception crosses it: every
 * function catches everything and reports a status and message through `err`.
 * A build without libtorch compiles shim/shim_none.c instead, whose functions fail with
 * FEAT_E_UNSUPPORTED. */
#ifndef FEAT_SHIM_H
#define FEAT_SHIM_H

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FEAT_SHIM_MAX_DIMS 8

typedef struct feat_shim_model feat_shim_model;
typedef struct feat_shim_outputs feat_shim_outputs;

/* 1 when this build has an inference backend. */
int feat_shim_available(void);

/* Loads a TorchScript archive onto a device ("cpu", "cuda:N"; NULL = "cpu") in eval mode.
 * The model is reference counted: feat_shim_ref/unref; unref(NULL) is a no-op. */
feat_status feat_shim_load(const char *path, const char *device, feat_shim_model **out, feat_error *err);
feat_shim_model *feat_shim_ref(feat_shim_model *m);
void feat_shim_unref(feat_shim_model *m);

/* Dotted paths of every submodule, in definition order (borrowed, live as long as m). */
void feat_shim_modules(const feat_shim_model *m, const char *const **paths, size_t *n);

/* Number of tensor inputs of forward (self excluded). */
size_t feat_shim_n_inputs(const feat_shim_model *m);

/* Adds the taps ("path" or "path@k" for the k-th call of a module called several times) as
 * outputs of a new method by graph surgery, prunes everything after the deepest tap, then
 * freezes and optimizes the module for inference. With lenient != 0, taps that cannot be
 * located are skipped and their reason stored in tap_err[i] (n entries; tap_err may be NULL;
 * tap_err[i].code is FEAT_OK for taps that were added).
 * Must be called once, before feat_shim_run_*; not thread-safe against runs. */
feat_status feat_shim_prepare(feat_shim_model *m, const char *const *taps, size_t n, int freeze, int lenient,
                              feat_error *tap_err, feat_error *err);

/* Precision of the runs (feat_precision: 0/1 float32, 2 bfloat16 under libtorch's autocast,
 * thread-local around each run; outputs still float32). Call between load and prepare: it
 * changes how the graph is optimized. */
feat_status feat_shim_set_precision(feat_shim_model *m, int32_t precision, feat_error *err);

/* Runs the tap method on an image batch x [b, c, h, w] float32 (contiguous). Thread-safe:
 * several threads may run the same prepared model at once. */
feat_status feat_shim_run_image(feat_shim_model *m, const float *x, int64_t b, int64_t c, int64_t h, int64_t w,
                                feat_shim_outputs **out, feat_error *err);

/* Runs the tap method on a token batch: ids, attention mask and token type ids, each
 * [b, s] int64 (contiguous). Thread-safe like feat_shim_run_image. */
feat_status feat_shim_run_text(feat_shim_model *m, const int64_t *ids, const int64_t *mask, const int64_t *types,
                               int64_t b, int64_t s, feat_shim_outputs **out, feat_error *err);

/* Outputs of one run: one float32 contiguous tensor per prepared tap, on the CPU, each with at
 * most FEAT_SHIM_MAX_DIMS dimensions (a run whose taps have more fails with
 * FEAT_E_UNSUPPORTED rather than describe a cut-off shape). */
size_t feat_shim_outputs_n(const feat_shim_outputs *o);
size_t feat_shim_outputs_shape(const feat_shim_outputs *o, size_t i, int64_t dims[FEAT_SHIM_MAX_DIMS]);
const float *feat_shim_outputs_data(const feat_shim_outputs *o, size_t i);
void feat_shim_outputs_free(feat_shim_outputs *o);

/* Process-wide thread budget (feat_global_set_threads). */
feat_status feat_shim_set_threads(int32_t n, feat_error *err);
int32_t feat_shim_threads(void);

/* ATen intra-op threads for the runs made on the calling thread from now on (n workers each
 * running batches take budget / n each); 0 goes back to the whole budget. */
void feat_shim_set_thread_share(int32_t n);

#ifdef __cplusplus
}
#endif

#endif
