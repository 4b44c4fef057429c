/* The text extractor: WordPiece (lib/text) -> length-bucketed, padded batches through the
 * model with taps (shim) -> mask-aware pooling and fusion (lib/taps) -> windows of a long
 * text combined -> one row per item in a feat_result. */
#include "core/result.h"
#include "extract/tapped.h"
#include "extract/workers.h"
#include "feat/text.h"
#include "text/text_internal.h"
#include "text/text_options.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The tokenizer is read-only once loaded, so clones share it. */
typedef struct shared_tokenizer {
    atomic_int refs;
    feat_tokenizer *tok;
} shared_tokenizer;

struct feat_text_extractor {
    feat_error err;
    feat_text_options *opts; /* effective options: the caller's, with the side-car's defaults */
    shared_tokenizer *shared;
    feat_tapped tapped;
    feat_tok_params params;
    feat_tok_special special;
    uint32_t batch_size;
    int loaded;
    atomic_int cancel;
    feat_tok_scratch *scratch;
    feat_tok_output enc;
    size_t pool_scratch_n; /* floats a worker needs for pooling: the widest tap */
};

/* One encoded sequence (a whole text, or one window of a long one). */
typedef struct seq {
    size_t item;
    size_t start, len; /* in the call's token store */
} seq;

/* Growable token store of one extract call. */
typedef struct token_store {
    int32_t *ids, *types;
    size_t n, cap;
    seq *seqs;
    size_t n_seqs, cap_seqs;
} token_store;

static void shared_unref(shared_tokenizer *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        feat_tokenizer_free(s->tok);
        free(s);
    }
}

feat_status feat_text_extractor_new(feat_text_extractor **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_text_extractor_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory allocating a text extractor");
    atomic_init(&(*out)->cancel, 0);
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

void feat_text_extractor_free(feat_text_extractor *ex)
{
    if (!ex)
        return;
    feat_tapped_release(&ex->tapped);
    shared_unref(ex->shared);
    feat_text_options_free(ex->opts);
    feat_tok_scratch_free(ex->scratch);
    feat_tok_output_free(&ex->enc);
    free(ex);
}

const char *feat_text_extractor_last_error(const feat_text_extractor *ex)
{
    return ex ? ex->err.msg : "feat_text_extractor_last_error: extractor is NULL";
}

static feat_status per_extractor_state(feat_text_extractor *ex)
{
    size_t max_dim = 1;
    for (size_t i = 0; i < ex->tapped.taps.n; i++)
        if (ex->tapped.tap_dim[i] > max_dim)
            max_dim = ex->tapped.tap_dim[i];
    ex->pool_scratch_n = max_dim;
    if (feat_tok_scratch_new(&ex->scratch) != FEAT_OK)
        return feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory preparing the text extractor");
    return FEAT_OK;
}

feat_status feat_text_extractor_load(feat_text_extractor *ex, const char *model_path, const char *vocab_path,
                                     const feat_text_options *opts)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_text_extractor_load: extractor is NULL");
    feat_error_clear(&ex->err);
    if (ex->loaded)
        return feat_error_set(&ex->err, FEAT_E_STATE, "the extractor already has a model; use a new extractor");
    if (!model_path)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "model path is NULL");
    feat_text_options_free(ex->opts);
    if (feat_text_options_copy(opts, &ex->opts) != FEAT_OK)
        return feat_error_set(&ex->err, FEAT_E_NOMEM, "%s", feat_last_error());
    feat_status st = feat_tapped_load(&ex->tapped, model_path, &ex->opts->model, &ex->err);
    if (st != FEAT_OK)
        return st;
    const feat_model_info *info = &ex->tapped.info;
    if (info->input[0] && strcmp(info->input, "text") != 0) {
        st = feat_error_set(&ex->err, FEAT_E_MODEL, "%s is an %s model, not a text model", model_path, info->input);
        goto fail;
    }
    /* The side-car's tokenizer settings fill in what the caller left at default. */
    if (ex->opts->lowercase == FEAT_TRISTATE_DEFAULT)
        ex->opts->lowercase = info->lowercase;
    if (ex->opts->strip_accents == FEAT_TRISTATE_DEFAULT)
        ex->opts->strip_accents = info->strip_accents;
    ex->opts->chinese_chars = info->chinese_chars;
    if (ex->opts->max_length == 0)
        ex->opts->max_length = info->max_length;
    if (!vocab_path || !vocab_path[0]) {
        if (!info->vocab_path[0]) {
            st = feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT,
                                "no vocabulary given and %s names none; pass the model's vocab.txt",
                                info->has_sidecar ? info->sidecar_path : "the model has no side-car that");
            goto fail;
        }
        vocab_path = info->vocab_path;
    }
    ex->shared = calloc(1, sizeof *ex->shared);
    if (!ex->shared) {
        st = feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory");
        goto fail;
    }
    atomic_init(&ex->shared->refs, 1);
    if ((st = feat_tokenizer_new(&ex->shared->tok)) != FEAT_OK ||
        (st = feat_tokenizer_load(ex->shared->tok, vocab_path, ex->opts)) != FEAT_OK) {
        feat_error_set(&ex->err, st, "%s",
                       ex->shared->tok ? feat_tokenizer_last_error(ex->shared->tok) : feat_last_error());
        goto fail;
    }
    feat_tokenizer_special_ids(ex->shared->tok, &ex->special);
    feat_tok_params_from_tokenizer(ex->shared->tok, &ex->params);
    if (ex->opts->window_stride) {
        if (ex->opts->window_stride >= ex->params.max_length - 2) {
            st = feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT,
                                "window stride %u must be smaller than max_length - 2 = %u", ex->opts->window_stride,
                                ex->params.max_length - 2);
            goto fail;
        }
        ex->params.windows = 1;
        ex->params.stride = ex->opts->window_stride;
    }
    ex->batch_size = ex->opts->model.batch_size ? ex->opts->model.batch_size : FEAT_TEXT_DEFAULT_BATCH_SIZE;
    /* Warm up on "[CLS] [SEP]" and learn the taps' shapes from a real forward pass. */
    int64_t ids[2] = {ex->special.cls, ex->special.sep}, mask[2] = {1, 1}, types[2] = {0, 0};
    for (int run = 0; run < 3; run++) {
        feat_shim_outputs *o;
        st = feat_shim_run_text(ex->tapped.model, ids, mask, types, 1, 2, &o, &ex->err);
        if (st == FEAT_OK && run == 0)
            st = feat_tapped_probe(&ex->tapped, o, &ex->err);
        feat_shim_outputs_free(o);
        if (st != FEAT_OK)
            goto fail;
    }
    if ((st = per_extractor_state(ex)) != FEAT_OK)
        goto fail;
    ex->loaded = 1;
    return FEAT_OK;
fail:
    feat_tapped_release(&ex->tapped);
    shared_unref(ex->shared);
    ex->shared = NULL;
    return st;
}

feat_status feat_text_extractor_clone(const feat_text_extractor *ex, feat_text_extractor **out)
{
    if (!ex || !out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_text_extractor_clone: NULL argument");
    *out = NULL;
    if (!ex->loaded)
        return feat_error_set_tls(FEAT_E_STATE, "cannot clone an extractor that has no model loaded");
    feat_text_extractor *c = calloc(1, sizeof *c);
    if (!c || feat_text_options_copy(ex->opts, &c->opts) != FEAT_OK) {
        free(c);
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory cloning an extractor");
    }
    atomic_init(&c->cancel, 0);
    feat_tapped_share(&ex->tapped, &c->tapped);
    c->shared = ex->shared;
    atomic_fetch_add(&c->shared->refs, 1);
    c->params = ex->params;
    c->special = ex->special;
    c->batch_size = ex->batch_size;
    if (per_extractor_state(c) != FEAT_OK) {
        feat_text_extractor_free(c);
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory cloning an extractor");
    }
    c->loaded = 1;
    *out = c;
    return FEAT_OK;
}

size_t feat_text_extractor_dim(const feat_text_extractor *ex) { return ex && ex->loaded ? ex->tapped.dim : 0; }

size_t feat_text_extractor_n_taps(const feat_text_extractor *ex)
{
    return ex && ex->loaded ? ex->tapped.taps.n : 0;
}

const char *feat_text_extractor_tap(const feat_text_extractor *ex, size_t i)
{
    return ex && ex->loaded && i < ex->tapped.taps.n ? ex->tapped.tap_names[i] : "";
}

const feat_tokenizer *feat_text_extractor_tokenizer(const feat_text_extractor *ex)
{
    return ex && ex->loaded ? ex->shared->tok : NULL;
}

void feat_text_extractor_cancel(feat_text_extractor *ex)
{
    if (ex)
        atomic_store(&ex->cancel, 1);
}

static int store_push(token_store *s, size_t item, const feat_tok_output *enc)
{
    if (s->n + enc->n_tokens > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + enc->n_tokens)
            cap *= 2;
        int32_t *ids = realloc(s->ids, cap * sizeof *ids);
        if (!ids)
            return -1;
        s->ids = ids;
        int32_t *types = realloc(s->types, cap * sizeof *types);
        if (!types)
            return -1;
        s->types = types;
        s->cap = cap;
    }
    if (s->n_seqs + enc->n_windows > s->cap_seqs) {
        size_t cap = s->cap_seqs ? s->cap_seqs : 256;
        while (cap < s->n_seqs + enc->n_windows)
            cap *= 2;
        seq *seqs = realloc(s->seqs, cap * sizeof *seqs);
        if (!seqs)
            return -1;
        s->seqs = seqs;
        s->cap_seqs = cap;
    }
    memcpy(s->ids + s->n, enc->ids, enc->n_tokens * sizeof *s->ids);
    memcpy(s->types + s->n, enc->type_ids, enc->n_tokens * sizeof *s->types);
    for (size_t w = 0; w < enc->n_windows; w++)
        s->seqs[s->n_seqs++] = (seq){item, s->n + enc->win_start[w], enc->win_start[w + 1] - enc->win_start[w]};
    s->n += enc->n_tokens;
    return 0;
}

static void store_free(token_store *s)
{
    free(s->ids);
    free(s->types);
    free(s->seqs);
}

/* Longest first, then input order: batches of similar length waste little on padding, and
 * the order is deterministic. */
typedef struct sort_key {
    size_t len, index;
} sort_key;

static int by_length(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* One forward pass: sequences order[first .. first + count) of the call, padded to len. */
typedef struct planned_batch {
    size_t first, count, len;
} planned_batch;

/* The batches of one call, run side by side by workers (lib/extract/workers.h). */
typedef struct text_run {
    feat_text_extractor *ex;
    const token_store *s;
    const size_t *order;
    const planned_batch *batches;
    size_t n_batches;
    float *seq_rows;
    feat_result *r;
    atomic_size_t next;
    atomic_int stop;
    pthread_mutex_t mu; /* guards st, ex->err and item errors (an item's windows may be in
                           batches of different workers) */
    feat_status st;
} text_run;

static void fail_run(text_run *t, feat_status st, const feat_error *e)
{
    atomic_store(&t->stop, 1);
    pthread_mutex_lock(&t->mu);
    if (t->st == FEAT_OK) {
        t->st = st;
        feat_error_copy(&t->ex->err, e);
    }
    pthread_mutex_unlock(&t->mu);
}

static void text_worker(void *ctx, size_t worker)
{
    (void)worker;
    text_run *t = ctx;
    feat_text_extractor *ex = t->ex;
    const token_store *s = t->s;
    size_t dim = ex->tapped.dim;
    float *pool = malloc(ex->pool_scratch_n * sizeof *pool);
    int64_t *buf = NULL;
    size_t buf_cap = 0;
    feat_error e = {0};
    if (!pool) {
        feat_error_set(&e, FEAT_E_NOMEM, "out of memory for pooling");
        fail_run(t, FEAT_E_NOMEM, &e);
    }
    while (pool && !atomic_load(&t->stop)) {
        if (atomic_load(&ex->cancel)) {
            feat_error_set(&e, FEAT_E_CANCELLED, "extraction cancelled");
            fail_run(t, FEAT_E_CANCELLED, &e);
            break;
        }
        size_t bi = atomic_fetch_add(&t->next, 1);
        if (bi >= t->n_batches)
            break;
        const planned_batch *pb = &t->batches[bi];
        size_t bn = pb->count, len = pb->len;
        if (3 * bn * len > buf_cap) {
            free(buf);
            buf_cap = 3 * bn * len;
            buf = malloc(buf_cap * sizeof *buf);
            if (!buf) {
                feat_error_set(&e, FEAT_E_NOMEM, "out of memory for a batch of %zu x %zu tokens", bn, len);
                fail_run(t, FEAT_E_NOMEM, &e);
                break;
            }
        }
        int64_t *ids = buf, *mask = buf + bn * len, *types = buf + 2 * bn * len;
        for (size_t k = 0; k < bn; k++) {
            const seq *q = &s->seqs[t->order[pb->first + k]];
            for (size_t i = 0; i < len; i++) {
                int in = i < q->len;
                ids[k * len + i] = in ? s->ids[q->start + i] : ex->special.pad;
                types[k * len + i] = in ? s->types[q->start + i] : 0;
                mask[k * len + i] = in;
            }
        }
        feat_shim_outputs *o;
        feat_error_clear(&e);
        feat_status rs = feat_shim_run_text(ex->tapped.model, ids, mask, types, (int64_t)bn, (int64_t)len, &o, &e);
        if (rs == FEAT_E_NOMEM || rs == FEAT_E_DEVICE || rs == FEAT_E_STATE || rs == FEAT_E_INTERNAL) {
            fail_run(t, rs, &e);
            break;
        }
        for (size_t k = 0; k < bn; k++) {
            size_t si = t->order[pb->first + k];
            if (rs != FEAT_OK) {
                /* The model refused this batch (e.g. longer than its position table): its
                 * items fail with the reason; the other batches go on. */
                pthread_mutex_lock(&t->mu);
                feat_result_set_error(t->r, s->seqs[si].item, &e);
                pthread_mutex_unlock(&t->mu);
                for (size_t j = 0; j < dim; j++)
                    t->seq_rows[si * dim + j] = NAN;
                continue;
            }
            feat_tapped_pool_item(&ex->tapped, o, (int64_t)k, mask + k * len, t->seq_rows + si * dim, pool);
        }
        if (rs == FEAT_OK)
            feat_shim_outputs_free(o);
    }
    free(buf);
    free(pool);
}

static feat_status run_batches(feat_text_extractor *ex, token_store *s, float *seq_rows, feat_result *r)
{
    size_t n = s->n_seqs;
    sort_key *keys = malloc((n ? n : 1) * sizeof *keys);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    planned_batch *batches = malloc((n ? n : 1) * sizeof *batches);
    if (!keys || !order || !batches) {
        free(keys);
        free(order);
        free(batches);
        return feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory ordering %zu sequences", n);
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (sort_key){s->seqs[i].len, i};
    qsort(keys, n, sizeof *keys, by_length);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].index;
    free(keys);
    /* A batch ends at batch_size sequences, or where a sequence is shorter than 3/4 of the
     * longest: every sequence is padded to the longest, so mixing lengths would spend the
     * forward pass on padding (one 256-token text among 31 short ones costs 30x). Calls with
     * few sequences are cut into at least as many batches as there are threads, so that the
     * workers share them (results do not depend on how sequences are batched). */
    size_t threads = feat_workers_for(SIZE_MAX), cap = ex->batch_size;
    if (n && (n + threads - 1) / threads < cap)
        cap = (n + threads - 1) / threads;
    size_t n_batches = 0;
    for (size_t b0 = 0, bn = 0; b0 < n; b0 += bn) {
        size_t len = s->seqs[order[b0]].len; /* the longest of the batch: sorted, it comes first */
        bn = 1;
        while (b0 + bn < n && bn < cap && 4 * s->seqs[order[b0 + bn]].len >= 3 * len)
            bn++;
        batches[n_batches++] = (planned_batch){b0, bn, len};
    }
    text_run t = {.ex = ex, .s = s, .order = order, .batches = batches, .n_batches = n_batches,
                  .seq_rows = seq_rows, .r = r, .st = FEAT_OK};
    atomic_init(&t.next, 0);
    atomic_init(&t.stop, 0);
    pthread_mutex_init(&t.mu, NULL);
    if (atomic_load(&ex->cancel))
        t.st = feat_error_set(&ex->err, FEAT_E_CANCELLED, "extraction cancelled");
    else
        /* Sequence models run one thread per worker: measured faster than an intra-op pool
         * on each batch (docs/performance.md, "Thread budget"). */
        feat_workers_run(feat_workers_for(n_batches), 1, text_worker, &t);
    pthread_mutex_destroy(&t.mu);
    free(batches);
    free(order);
    return t.st;
}

/* Windows of one item -> its row. */
static void combine_windows(feat_window_pooling how, const float *rows, size_t n_win, size_t dim, float *dst)
{
    memcpy(dst, rows, dim * sizeof *dst);
    if (how == FEAT_WINDOW_FIRST)
        return;
    for (size_t w = 1; w < n_win; w++)
        for (size_t j = 0; j < dim; j++) {
            float v = rows[w * dim + j];
            if (how == FEAT_WINDOW_MAX)
                dst[j] = v > dst[j] ? v : dst[j];
            else
                dst[j] += v;
        }
    if (how != FEAT_WINDOW_MAX && n_win > 1)
        for (size_t j = 0; j < dim; j++)
            dst[j] /= (float)n_win;
}

static feat_status extract(feat_text_extractor *ex, const char *const *a, const size_t *la, const char *const *b,
                           const size_t *lb, size_t n, feat_result **out)
{
    if (!out)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    feat_error_clear(&ex->err);
    if (!ex->loaded)
        return feat_error_set(&ex->err, FEAT_E_STATE, "no model loaded: call feat_text_extractor_load first");
    if (n && !a)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "texts is NULL");
    atomic_store(&ex->cancel, 0);
    feat_result *r;
    feat_status st = feat_result_alloc(n, ex->tapped.dim, &r, &ex->err);
    if (st != FEAT_OK)
        return st;
    token_store s = {0};
    feat_tok_params params = ex->params;
    if (b)
        params.windows = 0; /* a pair is one sequence; it is truncated, never windowed */
    for (size_t i = 0; i < n; i++) {
        feat_error e = {0};
        if (!a[i] || (b && !b[i])) {
            feat_error_set(&e, FEAT_E_INVALID_ARGUMENT, "item %zu: text is NULL", i);
            feat_result_set_error(r, i, &e);
            continue;
        }
        feat_status es = feat_tok_encode(ex->shared->tok, ex->scratch, a[i], la ? la[i] : (size_t)-1,
                                         b ? b[i] : NULL, b ? (lb ? lb[i] : (size_t)-1) : 0, &params, &ex->enc, &e);
        if (es == FEAT_E_NOMEM) {
            feat_error_copy(&ex->err, &e);
            st = es;
            goto done;
        }
        if (es != FEAT_OK) {
            feat_error_prefix(&e, "item %zu", i);
            feat_result_set_error(r, i, &e);
            continue;
        }
        if (store_push(&s, i, &ex->enc)) {
            st = feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory storing tokens");
            goto done;
        }
    }
    size_t dim = ex->tapped.dim;
    float *seq_rows = malloc((s.n_seqs ? s.n_seqs : 1) * dim * sizeof *seq_rows);
    if (!seq_rows) {
        st = feat_error_set(&ex->err, FEAT_E_NOMEM, "out of memory for %zu sequences", s.n_seqs);
        goto done;
    }
    st = run_batches(ex, &s, seq_rows, r);
    if (st == FEAT_OK) {
        /* Sequences of one item are consecutive in the store (pushed together). */
        for (size_t q = 0; q < s.n_seqs;) {
            size_t item = s.seqs[q].item, w = q;
            while (w < s.n_seqs && s.seqs[w].item == item)
                w++;
            if (feat_result_item_status(r, item) == FEAT_E_INTERNAL) { /* not failed by a batch */
                combine_windows(ex->opts->window_pooling, seq_rows + q * dim, w - q, dim, feat_result_row(r, item));
                feat_result_set_ok(r, item);
            }
            q = w;
        }
    }
    free(seq_rows);
done:
    store_free(&s);
    if (st != FEAT_OK) {
        feat_result_free(r);
        return st;
    }
    *out = r;
    return FEAT_OK;
}

feat_status feat_text_extractor_extract(feat_text_extractor *ex, const char *const *texts, const size_t *lens,
                                        size_t n, feat_result **out)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "extractor is NULL");
    return extract(ex, texts, lens, NULL, NULL, n, out);
}

feat_status feat_text_extractor_extract_pairs(feat_text_extractor *ex, const char *const *texts_a,
                                              const size_t *lens_a, const char *const *texts_b, const size_t *lens_b,
                                              size_t n, feat_result **out)
{
    if (!ex)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "extractor is NULL");
    if (n && !texts_b)
        return feat_error_set(&ex->err, FEAT_E_INVALID_ARGUMENT, "texts_b is NULL");
    return extract(ex, texts_a, lens_a, texts_b, lens_b, n, out);
}
