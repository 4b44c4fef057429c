/* SPDX-License-Identifier: MIT */
/* The image extractor: decode + preprocess (lib/image) -> batched forward with taps (shim)
 * -> pooling and fusion (lib/taps) -> one row per item in a feat_result. The parts every
 * extractor has are in extract/extractor.h. */
#include "core/result.h"
#include "extract/extractor.h"
#include "extract/image_extractor.h"
#include "extract/workers.h"
#include "feat/image.h"
#include "image/image_internal.h"
#include "image/image_options.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* One batch of preprocessed inputs and the items they came from. */
typedef struct batch {
    float *x;      /* batch_size input tensors */
    size_t *items; /* item index of each filled slot */
    size_t filled;
} batch;

struct feat_image_extractor {
    feat_extractor_core core; /* first: error slot, options (a feat_image_options), model, ... */
    feat_preprocess pp;
    /* Kept across calls, grown to what a call needs: decoder buffers, one for each thread
     * that decodes, and batch buffers, one for each batch that is decoded or run at once. */
    feat_image_scratch **decoders;
    size_t n_decoders;
    batch *batches;
    size_t n_batches;
};
_Static_assert(offsetof(struct feat_image_extractor, core) == 0, "FEAT_CORE needs the core first");

static size_t input_floats(const feat_preprocess *pp) { return feat_preprocess_tensor_count(pp); }

static feat_image_options *options(feat_image_extractor *ex) { return (feat_image_options *)ex->core.opts; }

/* ---- the kind: what the skeleton calls ------------------------------------------------- */

static feat_status configure(feat_extractor_core *c, const void *arg)
{
    (void)arg;
    feat_image_extractor *ex = (feat_image_extractor *)c;
    feat_image_options *o = options(ex);
    const feat_model_info *info = &c->tapped.info;
    /* The side-car's crop size applies unless the caller chose one. */
    if (!o->crop_w && !o->crop_h && info->crop)
        o->crop_w = o->crop_h = info->crop;
    /* So do its mean/std, but only under its own preset: they are on that preset's scale. */
    feat_image_preset own = info->preset != FEAT_PRESET_DEFAULT ? info->preset : FEAT_PRESET_TORCHVISION;
    if (o->preset == FEAT_PRESET_DEFAULT || o->preset == own) {
        if (!o->mean_set && info->has_mean) {
            memcpy(o->mean, info->mean, sizeof o->mean);
            o->mean_set = 1;
        }
        if (!o->std_set && info->has_std) {
            memcpy(o->std, info->std, sizeof o->std);
            o->std_set = 1;
        }
    }
    return feat_preprocess_resolve(o, info->preset, info->resize, &ex->pp, &c->err);
}

static feat_status warm_run(feat_extractor_core *c, feat_shim_outputs **o)
{
    feat_image_extractor *ex = (feat_image_extractor *)c;
    float *zeros = calloc(input_floats(&ex->pp), sizeof *zeros);
    if (!zeros)
        return feat_error_set(&c->err, FEAT_E_NOMEM, "out of memory");
    feat_status st =
        feat_shim_run_image(c->tapped.model, zeros, 1, 3, (int64_t)ex->pp.crop_h, (int64_t)ex->pp.crop_w, o, &c->err);
    free(zeros);
    return st;
}

static void share(const feat_extractor_core *src, feat_extractor_core *c)
{
    ((feat_image_extractor *)c)->pp = ((const feat_image_extractor *)src)->pp;
}

/* Grows the kept buffers to at least `decoders` decoder buffers and `batches` batches. */
static feat_status reserve(feat_image_extractor *ex, size_t decoders, size_t batches)
{
    size_t bs = ex->core.batch_size, per = input_floats(&ex->pp);
    feat_image_scratch **d = decoders > ex->n_decoders ? realloc(ex->decoders, decoders * sizeof *d) : ex->decoders;
    batch *b = batches > ex->n_batches ? realloc(ex->batches, batches * sizeof *b) : ex->batches;
    ex->decoders = d ? d : ex->decoders;
    ex->batches = b ? b : ex->batches;
    for (; d && ex->n_decoders < decoders; ex->n_decoders++)
        if (!(d[ex->n_decoders] = feat_image_scratch_new()))
            break;
    for (; b && ex->n_batches < batches; ex->n_batches++) {
        batch next = {malloc(bs * per * sizeof(float)), malloc(bs * sizeof(size_t)), 0};
        if (!next.x || !next.items) {
            free(next.x);
            free(next.items);
            break;
        }
        b[ex->n_batches] = next;
    }
    if (ex->n_decoders < decoders || ex->n_batches < batches)
        return feat_error_set(&ex->core.err, FEAT_E_NOMEM, "out of memory allocating a batch of %u images",
                              (unsigned)bs);
    return FEAT_OK;
}

static feat_status prepare(feat_extractor_core *c)
{
    feat_image_extractor *ex = (feat_image_extractor *)c;
    size_t per = input_floats(&ex->pp);
    if (per > SIZE_MAX / sizeof(float) / c->batch_size)
        return feat_error_set(&c->err, FEAT_E_LIMIT, "batch of %u images of %zu floats is too large", c->batch_size,
                              per);
    return reserve(ex, 1, 1);
}

static void release(feat_extractor_core *c)
{
    feat_image_extractor *ex = (feat_image_extractor *)c;
    for (size_t k = 0; k < ex->n_decoders; k++)
        feat_image_scratch_free(ex->decoders[k]);
    for (size_t k = 0; k < ex->n_batches; k++) {
        free(ex->batches[k].x);
        free(ex->batches[k].items);
    }
    free(ex->decoders);
    free(ex->batches);
    ex->decoders = NULL;
    ex->batches = NULL;
    ex->n_decoders = ex->n_batches = 0;
}

static const feat_extractor_kind image_kind = {
    FEAT_EXTRACTOR_KIND(image, "an image extractor", FEAT_IMAGE_DEFAULT_BATCH_SIZE)};

/* ---- the public lifecycle -------------------------------------------------------------- */

feat_status feat_image_extractor_new(feat_image_extractor **out)
{
    return feat_extractor_new(&image_kind, (void **)out);
}

void feat_image_extractor_free(feat_image_extractor *ex) { feat_extractor_free(FEAT_CORE(ex)); }

const char *feat_image_extractor_last_error(const feat_image_extractor *ex)
{
    return ex ? ex->core.err.msg : "feat_image_extractor_last_error: extractor is NULL";
}

feat_status feat_image_extractor_load(feat_image_extractor *ex, const char *model_path, const feat_image_options *opts)
{
    return feat_extractor_load(&image_kind, FEAT_CORE(ex), model_path, opts, NULL);
}

feat_status feat_image_extractor_clone(const feat_image_extractor *ex, feat_image_extractor **out)
{
    return feat_extractor_clone(&image_kind, FEAT_CORE_CONST(ex), (void **)out);
}

size_t feat_image_extractor_dim(const feat_image_extractor *ex) { return feat_extractor_dim(FEAT_CORE_CONST(ex)); }

size_t feat_image_extractor_n_taps(const feat_image_extractor *ex)
{
    return feat_extractor_n_taps(FEAT_CORE_CONST(ex));
}

const char *feat_image_extractor_tap(const feat_image_extractor *ex, size_t i)
{
    return feat_extractor_tap(FEAT_CORE_CONST(ex), i);
}

size_t feat_image_extractor_tap_dim(const feat_image_extractor *ex, size_t i)
{
    return feat_extractor_tap_dim(FEAT_CORE_CONST(ex), i);
}

void feat_image_extractor_cancel(feat_image_extractor *ex) { feat_extractor_cancel(FEAT_CORE(ex)); }

/* ---- extraction ------------------------------------------------------------------------ */

/* Messages name the item: files by path (the decoder does that), others by index. */
static feat_status preprocess_item(feat_image_extractor *ex, feat_image_scratch *scratch, const feat_image_source *src,
                                   size_t i, float *dst, feat_error *e)
{
    feat_status st;
    switch (src->kind) {
    case FEAT_SRC_FILE:
        if (!src->paths[i])
            return feat_error_set(e, FEAT_E_INVALID_ARGUMENT, "item %zu: path is NULL", i);
        return feat_image_preprocess_path(&ex->pp, scratch, src->paths[i], dst, e);
    case FEAT_SRC_ENCODED:
        st = !src->data[i] && src->sizes[i]
                 ? feat_error_set(e, FEAT_E_INVALID_ARGUMENT, "data is NULL")
                 : feat_image_preprocess_bytes_s(&ex->pp, scratch, src->data[i], src->sizes[i], dst, e);
        break;
    case FEAT_SRC_RGB8:
        st = feat_image_preprocess_rgb8_s(&ex->pp, scratch, src->pixels[i], src->widths[i], src->heights[i],
                                          src->strides ? src->strides[i] : 0, dst, e);
        break;
    case FEAT_SRC_TENSOR:
        memcpy(dst, src->tensors + i * input_floats(&ex->pp), input_floats(&ex->pp) * sizeof *dst);
        return FEAT_OK;
    default: st = feat_error_set(e, FEAT_E_INTERNAL, "unknown image source");
    }
    if (st != FEAT_OK)
        feat_error_prefix(e, "item %zu", i);
    return st;
}

/* A place in the queue of batches decoded ahead of inference. */
typedef struct slot {
    enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_RUNNING } state;
    size_t k; /* the batch it holds */
} slot;

/* One extract call. Batch k holds the items k * batch_size .. (k + 1) * batch_size - 1 that
 * decode, however the batches are spread over threads, so that the rows are the same bits
 * with any number of decode threads or workers. */
typedef struct image_run {
    feat_batch_run run; /* batch claims, stop, the first failure */
    feat_image_extractor *ex;
    const feat_image_source *src;
    size_t n, n_batches;
    feat_result *r;
    /* Decoding ahead only, guarded by run.mu: ex->batches[s] is slot s of the queue. */
    pthread_cond_t cv;
    slot *slots;
    size_t n_slots;
    size_t decoding; /* decode workers still running */
} image_run;

/* Preprocesses the items of batch k into b; items that fail get their error in the result
 * right away (each item's slot in the result is written by exactly one thread). */
static void fill_batch(image_run *t, feat_image_scratch *scratch, size_t k, batch *b)
{
    feat_image_extractor *ex = t->ex;
    size_t per = input_floats(&ex->pp), bs = ex->core.batch_size;
    size_t end = t->n - k * bs < bs ? t->n : (k + 1) * bs;
    b->filled = 0;
    for (size_t i = k * bs; i < end && !atomic_load(&ex->core.cancel); i++) {
        if (t->src->skip && t->src->skip[i])
            continue; /* the caller accounts for it; it takes no place in the batch, like a failed decode */
        feat_error e = {0};
        if (preprocess_item(ex, scratch, t->src, i, b->x + b->filled * per, &e) == FEAT_OK)
            b->items[b->filled++] = i;
        else
            feat_result_set_error(t->r, i, &e);
    }
}

/* Runs one batch through the model and pools its rows (fusion: widest_tap floats). Returns a
 * status, with the message in *fatal, only for failures that are not the items' fault (the
 * whole call then fails). */
static feat_status run_batch(feat_image_extractor *ex, const batch *b, float *fusion, feat_result *r, feat_error *fatal)
{
    if (!b->filled)
        return FEAT_OK;
    feat_shim_outputs *o;
    feat_error e = {0};
    feat_status st = feat_shim_run_image(ex->core.tapped.model, b->x, (int64_t)b->filled, 3, (int64_t)ex->pp.crop_h,
                                         (int64_t)ex->pp.crop_w, &o, &e);
    if (feat_extractor_fatal(st)) {
        feat_error_copy(fatal, &e);
        return st;
    }
    for (size_t k = 0; k < b->filled; k++) {
        if (st != FEAT_OK) {
            feat_result_set_error(r, b->items[k], &e);
            continue;
        }
        feat_tapped_pool_item(&ex->core.tapped, o, (int64_t)k, NULL, feat_result_row(r, b->items[k]), fusion);
        feat_result_set_ok(r, b->items[k]);
    }
    feat_shim_outputs_free(o);
    return FEAT_OK;
}

/* Batches side by side: worker w claims the next batch, decodes it with decoder buffers w into
 * batch buffer w and runs it with its share of the threads (lib/extract/workers.h). */
static void side_by_side_worker(void *ctx, size_t w)
{
    image_run *t = ctx;
    feat_image_extractor *ex = t->ex;
    float *fusion = malloc(ex->core.widest_tap * sizeof *fusion);
    feat_error fatal = {0};
    feat_status st = fusion ? FEAT_OK : feat_error_set(&fatal, FEAT_E_NOMEM, "out of memory for pooling");
    size_t k;
    while (st == FEAT_OK && feat_batch_run_claim(&t->run, t->n_batches, &k)) {
        fill_batch(t, ex->decoders[w], k, &ex->batches[w]);
        st = run_batch(ex, &ex->batches[w], fusion, t->r, &fatal);
    }
    if (st != FEAT_OK)
        feat_batch_run_fail(&t->run, st, &fatal);
    free(fusion);
}

static feat_status side_by_side(image_run *t, size_t workers)
{
    feat_status st = reserve(t->ex, workers, workers);
    if (st != FEAT_OK)
        return st;
    feat_batch_run_init(&t->run, &t->ex->core);
    return feat_batch_run_go(&t->run, workers, 0, side_by_side_worker, t);
}

/* The first slot in `state` (the one with the lowest batch for SLOT_READY, so that batches
 * run about in order), or n_slots. Called under run.mu. */
static size_t find_slot(const image_run *t, int state)
{
    size_t found = t->n_slots;
    for (size_t s = 0; s < t->n_slots; s++)
        if ((int)t->slots[s].state == state && (found == t->n_slots || t->slots[s].k < t->slots[found].k))
            found = s;
    return found;
}

/* Decode worker d: claims the next batch once a slot is free, fills the slot with decoder
 * buffers d and hands it to the inference workers. */
static void decode_worker(void *ctx, size_t d)
{
    image_run *t = ctx;
    pthread_mutex_lock(&t->run.mu);
    for (;;) {
        size_t s = t->n_slots, k;
        while (!atomic_load(&t->run.stop) && atomic_load(&t->run.next) < t->n_batches &&
               (s = find_slot(t, SLOT_FREE)) == t->n_slots)
            pthread_cond_wait(&t->cv, &t->run.mu);
        if (s == t->n_slots || !feat_batch_run_claim(&t->run, t->n_batches, &k))
            break;
        t->slots[s] = (slot){SLOT_FILLING, k};
        pthread_mutex_unlock(&t->run.mu);
        fill_batch(t, t->ex->decoders[d], k, &t->ex->batches[s]);
        pthread_mutex_lock(&t->run.mu);
        t->slots[s].state = SLOT_READY;
        pthread_cond_broadcast(&t->cv);
    }
    t->decoding--;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->run.mu);
}

/* Inference worker: runs ready slots until the decode workers are done, the run stopped or
 * the call was cancelled; then wakes the decode workers so that they see it. */
static void infer_worker(void *ctx, size_t w)
{
    (void)w;
    image_run *t = ctx;
    feat_image_extractor *ex = t->ex;
    float *fusion = malloc(ex->core.widest_tap * sizeof *fusion);
    feat_error fatal = {0};
    feat_status st = fusion ? FEAT_OK : feat_error_set(&fatal, FEAT_E_NOMEM, "out of memory for pooling");
    pthread_mutex_lock(&t->run.mu);
    while (st == FEAT_OK && !atomic_load(&t->run.stop) && !atomic_load(&ex->core.cancel)) {
        size_t s = find_slot(t, SLOT_READY);
        if (s == t->n_slots) {
            if (!t->decoding)
                break;
            pthread_cond_wait(&t->cv, &t->run.mu);
            continue;
        }
        t->slots[s].state = SLOT_RUNNING;
        pthread_mutex_unlock(&t->run.mu);
        st = run_batch(ex, &ex->batches[s], fusion, t->r, &fatal);
        pthread_mutex_lock(&t->run.mu);
        t->slots[s].state = SLOT_FREE;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->run.mu);
    if (st != FEAT_OK)
        feat_batch_run_fail(&t->run, st, &fatal);
    else if (atomic_load(&ex->core.cancel))
        atomic_store(&t->run.stop, 1);
    pthread_mutex_lock(&t->run.mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->run.mu);
    free(fusion);
}

/* Whether decoding ahead ran; when no decode worker could be started it did not, and the
 * caller runs the batches side by side instead. */
typedef enum { AHEAD_RAN, AHEAD_NO_THREADS } ahead_outcome;

/* Decoding ahead of inference: `decoders` decode workers fill a bounded queue of
 * decoders + workers batch slots, which `workers` inference workers run (with their share of
 * the threads, lib/extract/workers.h), on the calling thread among them. */
static ahead_outcome decode_ahead(image_run *t, size_t decoders, size_t workers, feat_status *st)
{
    t->n_slots = decoders + workers;
    if ((*st = reserve(t->ex, decoders, t->n_slots)) != FEAT_OK)
        return AHEAD_RAN;
    if (!(t->slots = calloc(t->n_slots, sizeof *t->slots))) {
        *st = feat_error_set(&t->ex->core.err, FEAT_E_NOMEM, "out of memory for %zu batch slots", t->n_slots);
        return AHEAD_RAN;
    }
    t->decoding = decoders;
    feat_batch_run_init(&t->run, &t->ex->core);
    pthread_cond_init(&t->cv, NULL);
    size_t started;
    feat_thread_group *g = feat_threads_start(0, decoders, 0, decode_worker, t, &started);
    if (started) {
        pthread_mutex_lock(&t->run.mu);
        t->decoding -= decoders - started; /* those never started never finish */
        pthread_mutex_unlock(&t->run.mu);
        feat_workers_run(workers, 0, infer_worker, t);
    }
    feat_threads_join(g);
    pthread_cond_destroy(&t->cv);
    free(t->slots);
    if (!started) {
        pthread_mutex_destroy(&t->run.mu);
        return AHEAD_NO_THREADS;
    }
    *st = feat_batch_run_end(&t->run);
    return AHEAD_RAN;
}

/* How a call's batches run (docs/performance.md, "Thread budget" and "Decoding overlapped
 * with inference"). One batch: on the calling thread with the whole thread budget. Several,
 * with one decode thread and a budget of several threads: side by side on workers that
 * decode their own batches. Otherwise decode workers (the decode_threads option, at most one
 * per batch) decode ahead of the inference workers (the budget, at most one per batch). */
static feat_status run(image_run *t)
{
    size_t workers = feat_workers_for(t->n_batches);
    uint32_t asked = options(t->ex)->decode_threads;
    size_t decoders = asked ? asked : FEAT_IMAGE_DEFAULT_DECODE_THREADS;
    if (decoders > t->n_batches)
        decoders = t->n_batches;
    if (t->n_batches > 1 && (workers == 1 || decoders > 1)) {
        feat_status st;
        if (decode_ahead(t, decoders, workers, &st) == AHEAD_RAN)
            return st;
    }
    return side_by_side(t, workers);
}

static feat_status extract(feat_image_extractor *ex, const feat_image_source *src, size_t n, feat_result **out)
{
    feat_status st = feat_image_source_check(ex, "extractor", src, n, ex ? &ex->core.err : NULL);
    if (st != FEAT_OK)
        return st;
    feat_result *r = NULL;
    st = feat_extractor_begin(&ex->core, out);
    if (st == FEAT_OK)
        st = feat_result_alloc(n, ex->core.tapped.dim, &r, &ex->core.err);
    if (st == FEAT_OK) {
        size_t bs = ex->core.batch_size;
        image_run t = {.ex = ex, .src = src, .n = n, .n_batches = n / bs + (n % bs != 0), .r = r};
        st = run(&t);
    }
    return feat_extractor_finish(st, r, out);
}

feat_status feat_image_source_check(const void *obj, const char *what, const feat_image_source *src, size_t n,
                                    feat_error *err)
{
    if (!obj)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s is NULL", what);
    const char *missing = NULL;
    switch (src->kind) {
    case FEAT_SRC_FILE: missing = !src->paths ? "paths is NULL" : NULL; break;
    case FEAT_SRC_ENCODED: missing = !src->data || !src->sizes ? "data or sizes is NULL" : NULL; break;
    case FEAT_SRC_RGB8:
        missing = !src->pixels || !src->widths || !src->heights ? "pixels, widths or heights is NULL" : NULL;
        break;
    case FEAT_SRC_TENSOR: missing = !src->tensors || !src->skip ? "tensors or skip is NULL" : NULL; break;
    }
    return n && missing ? feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "%s", missing) : FEAT_OK;
}

feat_status feat_image_extractor_extract_files(feat_image_extractor *ex, const char *const *paths, size_t n,
                                               feat_result **out)
{
    return extract(ex, &(feat_image_source){.kind = FEAT_SRC_FILE, .paths = paths}, n, out);
}

feat_status feat_image_extractor_extract_encoded(feat_image_extractor *ex, const void *const *data, const size_t *sizes,
                                                 size_t n, feat_result **out)
{
    return extract(ex, &(feat_image_source){.kind = FEAT_SRC_ENCODED, .data = data, .sizes = sizes}, n, out);
}

feat_status feat_image_extractor_extract_rgb8(feat_image_extractor *ex, const uint8_t *const *pixels,
                                              const uint32_t *widths, const uint32_t *heights, const size_t *strides,
                                              size_t n, feat_result **out)
{
    feat_image_source src = {
        .kind = FEAT_SRC_RGB8, .pixels = pixels, .widths = widths, .heights = heights, .strides = strides};
    return extract(ex, &src, n, out);
}

/* ---- for the image ensemble (extract/image_extractor.h) --------------------------------- */

const feat_preprocess *feat_image_extractor_preprocessing(const feat_image_extractor *ex)
{
    return ex && ex->core.loaded ? &ex->pp : NULL;
}

feat_status feat_image_extractor_extract_tensors(feat_image_extractor *ex, const float *tensors,
                                                 const unsigned char *skip, size_t n, feat_result **out)
{
    return extract(ex, &(feat_image_source){.kind = FEAT_SRC_TENSOR, .tensors = tensors, .skip = skip}, n, out);
}
