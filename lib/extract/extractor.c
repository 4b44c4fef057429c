/* SPDX-License-Identifier: MIT */
/* The skeleton the image and the text extractor share (extract/extractor.h). */
#include "extract/extractor.h"

#include "extract/workers.h"

#include <stdlib.h>
#include <string.h>

feat_status feat_extractor_new(const feat_extractor_kind *kind, void **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s_new: out is NULL", kind->api);
    feat_extractor_core *c = calloc(1, kind->size);
    *out = c;
    if (!c)
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory allocating %s", kind->noun);
    c->kind = kind;
    atomic_init(&c->cancel, 0);
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

/* Back to the state of a new extractor (the error slot aside). */
static void unload(feat_extractor_core *c)
{
    c->kind->release(c);
    feat_tapped_release(&c->tapped);
    feat_options_free(c->opts);
    c->opts = NULL;
    c->loaded = 0;
}

void feat_extractor_free(feat_extractor_core *c)
{
    if (c)
        unload(c);
    free(c);
}

static const char *article(const char *word) { return word[0] && strchr("aeiou", word[0]) ? "an" : "a"; }

/* Warm up (the profiling executor optimizes on the second and third run) and learn the tap
 * shapes from a real forward pass. */
static feat_status warm_up(feat_extractor_core *c)
{
    feat_status st = FEAT_OK;
    for (int run = 0; run < 3 && st == FEAT_OK; run++) {
        feat_shim_outputs *o = NULL;
        st = c->kind->warm_run(c, &o);
        if (st == FEAT_OK && run == 0)
            st = feat_tapped_probe(&c->tapped, o, &c->err);
        feat_shim_outputs_free(o);
    }
    return st;
}

static feat_status load_parts(feat_extractor_core *c, const char *model_path, const void *opts, const void *arg)
{
    const feat_extractor_kind *kind = c->kind;
    void *copy;
    feat_status st = feat_options_dup(opts, kind->options_size, &copy, kind->options_copy);
    if (st != FEAT_OK)
        return feat_error_set(&c->err, st, "%s", feat_last_error());
    c->opts = copy;
    c->batch_size = c->opts->batch_size ? c->opts->batch_size : kind->default_batch;
    if ((st = feat_tapped_load(&c->tapped, model_path, c->opts, &c->err)) != FEAT_OK)
        return st;
    const char *input = c->tapped.info.input;
    if (input[0] && strcmp(input, kind->input) != 0)
        return feat_error_set(&c->err, FEAT_E_MODEL, "%s is %s %s model, not %s %s model", model_path, article(input),
                              input, article(kind->input), kind->input);
    if ((st = kind->configure(c, arg)) != FEAT_OK || (st = warm_up(c)) != FEAT_OK)
        return st;
    c->widest_tap = 1;
    for (size_t i = 0; i < c->tapped.taps.n; i++)
        if (c->tapped.tap_dim[i] > c->widest_tap)
            c->widest_tap = c->tapped.tap_dim[i];
    return kind->prepare(c);
}

feat_status feat_extractor_load(const feat_extractor_kind *kind, feat_extractor_core *c, const char *model_path,
                                const void *opts, const void *arg)
{
    if (!c)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s_load: extractor is NULL", kind->api);
    feat_error_clear(&c->err);
    if (c->loaded)
        return feat_error_set(&c->err, FEAT_E_STATE, "the extractor already has a model; use a new extractor");
    if (!model_path)
        return feat_error_set(&c->err, FEAT_E_INVALID_ARGUMENT, "model path is NULL");
    feat_status st = load_parts(c, model_path, opts, arg);
    if (st != FEAT_OK) {
        unload(c);
        return st;
    }
    c->loaded = 1;
    return FEAT_OK;
}

feat_status feat_extractor_clone(const feat_extractor_kind *kind, const feat_extractor_core *src, void **out)
{
    if (!src || !out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s_clone: NULL argument", kind->api);
    *out = NULL;
    if (!src->loaded)
        return feat_error_set_tls(FEAT_E_STATE, "cannot clone an extractor that has no model loaded");
    feat_extractor_core *c = calloc(1, kind->size);
    void *copy = NULL;
    if (!c || feat_options_dup(src->opts, kind->options_size, &copy, kind->options_copy) != FEAT_OK) {
        free(c);
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory cloning an extractor");
    }
    c->kind = kind;
    atomic_init(&c->cancel, 0);
    c->opts = copy;
    c->batch_size = src->batch_size;
    c->widest_tap = src->widest_tap;
    feat_tapped_share(&src->tapped, &c->tapped);
    kind->share(src, c);
    if (kind->prepare(c) != FEAT_OK) {
        feat_status st = feat_error_set_tls(c->err.code, "%s", c->err.msg);
        feat_extractor_free(c);
        return st;
    }
    c->loaded = 1;
    *out = c;
    return FEAT_OK;
}

size_t feat_extractor_dim(const feat_extractor_core *c) { return c && c->loaded ? c->tapped.dim : 0; }

size_t feat_extractor_n_taps(const feat_extractor_core *c) { return c && c->loaded ? c->tapped.taps.n : 0; }

const char *feat_extractor_tap(const feat_extractor_core *c, size_t i)
{
    return c && c->loaded && i < c->tapped.taps.n ? c->tapped.tap_names[i] : "";
}

size_t feat_extractor_tap_dim(const feat_extractor_core *c, size_t i)
{
    return c && c->loaded && i < c->tapped.taps.n ? c->tapped.tap_dim[i] : 0;
}

void feat_extractor_cancel(feat_extractor_core *c)
{
    if (c)
        atomic_store(&c->cancel, 1);
}

feat_status feat_extractor_begin(feat_extractor_core *c, feat_result **out)
{
    if (!out)
        return feat_error_set(&c->err, FEAT_E_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    feat_error_clear(&c->err);
    if (!c->loaded)
        return feat_error_set(&c->err, FEAT_E_STATE, "no model loaded: call %s_load first", c->kind->api);
    atomic_store(&c->cancel, 0);
    return FEAT_OK;
}

feat_status feat_extractor_finish(feat_status st, feat_result *r, feat_result **out)
{
    if (st != FEAT_OK) {
        feat_result_free(r);
        return st;
    }
    *out = r;
    return FEAT_OK;
}

void feat_batch_run_init(feat_batch_run *t, feat_extractor_core *c)
{
    t->core = c;
    t->st = FEAT_OK;
    atomic_init(&t->next, 0);
    atomic_init(&t->stop, 0);
    pthread_mutex_init(&t->mu, NULL);
}

int feat_batch_run_claim(feat_batch_run *t, size_t n_batches, size_t *k)
{
    if (atomic_load(&t->stop) || atomic_load(&t->core->cancel))
        return 0;
    *k = atomic_fetch_add(&t->next, 1);
    return *k < n_batches;
}

void feat_batch_run_fail(feat_batch_run *t, feat_status st, const feat_error *e)
{
    atomic_store(&t->stop, 1);
    pthread_mutex_lock(&t->mu);
    if (t->st == FEAT_OK) {
        t->st = st;
        feat_error_copy(&t->core->err, e);
    }
    pthread_mutex_unlock(&t->mu);
}

feat_status feat_batch_run_end(feat_batch_run *t)
{
    pthread_mutex_destroy(&t->mu);
    if (t->st == FEAT_OK && atomic_load(&t->core->cancel))
        t->st = feat_error_set(&t->core->err, FEAT_E_CANCELLED, "extraction cancelled");
    return t->st;
}

feat_status feat_batch_run_go(feat_batch_run *t, size_t n, int32_t max_share, void (*fn)(void *ctx, size_t worker),
                              void *ctx)
{
    feat_workers_run(n, max_share, fn, ctx);
    return feat_batch_run_end(t);
}
