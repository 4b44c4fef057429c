/* SPDX-License-Identifier: MIT */
/* Options and report of feat/finetune.h. */
#include "finetune/finetune_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

feat_status feat_finetune_options_new(feat_finetune_options **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_finetune_options_new: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? FEAT_OK : feat_error_set_tls(FEAT_E_NOMEM, "feat_finetune_options_new: out of memory");
}

void feat_finetune_options_free(feat_finetune_options *o)
{
    if (!o)
        return;
    free(o->train);
    free(o->head_tap);
    free(o->class_weights);
    free(o->checkpoint);
    free(o);
}

#define CHECK_OPTS(fn)                                                                                                 \
  if (!o)                                                                                                              \
  return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, fn ": opts is NULL")

feat_status feat_finetune_options_set_train(feat_finetune_options *o, const char *spec)
{
    CHECK_OPTS("feat_finetune_options_set_train");
    feat_tap_list l;
    if (spec && spec[0] && feat_taps_parse(spec, &l, feat_error_tls()) != FEAT_OK)
        return feat_error_tls()->code;
    for (size_t i = 0; spec && spec[0] && i < l.n; i++)
        if (l.taps[i].pool != FEAT_POOL_AUTO || l.taps[i].call >= 0)
            return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                      "train spec '%s': '%s' names a module to train, without @call or :pool", spec,
                                      l.taps[i].path);
    return feat_taps_set_spec(&o->train, "feat_finetune_options_set_train", spec);
}

feat_status feat_finetune_options_set_head_tap(feat_finetune_options *o, const char *spec)
{
    CHECK_OPTS("feat_finetune_options_set_head_tap");
    feat_tap_list l;
    if (spec && spec[0] && feat_taps_parse(spec, &l, feat_error_tls()) != FEAT_OK)
        return feat_error_tls()->code;
    if (spec && spec[0] && l.n != 1)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "head tap '%s': the head reads exactly one tap, not %zu",
                                  spec, l.n);
    return feat_taps_set_spec(&o->head_tap, "feat_finetune_options_set_head_tap", spec);
}

/* A uint32 option in 0..max. */
static feat_status set_count(feat_finetune_options *o, uint32_t *field, uint32_t v, uint32_t max, const char *fn)
{
    if (!o)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: opts is NULL", fn);
    if (v > max)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: %u is above the limit %u", fn, v, max);
    *field = v;
    return FEAT_OK;
}

feat_status feat_finetune_options_set_epochs(feat_finetune_options *o, uint32_t v)
{
    return set_count(o, o ? &o->epochs : NULL, v, FEAT_FINETUNE_MAX_EPOCHS, "feat_finetune_options_set_epochs");
}

feat_status feat_finetune_options_set_batch_size(feat_finetune_options *o, uint32_t v)
{
    return set_count(o, o ? &o->batch : NULL, v, FEAT_FINETUNE_MAX_BATCH, "feat_finetune_options_set_batch_size");
}

feat_status feat_finetune_options_set_patience(feat_finetune_options *o, uint32_t v)
{
    return set_count(o, o ? &o->patience : NULL, v, FEAT_FINETUNE_MAX_EPOCHS, "feat_finetune_options_set_patience");
}

/* A real option in [lo, hi) (hi_open) or [lo, hi]. */
static feat_status set_real(feat_finetune_options *o, double *field, double v, double lo, double hi, int hi_open,
                            const char *fn)
{
    if (!o)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: opts is NULL", fn);
    if (!isfinite(v) || v < lo || v > hi || (hi_open && v == hi))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: %g is outside [%g, %g%s", fn, v, lo, hi,
                                  hi_open ? ")" : "]");
    *field = v;
    return FEAT_OK;
}

feat_status feat_finetune_options_set_learning_rate(feat_finetune_options *o, double v)
{
    return set_real(o, o ? &o->lr : NULL, v, 0, 1e3, 0, "feat_finetune_options_set_learning_rate");
}

feat_status feat_finetune_options_set_weight_decay(feat_finetune_options *o, double v)
{
    if (v == FEAT_WEIGHT_DECAY_NONE)
        return set_real(o, o ? &o->weight_decay : NULL, v, -1, 1e3, 0, "feat_finetune_options_set_weight_decay");
    return set_real(o, o ? &o->weight_decay : NULL, v, 0, 1e3, 0, "feat_finetune_options_set_weight_decay");
}

feat_status feat_finetune_options_set_validation_fraction(feat_finetune_options *o, double v)
{
    return set_real(o, o ? &o->val_fraction : NULL, v, 0, 0.9, 0, "feat_finetune_options_set_validation_fraction");
}

feat_status feat_finetune_options_set_dropout(feat_finetune_options *o, double v)
{
    return set_real(o, o ? &o->dropout : NULL, v, 0, 1, 1, "feat_finetune_options_set_dropout");
}

/* An enumeration's value in 0..max. */
static feat_status check_enum(const feat_finetune_options *o, int v, int max, const char *fn)
{
    if (!o)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: opts is NULL", fn);
    if (v < 0 || v > max)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: %d not understood", fn, v);
    return FEAT_OK;
}

feat_status feat_finetune_options_set_schedule(feat_finetune_options *o, feat_lr_schedule v)
{
    feat_status st = check_enum(o, (int)v, FEAT_SCHEDULE_COSINE, "feat_finetune_options_set_schedule");
    if (st == FEAT_OK)
        o->schedule = v;
    return st;
}

feat_status feat_finetune_options_set_cache(feat_finetune_options *o, feat_finetune_cache v)
{
    feat_status st = check_enum(o, (int)v, FEAT_CACHE_ON, "feat_finetune_options_set_cache");
    if (st == FEAT_OK)
        o->cache = v;
    return st;
}

feat_status feat_finetune_options_set_seed(feat_finetune_options *o, uint64_t seed)
{
    CHECK_OPTS("feat_finetune_options_set_seed");
    o->seed = seed;
    return FEAT_OK;
}

feat_status feat_finetune_options_set_cache_limit(feat_finetune_options *o, uint64_t bytes)
{
    CHECK_OPTS("feat_finetune_options_set_cache_limit");
    o->cache_limit = bytes;
    return FEAT_OK;
}

feat_status feat_finetune_options_set_progress(feat_finetune_options *o, feat_finetune_progress fn, void *user)
{
    CHECK_OPTS("feat_finetune_options_set_progress");
    o->progress = fn;
    o->progress_user = user;
    return FEAT_OK;
}

feat_status feat_finetune_options_set_checkpoint(feat_finetune_options *o, const char *path, int resume)
{
    CHECK_OPTS("feat_finetune_options_set_checkpoint");
    char *copy = path && path[0] ? strdup(path) : NULL;
    if (path && path[0] && !copy)
        return feat_error_set_tls(FEAT_E_NOMEM, "feat_finetune_options_set_checkpoint: out of memory");
    free(o->checkpoint);
    o->checkpoint = copy;
    o->resume = resume != 0;
    return FEAT_OK;
}

feat_status feat_finetune_options_set_class_weights(feat_finetune_options *o, const float *w, size_t n)
{
    CHECK_OPTS("feat_finetune_options_set_class_weights");
    if (w && (n < 2 || n > FEAT_FINETUNE_MAX_CLASSES))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                  "feat_finetune_options_set_class_weights: %zu weights (2..%d expected)", n,
                                  FEAT_FINETUNE_MAX_CLASSES);
    for (size_t i = 0; w && i < n; i++)
        if (!isfinite(w[i]) || w[i] <= 0)
            return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                      "feat_finetune_options_set_class_weights: weight %zu is %g, not above 0", i,
                                      (double)w[i]);
    float *copy = w ? malloc(n * sizeof *copy) : NULL;
    if (w && !copy)
        return feat_error_set_tls(FEAT_E_NOMEM, "feat_finetune_options_set_class_weights: out of memory");
    if (w)
        memcpy(copy, w, n * sizeof *copy);
    free(o->class_weights);
    o->class_weights = copy;
    o->n_class_weights = w ? n : 0;
    return FEAT_OK;
}

void feat_finetune_resolve(const feat_finetune_options *o, feat_finetune_resolved *r)
{
    static const feat_finetune_options none;
    if (!o)
        o = &none;
    r->epochs = o->epochs ? o->epochs : FEAT_FINETUNE_DEFAULT_EPOCHS;
    r->batch = o->batch ? o->batch : FEAT_FINETUNE_DEFAULT_BATCH;
    r->patience = o->patience;
    r->lr = o->lr > 0 ? o->lr : FEAT_FINETUNE_DEFAULT_LR;
    r->weight_decay = o->weight_decay == 0 ? FEAT_FINETUNE_DEFAULT_WD : o->weight_decay < 0 ? 0 : o->weight_decay;
    r->val_fraction = o->val_fraction;
    r->dropout = o->dropout;
    r->schedule = o->schedule == FEAT_SCHEDULE_DEFAULT ? FEAT_SCHEDULE_CONSTANT : o->schedule;
    r->seed = o->seed;
    r->cache = o->cache;
    r->cache_limit = o->cache_limit ? o->cache_limit : FEAT_FINETUNE_DEFAULT_CACHE_LIMIT;
}

/* ---- report ------------------------------------------------------------------------------ */

feat_finetune_report *feat_finetune_report_alloc(size_t n, uint32_t epochs, uint64_t steps)
{
    feat_finetune_report *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->train_loss = calloc(epochs, sizeof *r->train_loss);
    r->val_acc = calloc(epochs, sizeof *r->val_acc);
    r->step_loss = calloc(steps ? steps : 1, sizeof *r->step_loss);
    r->items = calloc(n ? n : 1, sizeof *r->items);
    r->n_items = n;
    if (!r->train_loss || !r->val_acc || !r->step_loss || !r->items) {
        feat_finetune_report_free(r);
        return NULL;
    }
    return r;
}

void feat_finetune_report_free(feat_finetune_report *r)
{
    if (!r)
        return;
    free(r->train_loss);
    free(r->val_acc);
    free(r->step_loss);
    free(r->items);
    free(r);
}

uint32_t feat_finetune_report_n_epochs(const feat_finetune_report *r) { return r ? r->n_epochs : 0; }

double feat_finetune_report_train_loss(const feat_finetune_report *r, uint32_t e)
{
    return r && e < r->n_epochs ? r->train_loss[e] : NAN;
}

double feat_finetune_report_val_accuracy(const feat_finetune_report *r, uint32_t e)
{
    return r && e < r->n_epochs ? r->val_acc[e] : NAN;
}

uint32_t feat_finetune_report_chosen_epoch(const feat_finetune_report *r) { return r ? r->chosen : 0; }
uint64_t feat_finetune_report_n_steps(const feat_finetune_report *r) { return r ? r->n_steps : 0; }

float feat_finetune_report_step_loss(const feat_finetune_report *r, uint64_t s)
{
    return r && s < r->n_steps ? r->step_loss[s] : NAN;
}

int feat_finetune_report_cached(const feat_finetune_report *r) { return r ? r->cached : 0; }
size_t feat_finetune_report_n_items(const feat_finetune_report *r) { return r ? r->n_items : 0; }

feat_status feat_finetune_report_item_status(const feat_finetune_report *r, size_t i)
{
    return r && i < r->n_items ? r->items[i].code : FEAT_E_INVALID_ARGUMENT;
}

const char *feat_finetune_report_item_error(const feat_finetune_report *r, size_t i)
{
    return r && i < r->n_items ? r->items[i].msg : "";
}
