/* SPDX-License-Identifier: MIT */
/* The skeleton the image and the text extractor share.
 *
 * Each extractor struct starts with a feat_extractor_core (error slot, private options copy,
 * tapped model, batch size, cancel flag) and describes what is its own in a
 * feat_extractor_kind: how it reads its side-car settings, how it warms the model up, what it
 * shares with clones and what per-extractor buffers it needs. The public _new, _free, _load,
 * _clone, _dim, _n_taps, _tap and _cancel functions are then one call each, and the extract
 * calls share their start, their end and the way their batches run on workers. */
#ifndef FEAT_EXTRACT_EXTRACTOR_H
#define FEAT_EXTRACT_EXTRACTOR_H

#include "core/model_options.h"
#include "core/result.h"
#include "extract/tapped.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct feat_extractor_core feat_extractor_core;

typedef struct feat_extractor_kind {
    const char *api;          /* "feat_image_extractor": the prefix of functions named in messages */
    const char *noun;         /* "an image extractor", for out-of-memory messages */
    const char *input;        /* the side-car input kind the extractor runs ("image", "text") */
    const char *options_copy; /* the options' copy function, named in its messages */
    size_t size;              /* of the extractor struct, whose first member is the core */
    size_t options_size;      /* of the options struct, whose first member is feat_model_options */
    uint32_t default_batch;   /* batch size when the options leave it at 0 */
    /* After the model is loaded: the kind's settings from the caller's options and the
     * side-car (arg: what the public load got besides them, or NULL). Error in c->err. */
    feat_status (*configure)(feat_extractor_core *c, const void *arg);
    /* One warm-up forward pass on a minimal input (the first one's outputs give the taps'
     * shapes). */
    feat_status (*warm_run)(feat_extractor_core *c, feat_shim_outputs **o);
    /* For a clone: what the kind shares with, or copies from, the loaded src. */
    void (*share)(const feat_extractor_core *src, feat_extractor_core *c);
    /* Per-extractor buffers, made after a load and for each clone. Error in c->err. */
    feat_status (*prepare)(feat_extractor_core *c);
    /* Frees what configure, share and prepare made, leaving their fields empty; safe on an
     * extractor where they ran only in part, or not at all. */
    void (*release)(feat_extractor_core *c);
} feat_extractor_kind;

/* The fields (to put in braces) of the kind of feat_<name>_extractor, whose options are a
 * feat_<name>_options and whose file defines the static functions configure, warm_run, share,
 * prepare and release. */
#define FEAT_EXTRACTOR_KIND(name, noun_, batch)                                                                        \
  .api = "feat_" #name "_extractor", .noun = noun_, .input = #name, .options_copy = "feat_" #name "_options_copy",     \
  .size = sizeof(feat_##name##_extractor), .options_size = sizeof(feat_##name##_options), .default_batch = batch,      \
  .configure = configure, .warm_run = warm_run, .share = share, .prepare = prepare, .release = release

struct feat_extractor_core {
    const feat_extractor_kind *kind;
    feat_error err;
    feat_model_options *opts; /* private copy of the kind's options; NULL until a load */
    feat_tapped tapped;
    int loaded;
    uint32_t batch_size;
    size_t widest_tap; /* floats of pooling and mean-fusion scratch: the widest tap, at least 1 */
    atomic_int cancel;
};

/* The core of a public extractor pointer (NULL stays NULL): the core is its first member. */
#define FEAT_CORE(ex) ((feat_extractor_core *)(void *)(ex))
#define FEAT_CORE_CONST(ex) ((const feat_extractor_core *)(const void *)(ex))

feat_status feat_extractor_new(const feat_extractor_kind *kind, void **out);
void feat_extractor_free(feat_extractor_core *c);
/* Checks, copies the options, loads the model with its taps, runs kind->configure, warms up
 * and probes the taps, runs kind->prepare. A load that fails leaves the extractor as new, so
 * that it can be retried. */
feat_status feat_extractor_load(const feat_extractor_kind *kind, feat_extractor_core *c, const char *model_path,
                                const void *opts, const void *arg);
feat_status feat_extractor_clone(const feat_extractor_kind *kind, const feat_extractor_core *src, void **out);
size_t feat_extractor_dim(const feat_extractor_core *c);
size_t feat_extractor_n_taps(const feat_extractor_core *c);
const char *feat_extractor_tap(const feat_extractor_core *c, size_t i);
size_t feat_extractor_tap_dim(const feat_extractor_core *c, size_t i);
void feat_extractor_cancel(feat_extractor_core *c);

/* The start of an extract call (c is not NULL): out checked and set to NULL, the error slot
 * cleared, a model loaded, the cancel flag reset. */
feat_status feat_extractor_begin(feat_extractor_core *c, feat_result **out);
/* The end: a failed call frees its result (no partial result escapes), else *out = r. */
feat_status feat_extractor_finish(feat_status st, feat_result *r, feat_result **out);

/* Failures of a forward pass that are not the items' fault: the whole call fails. Any other
 * failure fails the batch's items only. */
static inline int feat_extractor_fatal(feat_status st)
{
    return st == FEAT_E_NOMEM || st == FEAT_E_DEVICE || st == FEAT_E_STATE || st == FEAT_E_INTERNAL;
}

/* One call's batches on workers side by side (workers.h): they claim batches from a shared
 * counter, and the first failure stops them all. */
typedef struct feat_batch_run {
    feat_extractor_core *core;
    atomic_size_t next;
    atomic_int stop;
    pthread_mutex_t mu; /* guards st and core->err; the caller may guard more with it */
    feat_status st;
} feat_batch_run;

void feat_batch_run_init(feat_batch_run *t, feat_extractor_core *c);
/* The next of n_batches batches in *k; 0 when they are all claimed, the run stopped or the
 * call was cancelled. */
int feat_batch_run_claim(feat_batch_run *t, size_t n_batches, size_t *k);
/* Stops the run; the first failure's status and message become the call's. */
void feat_batch_run_fail(feat_batch_run *t, feat_status st, const feat_error *e);
/* Ends the run once its threads are done; its status: the first failure, else
 * FEAT_E_CANCELLED when the call was cancelled meanwhile. */
feat_status feat_batch_run_end(feat_batch_run *t);
/* Runs fn on n workers (feat_workers_run with max_share), then ends the run. */
feat_status feat_batch_run_go(feat_batch_run *t, size_t n, int32_t max_share, void (*fn)(void *ctx, size_t worker),
                              void *ctx);

#endif /* FEAT_EXTRACT_EXTRACTOR_H */
