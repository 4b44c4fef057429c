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

/* ---- Training (feat/finetune.h) ----------------------------------------------------------
 * A trainer works on a model loaded with feat_shim_load and never prepared: freezing inlines
 * the parameters, so the module that trains is a separate, unfrozen load. TorchScript records
 * BatchNorm and dropout as they were at export (eval for traced models), so the backbone
 * trains with fixed BatchNorm statistics and no dropout of its own; the optional dropout is
 * applied to the pooled tap, before the head. */
typedef struct feat_shim_trainer feat_shim_trainer;

typedef struct feat_shim_train_setup {
    const char *const *train; /* concrete module paths: every parameter under them trains */
    size_t n_train;
    const char *tap;            /* concrete module path whose output, pooled, feeds the head */
    int32_t pool;               /* feat_pool, resolved (never AUTO) */
    int32_t layout;             /* feat_layout of the tap's output (gap on NHWC reduces dims 1, 2) */
    int64_t n_classes;          /* head outputs, >= 2 */
    double lr;                  /* AdamW learning rate (feat_shim_trainer_set_lr changes it) */
    double weight_decay;        /* AdamW decoupled weight decay */
    uint64_t seed;              /* head init (torch.manual_seed) and the epoch permutations */
    double dropout;             /* probability before the head, 0 = none */
    const float *class_weights; /* n_classes cross-entropy weights, or NULL */
    int cache;                  /* 1: try to cache the untrained prefix (feat_shim_trainer_cache) */
    size_t n_items;             /* cache slots (data set items) */
    size_t cache_limit;         /* bytes the cache may hold */
} feat_shim_train_setup;

/* One batch of data set items. items: the data set indices (cache keys); labels: the classes
 * (step only). Image models: x [b, channels, height, width] float32, or NULL when every item is cached. Text
 * models: ids, mask, types [b, s] int64, always (the layers after the cut read the mask). */
typedef struct feat_shim_batch {
    int64_t b;
    const int64_t *items, *labels;
    const float *x;
    int64_t channels, height, width;
    const int64_t *ids, *mask, *types;
    int64_t s;
} feat_shim_batch;

/* Makes a trainer on m (one more reference): sets which parameters train, splits forward at
 * the first call of a trained module when setup->cache asks for it and the split is exact (no
 * parameter of a trained module in the part before the cut, and for image models the part after
 * it does not read the image), initialises the head under torch::manual_seed(seed) as
 * torch.nn.Linear does, and creates AdamW over the trained parameters and the head. */
feat_status feat_shim_trainer_new(feat_shim_model *m, const feat_shim_train_setup *setup, feat_shim_trainer **out,
                                  feat_error *err);
void feat_shim_trainer_free(feat_shim_trainer *t);

/* 1 when the prefix can be cached (the split was made); the cache is filled by
 * feat_shim_trainer_cache. */
int feat_shim_trainer_can_cache(const feat_shim_trainer *t);
/* Computes and stores the prefix activations of a batch (no autograd). FEAT_E_LIMIT when the
 * whole data set would exceed setup->cache_limit: the cache is then dropped and steps run the
 * full forward. */
feat_status feat_shim_trainer_cache(feat_shim_trainer *t, const feat_shim_batch *batch, feat_error *err);
/* 1 when the item's prefix activation is cached. */
int feat_shim_trainer_cached(const feat_shim_trainer *t, int64_t item);
/* Length of the pooled tap (the head's input), known after the first step, cache or predict. */
int64_t feat_shim_trainer_head_dim(const feat_shim_trainer *t);
/* The next epoch's order of n items: torch.randperm(n, generator) on a generator seeded once
 * with setup->seed. */
feat_status feat_shim_trainer_permutation(feat_shim_trainer *t, int64_t n, int64_t *out, feat_error *err);
feat_status feat_shim_trainer_set_lr(feat_shim_trainer *t, double lr, feat_error *err);
/* zero_grad, forward with autograd, cross-entropy, backward, AdamW step; the batch's loss. */
feat_status feat_shim_trainer_step(feat_shim_trainer *t, const feat_shim_batch *batch, float *loss, feat_error *err);
/* Arg-max classes of a batch without autograd or dropout. */
feat_status feat_shim_trainer_predict(feat_shim_trainer *t, const feat_shim_batch *batch, int64_t *pred,
                                      feat_error *err);
/* Keeps a copy of the trained parameters and the head / puts that copy back (the chosen epoch). */
feat_status feat_shim_trainer_snapshot(feat_shim_trainer *t, feat_error *err);
feat_status feat_shim_trainer_restore(feat_shim_trainer *t, feat_error *err);
/* Checkpoints: the whole training state (trained parameters, head, AdamW state, the epoch-order
 * generator, the global generator behind dropout, the kept best weights) plus n doubles of the
 * caller's own state, written to path.tmp and renamed. resume reads them back into a trainer
 * made with the same setup (*state: malloc'd copy of the caller's doubles, *n their count). */
feat_status feat_shim_trainer_checkpoint(feat_shim_trainer *t, const char *path, const double *state, size_t n,
                                         feat_error *err);
feat_status feat_shim_trainer_resume(feat_shim_trainer *t, const char *path, double **state, size_t *n,
                                     feat_error *err);
/* The head as [n_classes, dim + 1] floats, row k = weight row k then bias k (dst: that many). */
feat_status feat_shim_trainer_head(const feat_shim_trainer *t, float *dst, feat_error *err);
/* Saves the module with its trained weights and the head as parameters feat_head_weight
 * [n_classes, dim] and feat_head_bias [n_classes] (written to path.tmp, then renamed). */
feat_status feat_shim_trainer_save(feat_shim_trainer *t, const char *path, feat_error *err);

#ifdef __cplusplus
}
#endif

#endif
