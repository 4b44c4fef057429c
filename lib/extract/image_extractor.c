/* The image extractor: decode + preprocess (lib/image) -> batched forward with taps (shim)
 * -> pooling and fusion (lib/taps) -> one row per item in a feat_result. */
#include "core/result.h"
#include "extract/tapped.h"
#include "extract/workers.h"
#include "feat/image.h"
#include "image/image_internal.h"
#include "image/image_options.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One batch of preprocessed inputs and the items they came from. */
typedef struct batch {
    float *x;      /* batch_size input tensors */
    size_t *items; /* item index of each filled slot */
    size_t filled;
} batch;

struct feat_image_extractor {
    feat_error err;
    feat_image_options *opts; /* private copy */
    feat_preprocess pp;
    feat_tapped tapped;
    int loaded;
    uint32_t batch_size;
    atomic_int cancel;
    batch bufs[2];     /* two batches: decoding fills one while the model runs the other */
    int pipelined;     /* decode on a worker thread, overlapped with inference */
    float *scratch;    /* mean fusion */
    size_t scratch_n;
    feat_image_scratch *decode; /* decoder buffers, reused across images */
};

/* Where item i comes from. */
typedef struct image_source {
    enum { SRC_FILE, SRC_ENCODED, SRC_RGB8 } kind;
    const char *const *paths;
    const void *const *data;
    const size_t *sizes;
    const uint8_t *const *pixels;
    const uint32_t *widths, *heights;
    const size_t *strides;
} image_source;

static size_t input_floats(const feat_preprocess *pp) { return feat_preprocess_tensor_count(pp); }

feat_status feat_image_extractor_new(feat_image_extractor **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_image_extractor_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory allocating an image extractor");
    atomic_init(&(*out)->cancel, 0);
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

void feat_image_extractor_free(feat_image_extractor *ex)
{
    if (!ex)
        return;
    feat_tapped_release(&ex->tapped);
    feat_image_options_free(ex->opts);
    feat_image_scratch_free(ex->decode);
    for (int k = 0; k < 2; k++) {
        free(ex->bufs[k].x);
        free(ex->bufs[k].items);
    }
    free(ex->scratch);
    free(ex);
}

const char *feat_image_extractor_last_error(const feat_image_extractor *ex)
{
    return ex ? ex->err.msg : "feat_image_extractor_last_error: extractor is NULL";
}

/* Buffers sized from the options and the probed dims; separate so clones get their own. */
static feat_status alloc_buffers(feat_image_extractor *ex)
{
    size_t per = input_floats(&ex->pp);
    if (ex->batch_size && per > SIZE_MAX / sizeof(float) / ex->batch_size)
        return feat_error_set(&ex->err, FEAT_E_LIMIT, "batch of %u images of %zu floats is too large", ex->batch_size,
                              per);
    ex->pipelined = (ex->opts->decode_threads ? ex->opts->decode_threads : 1) >= 1;
    for (int k = 0; k < 2; k++) {
        ex->bufs[k].x = malloc((size_t)ex->batch_size * per * sizeof(float));
        ex->bufs[k].items = malloc((size_t)ex->batch_size * sizeof(size_t));
        if (!ex->bufs[k].x || !ex->bufs[k].items)
            return feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory allocating a batch of %u images",
                                  ex->batch_size);
    }
    ex->scratch_n = 0;
    for (size_t i = 0; i < ex->tapped.taps.n; i++)
        if (ex->tapped.tap_dim[i] > ex->scratch_n)
            ex->scratch_n = ex->tapped.tap_dim[i];
    ex->scratch = malloc((ex->scratch_n ? ex->scratch_n : 1) * sizeof(float));
    ex->decode = feat_image_scratch_new();
    if (!ex->scratch || !ex->decode)
        return feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory allocating a batch of %u images", ex->batch_size);
    return FEAT_OK;
}

feat_status feat_image_extractor_load(feat_image_extractor *ex, const char *model_path,
                                      const feat_image_options *opts)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_image_extractor_load: extractor is NULL");
    feat_error_clear(&ex->err);
    if (ex->loaded)
        return feat_error_set(&ex->err, FEAT_E_STATE, "the extractor already has a model; use a new extractor");
    if (!model_path)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "model path is NULL");
    feat_status st = feat_image_options_copy(opts, &ex->opts);
    if (st != FEAT_OK)
        return feat_error_set(&ex->err, st, "%s", feat_last_error());
    ex->batch_size = ex->opts->model.batch_size ? ex->opts->model.batch_size : FEAT_IMAGE_DEFAULT_BATCH_SIZE;
    st = feat_tapped_load(&ex->tapped, model_path, &ex->opts->model, &ex->err);
    if (st != FEAT_OK)
        return st;
    if (ex->tapped.info.input[0] && strcmp(ex->tapped.info.input, "image") != 0) {
        st = feat_error_set(&ex->err, FEAT_E_MODEL, "%s is a %s model, not an image model", model_path,
                            ex->tapped.info.input);
        goto fail;
    }
    /* The side-car's crop size applies unless the caller chose one. */
    if (!ex->opts->crop_w && !ex->opts->crop_h && ex->tapped.info.crop)
        ex->opts->crop_w = ex->opts->crop_h = ex->tapped.info.crop;
    if ((st = feat_preprocess_resolve(ex->opts, ex->tapped.info.preset, ex->tapped.info.resize, &ex->pp, &ex->err)) !=
        FEAT_OK)
        goto fail;
    /* Warm up (the profiling executor optimizes on the second and third run) and learn the
     * tap shapes from a real forward pass. */
    size_t per = input_floats(&ex->pp);
    float *zeros = calloc(per, sizeof *zeros);
    if (!zeros) {
        st = feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory");
        goto fail;
    }
    for (int run = 0; run < 3 && st == FEAT_OK; run++) {
        feat_shim_outputs *o;
        st = feat_shim_run_image(ex->tapped.model, zeros, 1, 3, (int64_t)ex->pp.crop_h,
                                 (int64_t)ex->pp.crop_w, &o, &ex->err);
        if (st == FEAT_OK && run == 0)
            st = feat_tapped_probe(&ex->tapped, o, &ex->err);
        feat_shim_outputs_free(o);
    }
    free(zeros);
    if (st != FEAT_OK || (st = alloc_buffers(ex)) != FEAT_OK)
        goto fail;
    ex->loaded = 1;
    return FEAT_OK;
fail:
    feat_tapped_release(&ex->tapped);
    return st;
}

feat_status feat_image_extractor_clone(const feat_image_extractor *ex, feat_image_extractor **out)
{
    if (!ex || !out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_image_extractor_clone: NULL argument");
    *out = NULL;
    if (!ex->loaded)
        return feat_error_set_tls(FEAT_E_STATE, "cannot clone an extractor that has no model loaded");
    feat_image_extractor *c = calloc(1, sizeof *c);
    if (!c)
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory cloning an extractor");
    atomic_init(&c->cancel, 0);
    if (feat_image_options_copy(ex->opts, &c->opts) != FEAT_OK) {
        free(c);
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory cloning an extractor");
    }
    c->pp = ex->pp;
    c->batch_size = ex->batch_size;
    feat_tapped_share(&ex->tapped, &c->tapped);
    if (alloc_buffers(c) != FEAT_OK) {
        feat_status st = feat_error_set_tls(c->err.code, "%s", c->err.msg);
        feat_image_extractor_free(c);
        return st;
    }
    c->loaded = 1;
    *out = c;
    return FEAT_OK;
}

size_t feat_image_extractor_dim(const feat_image_extractor *ex) { return ex && ex->loaded ? ex->tapped.dim : 0; }

size_t feat_image_extractor_n_taps(const feat_image_extractor *ex)
{
    return ex && ex->loaded ? ex->tapped.taps.n : 0;
}

const char *feat_image_extractor_tap(const feat_image_extractor *ex, size_t i)
{
    return ex && ex->loaded && i < ex->tapped.taps.n ? ex->tapped.tap_names[i] : "";
}

void feat_image_extractor_cancel(feat_image_extractor *ex)
{
    if (ex)
        atomic_store(&ex->cancel, 1);
}

/* Messages name the item: files by path (the decoder does that), others by index. */
static feat_status preprocess_item(feat_image_extractor *ex, feat_image_scratch *scratch, const image_source *src,
                                   size_t i, float *dst, feat_error *e)
{
    feat_status st;
    switch (src->kind) {
    case SRC_FILE:
        if (!src->paths[i])
            return feat_error_set(e, FEAT_E_INVALID_ARGUMENT, "item %zu: path is NULL", i);
        return feat_image_preprocess_path(&ex->pp, scratch, src->paths[i], dst, e);
    case SRC_ENCODED:
        st = !src->data[i] && src->sizes[i]
                 ? feat_error_set(e, FEAT_E_INVALID_ARGUMENT, "data is NULL")
                 : feat_image_preprocess_bytes_s(&ex->pp, scratch, src->data[i], src->sizes[i], dst, e);
        break;
    case SRC_RGB8:
        st = feat_image_preprocess_rgb8_s(&ex->pp, scratch, src->pixels[i], src->widths[i], src->heights[i],
                                          src->strides ? src->strides[i] : 0, dst, e);
        break;
    default:
        st = feat_error_set(e, FEAT_E_INTERNAL, "unknown image source");
    }
    if (st != FEAT_OK)
        feat_error_prefix(e, "item %zu", i);
    return st;
}

/* Preprocesses items from *next on until the batch holds batch_size inputs or the items run
 * out; items that fail get their error in the result right away (each item's slot in the
 * result is written by exactly one thread). */
static void fill_batch(feat_image_extractor *ex, feat_image_scratch *scratch, const image_source *src, size_t n,
                       size_t *next, batch *b, feat_result *r)
{
    size_t per = input_floats(&ex->pp);
    b->filled = 0;
    while (*next < n && b->filled < ex->batch_size && !atomic_load(&ex->cancel)) {
        feat_error e = {0};
        if (preprocess_item(ex, scratch, src, *next, b->x + b->filled * per, &e) == FEAT_OK)
            b->items[b->filled++] = *next;
        else
            feat_result_set_error(r, *next, &e);
        (*next)++;
    }
}

/* Runs one batch through the model and pools its rows (fusion scratch: scratch_n floats).
 * Returns a status, with the message in *fatal, only for failures that are not the items'
 * fault (the whole call then fails). */
static feat_status run_batch(feat_image_extractor *ex, const batch *b, float *fusion, feat_result *r,
                             feat_error *fatal)
{
    if (!b->filled)
        return FEAT_OK;
    feat_shim_outputs *o;
    feat_error e = {0};
    feat_status st = feat_shim_run_image(ex->tapped.model, b->x, (int64_t)b->filled, 3, (int64_t)ex->pp.crop_h,
                                         (int64_t)ex->pp.crop_w, &o, &e);
    if (st == FEAT_E_NOMEM || st == FEAT_E_DEVICE || st == FEAT_E_STATE || st == FEAT_E_INTERNAL) {
        feat_error_copy(fatal, &e);
        return st;
    }
    for (size_t k = 0; k < b->filled; k++) {
        if (st != FEAT_OK) {
            feat_result_set_error(r, b->items[k], &e);
            continue;
        }
        feat_tapped_pool_item(&ex->tapped, o, (int64_t)k, NULL, feat_result_row(r, b->items[k]), fusion);
        feat_result_set_ok(r, b->items[k]);
    }
    feat_shim_outputs_free(o);
    return FEAT_OK;
}

/* Decoding overlapped with inference: a worker fills batch k+1 while the caller's thread runs
 * batch k. Two buffers, handed back and forth under one mutex. */
typedef struct pipeline {
    feat_image_extractor *ex;
    const image_source *src;
    size_t n, next;
    feat_result *r;
    batch *bufs;          /* 2 */
    int ready[2];         /* filled and not yet run */
    int stop, worker_done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pipeline;

static void *decode_worker(void *arg)
{
    pipeline *p = arg;
    for (size_t k = 0;; k++) {
        int slot = (int)(k & 1);
        pthread_mutex_lock(&p->mu);
        while (p->ready[slot] && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop || p->next >= p->n;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        fill_batch(p->ex, p->ex->decode, p->src, p->n, &p->next, &p->bufs[slot], p->r);
        pthread_mutex_lock(&p->mu);
        p->ready[slot] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->worker_done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static feat_status run_pipelined(feat_image_extractor *ex, const image_source *src, size_t n, feat_result *r)
{
    pipeline p = {.ex = ex, .src = src, .n = n, .r = r, .bufs = ex->bufs};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t tid;
    if (pthread_create(&tid, NULL, decode_worker, &p) != 0) {
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
        return FEAT_E_UNSUPPORTED; /* the caller falls back to the serial loop */
    }
    feat_status st = FEAT_OK;
    for (size_t k = 0;; k++) {
        int slot = (int)(k & 1);
        pthread_mutex_lock(&p.mu);
        while (!p.ready[slot] && !p.worker_done)
            pthread_cond_wait(&p.cv, &p.mu);
        int have = p.ready[slot];
        pthread_mutex_unlock(&p.mu);
        if (!have)
            break;
        st = run_batch(ex, &p.bufs[slot], ex->scratch, r, &ex->err);
        pthread_mutex_lock(&p.mu);
        p.ready[slot] = 0;
        if (st != FEAT_OK)
            p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (st != FEAT_OK)
            break;
    }
    pthread_join(tid, NULL);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return st;
}

/* Batches side by side: each worker claims the next batch_size items, decodes them with its
 * own buffers and runs them with its share of the threads (lib/extract/workers.h). */
typedef struct parallel {
    feat_image_extractor *ex;
    const image_source *src;
    size_t n;
    feat_result *r;
    atomic_size_t next;
    atomic_int stop;
    pthread_mutex_t mu; /* guards st and ex->err */
    feat_status st;
} parallel;

static void parallel_worker(void *ctx, size_t worker)
{
    (void)worker;
    parallel *p = ctx;
    feat_image_extractor *ex = p->ex;
    size_t per = input_floats(&ex->pp);
    batch b = {malloc((size_t)ex->batch_size * per * sizeof(float)), malloc(ex->batch_size * sizeof(size_t)), 0};
    float *fusion = malloc((ex->scratch_n ? ex->scratch_n : 1) * sizeof(float));
    feat_image_scratch *scratch = feat_image_scratch_new();
    feat_error fatal = {0};
    feat_status st = FEAT_OK;
    if (!b.x || !b.items || !fusion || !scratch)
        st = feat_error_set(&fatal, FEAT_E_NOMEM, "out of memory allocating a batch of %u images", ex->batch_size);
    while (st == FEAT_OK && !atomic_load(&p->stop) && !atomic_load(&ex->cancel)) {
        size_t first = atomic_fetch_add(&p->next, ex->batch_size);
        if (first >= p->n)
            break;
        size_t end = p->n - first < ex->batch_size ? p->n : first + ex->batch_size;
        fill_batch(ex, scratch, p->src, end, &first, &b, p->r);
        st = run_batch(ex, &b, fusion, p->r, &fatal);
    }
    if (st != FEAT_OK) {
        atomic_store(&p->stop, 1);
        pthread_mutex_lock(&p->mu);
        if (p->st == FEAT_OK) {
            p->st = st;
            feat_error_copy(&ex->err, &fatal);
        }
        pthread_mutex_unlock(&p->mu);
    }
    feat_image_scratch_free(scratch);
    free(fusion);
    free(b.items);
    free(b.x);
}

static feat_status run_parallel(feat_image_extractor *ex, const image_source *src, size_t n, size_t workers,
                                feat_result *r)
{
    parallel p = {.ex = ex, .src = src, .n = n, .r = r, .st = FEAT_OK};
    atomic_init(&p.next, 0);
    atomic_init(&p.stop, 0);
    pthread_mutex_init(&p.mu, NULL);
    feat_workers_run(workers, 0, parallel_worker, &p);
    pthread_mutex_destroy(&p.mu);
    return p.st;
}

static feat_status extract(feat_image_extractor *ex, const image_source *src, size_t n, feat_result **out)
{
    if (!out)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    feat_error_clear(&ex->err);
    if (!ex->loaded)
        return feat_error_set(&ex->err, FEAT_E_STATE, "no model loaded: call feat_image_extractor_load first");
    atomic_store(&ex->cancel, 0);
    feat_result *r;
    feat_status st = feat_result_alloc(n, ex->tapped.dim, &r, &ex->err);
    if (st != FEAT_OK)
        return st;
    /* Several batches: run them side by side when the thread budget allows, else overlap
     * decoding the next batch with the forward pass of this one. A single batch runs with
     * all the threads. */
    size_t workers = feat_workers_for((n + ex->batch_size - 1) / ex->batch_size);
    if (workers > 1)
        st = run_parallel(ex, src, n, workers, r);
    else
        st = ex->pipelined && n > ex->batch_size ? run_pipelined(ex, src, n, r) : FEAT_E_UNSUPPORTED;
    if (st == FEAT_E_UNSUPPORTED) {
        st = FEAT_OK;
        for (size_t next = 0; next < n && st == FEAT_OK && !atomic_load(&ex->cancel);) {
            fill_batch(ex, ex->decode, src, n, &next, &ex->bufs[0], r);
            st = run_batch(ex, &ex->bufs[0], ex->scratch, r, &ex->err);
        }
    }
    if (st == FEAT_OK && atomic_load(&ex->cancel))
        st = feat_error_set(&ex->err, FEAT_E_CANCELLED, "extraction cancelled");
    if (st != FEAT_OK) {
        /* No partial result escapes a failed call. */
        feat_result_free(r);
        return st;
    }
    *out = r;
    return FEAT_OK;
}

feat_status feat_image_extractor_extract_files(feat_image_extractor *ex, const char *const *paths, size_t n,
                                               feat_result **out)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "extractor is NULL");
    if (n && !paths)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "paths is NULL");
    image_source src = {.kind = SRC_FILE, .paths = paths};
    return extract(ex, &src, n, out);
}

feat_status feat_image_extractor_extract_encoded(feat_image_extractor *ex, const void *const *data,
                                                 const size_t *sizes, size_t n, feat_result **out)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "extractor is NULL");
    if (n && (!data || !sizes))
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "data or sizes is NULL");
    image_source src = {.kind = SRC_ENCODED, .data = data, .sizes = sizes};
    return extract(ex, &src, n, out);
}

feat_status feat_image_extractor_extract_rgb8(feat_image_extractor *ex, const uint8_t *const *pixels,
                                              const uint32_t *widths, const uint32_t *heights, const size_t *strides,
                                              size_t n, feat_result **out)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "extractor is NULL");
    if (n && (!pixels || !widths || !heights))
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "pixels, widths or heights is NULL");
    image_source src = {.kind = SRC_RGB8, .pixels = pixels, .widths = widths, .heights = heights, .strides = strides};
    return extract(ex, &src, n, out);
}
