/* SPDX-License-Identifier: MIT */
/* The text extractor: WordPiece (lib/text) -> length-bucketed, padded batches through the
 * model with taps (shim) -> mask-aware pooling and fusion (lib/taps) -> windows of a long
 * text combined -> one row per item in a feat_result. The parts every extractor has are in
 * extract/extractor.h. */
#include "core/result.h"
#include "extract/extractor.h"
#include "extract/text_extractor.h"
#include "extract/workers.h"
#include "feat/text.h"
#include "text/text_internal.h"
#include "text/text_options.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The tokenizer is read-only once loaded, so clones share it. */
typedef struct shared_tokenizer {
    atomic_int refs;
    feat_tokenizer *tok;
} shared_tokenizer;

struct feat_text_extractor {
    feat_extractor_core core; /* first: error slot, options (a feat_text_options: the caller's,
                                 with the side-car's defaults), model, ... */
    shared_tokenizer *shared;
    feat_tok_params params;
    feat_tok_special special;
    feat_tok_scratch *scratch;
    feat_tok_output enc;
};
_Static_assert(offsetof(struct feat_text_extractor, core) == 0, "FEAT_CORE needs the core first");

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

static feat_text_options *options(feat_text_extractor *ex) { return (feat_text_options *)ex->core.opts; }

static void shared_unref(shared_tokenizer *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        feat_tokenizer_free(s->tok);
        free(s);
    }
}

/* ---- the kind: what the skeleton calls ------------------------------------------------- */

static feat_status load_tokenizer(feat_text_extractor *ex, const char *vocab_path)
{
    ex->shared = calloc(1, sizeof *ex->shared);
    if (!ex->shared)
        return feat_error_set(&ex->core.err, FEAT_E_NOMEM, "out of memory");
    atomic_init(&ex->shared->refs, 1);
    feat_status st;
    if ((st = feat_tokenizer_new(&ex->shared->tok)) != FEAT_OK ||
        (st = feat_tokenizer_load(ex->shared->tok, vocab_path, options(ex))) != FEAT_OK)
        return feat_error_set(&ex->core.err, st, "%s",
                              ex->shared->tok ? feat_tokenizer_last_error(ex->shared->tok) : feat_last_error());
    feat_tokenizer_special_ids(ex->shared->tok, &ex->special);
    feat_tok_params_from_tokenizer(ex->shared->tok, &ex->params);
    return FEAT_OK;
}

/* arg: the vocabulary path the caller gave (NULL or "": the side-car's). */
static feat_status configure(feat_extractor_core *c, const void *arg)
{
    feat_text_extractor *ex = (feat_text_extractor *)c;
    feat_text_options *o = options(ex);
    const feat_model_info *info = &c->tapped.info;
    const char *vocab_path = arg;
    /* The side-car's tokenizer settings fill in what the caller left at default. */
    if (o->lowercase == FEAT_TRISTATE_DEFAULT)
        o->lowercase = info->lowercase;
    if (o->strip_accents == FEAT_TRISTATE_DEFAULT)
        o->strip_accents = info->strip_accents;
    o->chinese_chars = info->chinese_chars; /* no public setter: the side-car decides */
    if (o->max_length == 0)
        o->max_length = info->max_length;
    size_t n_in = feat_shim_n_inputs(c->tapped.model);
    if (info->n_inputs && info->n_inputs != n_in)
        return feat_error_set(&c->err, FEAT_E_MODEL, "%s lists %u inputs, but the model's forward takes %zu",
                              info->sidecar_path, info->n_inputs, n_in);
    /* Every tap of a text model that its side-car does not describe is a token sequence
     * ([batch, tokens, hidden] with the attention mask): mean and max take all unmasked
     * tokens, [CLS] included, as sentence-transformers does. */
    for (size_t i = 0; i < c->tapped.taps.n; i++)
        if (c->tapped.tap_layout[i] == FEAT_LAYOUT_UNKNOWN)
            c->tapped.tap_layout[i] = FEAT_LAYOUT_TOKENS;
    if (!vocab_path || !vocab_path[0]) {
        if (!info->vocab_path[0] && info->has_sidecar)
            return feat_error_set(&c->err, FEAT_E_INVALID_ARGUMENT,
                                  "no vocabulary given and %s names none; pass the model's vocab.txt",
                                  info->sidecar_path);
        if (!info->vocab_path[0])
            return feat_error_set(&c->err, FEAT_E_INVALID_ARGUMENT,
                                  "no vocabulary given and the model has no side-car to name one; pass the "
                                  "model's vocab.txt");
        vocab_path = info->vocab_path;
    }
    feat_status st = load_tokenizer(ex, vocab_path);
    if (st != FEAT_OK || !o->window_stride)
        return st;
    if (o->window_stride >= ex->params.max_length - 2)
        return feat_error_set(&c->err, FEAT_E_INVALID_ARGUMENT,
                              "window stride %u must be smaller than max_length - 2 = %u", o->window_stride,
                              ex->params.max_length - 2);
    ex->params.windows = 1;
    ex->params.stride = o->window_stride;
    return FEAT_OK;
}

/* On "[CLS] [SEP]". */
static feat_status warm_run(feat_extractor_core *c, feat_shim_outputs **o)
{
    feat_text_extractor *ex = (feat_text_extractor *)c;
    int64_t ids[2] = {ex->special.cls, ex->special.sep}, mask[2] = {1, 1}, types[2] = {0, 0};
    return feat_shim_run_text(c->tapped.model, ids, mask, types, 1, 2, o, &c->err);
}

static void share(const feat_extractor_core *src, feat_extractor_core *c)
{
    const feat_text_extractor *from = (const feat_text_extractor *)src;
    feat_text_extractor *ex = (feat_text_extractor *)c;
    ex->shared = from->shared;
    atomic_fetch_add(&ex->shared->refs, 1);
    ex->params = from->params;
    ex->special = from->special;
}

static feat_status prepare(feat_extractor_core *c)
{
    feat_text_extractor *ex = (feat_text_extractor *)c;
    if (feat_tok_scratch_new(&ex->scratch) != FEAT_OK)
        return feat_error_set(&c->err, FEAT_E_NOMEM, "out of memory preparing the text extractor");
    return FEAT_OK;
}

static void release(feat_extractor_core *c)
{
    feat_text_extractor *ex = (feat_text_extractor *)c;
    shared_unref(ex->shared);
    feat_tok_scratch_free(ex->scratch);
    feat_tok_output_free(&ex->enc);
    ex->shared = NULL;
    ex->scratch = NULL;
    memset(&ex->enc, 0, sizeof ex->enc);
}

static const feat_extractor_kind text_kind = {
    FEAT_EXTRACTOR_KIND(text, "a text extractor", FEAT_TEXT_DEFAULT_BATCH_SIZE)};

/* ---- the public lifecycle -------------------------------------------------------------- */

feat_status feat_text_extractor_new(feat_text_extractor **out) { return feat_extractor_new(&text_kind, (void **)out); }

void feat_text_extractor_free(feat_text_extractor *ex) { feat_extractor_free(FEAT_CORE(ex)); }

const char *feat_text_extractor_last_error(const feat_text_extractor *ex)
{
    return ex ? ex->core.err.msg : "feat_text_extractor_last_error: extractor is NULL";
}

feat_status feat_text_extractor_load(feat_text_extractor *ex, const char *model_path, const char *vocab_path,
                                     const feat_text_options *opts)
{
    return feat_extractor_load(&text_kind, FEAT_CORE(ex), model_path, opts, vocab_path);
}

feat_status feat_text_extractor_clone(const feat_text_extractor *ex, feat_text_extractor **out)
{
    return feat_extractor_clone(&text_kind, FEAT_CORE_CONST(ex), (void **)out);
}

size_t feat_text_extractor_dim(const feat_text_extractor *ex) { return feat_extractor_dim(FEAT_CORE_CONST(ex)); }

size_t feat_text_extractor_n_taps(const feat_text_extractor *ex) { return feat_extractor_n_taps(FEAT_CORE_CONST(ex)); }

const char *feat_text_extractor_tap(const feat_text_extractor *ex, size_t i)
{
    return feat_extractor_tap(FEAT_CORE_CONST(ex), i);
}

size_t feat_text_extractor_tap_dim(const feat_text_extractor *ex, size_t i)
{
    return feat_extractor_tap_dim(FEAT_CORE_CONST(ex), i);
}

const feat_tokenizer *feat_text_extractor_tokenizer(const feat_text_extractor *ex)
{
    return ex && ex->core.loaded ? ex->shared->tok : NULL;
}

void feat_text_extractor_cancel(feat_text_extractor *ex) { feat_extractor_cancel(FEAT_CORE(ex)); }

/* ---- extraction ------------------------------------------------------------------------ */

/* Capacity doubled from `first` until it holds `need`. */
static size_t grown(size_t cap, size_t first, size_t need)
{
    for (cap = cap ? cap : first; cap < need;)
        cap *= 2;
    return cap;
}

/* realloc that keeps p and sets *failed when it fails. */
static void *resized(void *p, size_t n, size_t size, int *failed)
{
    void *q = realloc(p, n * size);
    if (!q)
        *failed = 1;
    return q ? q : p;
}

static int store_push(token_store *s, size_t item, const feat_tok_output *enc)
{
    int failed = 0;
    if (s->n + enc->n_tokens > s->cap) {
        size_t cap = grown(s->cap, 4096, s->n + enc->n_tokens);
        s->ids = resized(s->ids, cap, sizeof *s->ids, &failed);
        s->types = resized(s->types, cap, sizeof *s->types, &failed);
        if (failed)
            return -1;
        s->cap = cap;
    }
    if (s->n_seqs + enc->n_windows > s->cap_seqs) {
        size_t cap = grown(s->cap_seqs, 256, s->n_seqs + enc->n_windows);
        s->seqs = resized(s->seqs, cap, sizeof *s->seqs, &failed);
        if (failed)
            return -1;
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

/* The batches of one call, run side by side by workers (lib/extract/workers.h). run.mu also
 * guards item errors: an item's windows may be in batches of different workers. */
typedef struct text_run {
    feat_batch_run run;
    feat_text_extractor *ex;
    const token_store *s;
    const size_t *order;
    const planned_batch *batches;
    size_t n_batches;
    float *seq_rows;
    feat_result *r;
} text_run;

/* The padded ids, mask and type ids of batch pb (3 x count x len in buf). */
static void pad_batch(const text_run *t, const planned_batch *pb, int64_t *buf)
{
    const token_store *s = t->s;
    size_t bn = pb->count, len = pb->len;
    int64_t *ids = buf, *mask = buf + bn * len, *types = buf + 2 * bn * len;
    for (size_t k = 0; k < bn; k++) {
        const seq *q = &s->seqs[t->order[pb->first + k]];
        for (size_t i = 0; i < len; i++) {
            int in = i < q->len;
            ids[k * len + i] = in ? s->ids[q->start + i] : t->ex->special.pad;
            types[k * len + i] = in ? s->types[q->start + i] : 0;
            mask[k * len + i] = in;
        }
    }
}

/* Runs batch pb (padded in buf) and pools its sequences' rows; a status only for failures that
 * are not the items' fault, with the message in *e. */
static feat_status run_text_batch(text_run *t, const planned_batch *pb, const int64_t *buf, float *pool, feat_error *e)
{
    feat_text_extractor *ex = t->ex;
    size_t bn = pb->count, len = pb->len, dim = ex->core.tapped.dim;
    const int64_t *mask = buf + bn * len;
    feat_shim_outputs *o;
    feat_error_clear(e);
    feat_status rs =
        feat_shim_run_text(ex->core.tapped.model, buf, mask, buf + 2 * bn * len, (int64_t)bn, (int64_t)len, &o, e);
    if (feat_extractor_fatal(rs))
        return rs;
    for (size_t k = 0; k < bn; k++) {
        size_t si = t->order[pb->first + k];
        if (rs != FEAT_OK) {
            /* The model refused this batch (e.g. longer than its position table): its items
             * fail with the reason; the other batches go on. */
            pthread_mutex_lock(&t->run.mu);
            feat_result_set_error(t->r, t->s->seqs[si].item, e);
            pthread_mutex_unlock(&t->run.mu);
            for (size_t j = 0; j < dim; j++)
                t->seq_rows[si * dim + j] = NAN;
            continue;
        }
        feat_tapped_pool_item(&ex->core.tapped, o, (int64_t)k, mask + k * len, t->seq_rows + si * dim, pool);
    }
    if (rs == FEAT_OK)
        feat_shim_outputs_free(o);
    return FEAT_OK;
}

static void text_worker(void *ctx, size_t worker)
{
    (void)worker;
    text_run *t = ctx;
    float *pool = malloc(t->ex->core.widest_tap * sizeof *pool);
    int64_t *buf = NULL;
    size_t buf_cap = 0, bi;
    feat_error e = {0};
    feat_status st = pool ? FEAT_OK : feat_error_set(&e, FEAT_E_NOMEM, "out of memory for pooling");
    while (st == FEAT_OK && feat_batch_run_claim(&t->run, t->n_batches, &bi)) {
        const planned_batch *pb = &t->batches[bi];
        if (3 * pb->count * pb->len > buf_cap) {
            free(buf);
            buf_cap = 3 * pb->count * pb->len;
            if (!(buf = malloc(buf_cap * sizeof *buf))) {
                st = feat_error_set(&e, FEAT_E_NOMEM, "out of memory for a batch of %zu x %zu tokens", pb->count,
                                    pb->len);
                break;
            }
        }
        pad_batch(t, pb, buf);
        st = run_text_batch(t, pb, buf, pool, &e);
    }
    if (st != FEAT_OK)
        feat_batch_run_fail(&t->run, st, &e);
    free(buf);
    free(pool);
}

/* Cuts the sorted sequences into batches (at most n of them, in *out). A batch ends at
 * batch_size sequences, or where a sequence is shorter than 3/4 of the longest: every
 * sequence is padded to the longest, so mixing lengths would spend the forward pass on
 * padding (one 256-token text among 31 short ones costs 30x). Calls with few sequences are
 * cut into at least as many batches as there are threads, so that the workers share them
 * (results do not depend on how sequences are batched). */
static size_t plan_batches(const feat_text_extractor *ex, const token_store *s, const size_t *order, planned_batch *out)
{
    size_t n = s->n_seqs, threads = feat_workers_for(SIZE_MAX), cap = ex->core.batch_size;
    if (n && (n + threads - 1) / threads < cap)
        cap = (n + threads - 1) / threads;
    size_t n_batches = 0;
    for (size_t b0 = 0, bn = 0; b0 < n; b0 += bn) {
        size_t len = s->seqs[order[b0]].len; /* the longest of the batch: sorted, it comes first */
        bn = 1;
        while (b0 + bn < n && bn < cap && 4 * s->seqs[order[b0 + bn]].len >= 3 * len)
            bn++;
        out[n_batches++] = (planned_batch){b0, bn, len};
    }
    return n_batches;
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
        return feat_error_set(&ex->core.err, FEAT_E_NOMEM, "out of memory ordering %zu sequences", n);
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (sort_key){s->seqs[i].len, i};
    qsort(keys, n, sizeof *keys, by_length);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].index;
    free(keys);
    text_run t = {.ex = ex, .s = s, .order = order, .batches = batches, .seq_rows = seq_rows, .r = r};
    t.n_batches = plan_batches(ex, s, order, batches);
    feat_batch_run_init(&t.run, &ex->core);
    /* Sequence models run one thread per worker: measured faster than an intra-op pool on each
     * batch (docs/performance.md, "Thread budget"). */
    feat_status st = feat_batch_run_go(&t.run, feat_workers_for(t.n_batches), 1, text_worker, &t);
    free(batches);
    free(order);
    return st;
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

/* Encodes every item into the store; items that fail get their error in the result. Fails
 * only when memory runs out. */
static feat_status tokenize_items(feat_text_extractor *ex, const char *const *a, const size_t *la, const char *const *b,
                                  const size_t *lb, size_t n, feat_result *r, token_store *s)
{
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
        feat_status es = feat_tok_encode(ex->shared->tok, ex->scratch, a[i], la ? la[i] : (size_t)-1, b ? b[i] : NULL,
                                         b ? (lb ? lb[i] : (size_t)-1) : 0, &params, &ex->enc, &e);
        if (es == FEAT_E_NOMEM) {
            feat_error_copy(&ex->core.err, &e);
            return es;
        }
        if (es != FEAT_OK) {
            feat_error_prefix(&e, "item %zu", i);
            feat_result_set_error(r, i, &e);
            continue;
        }
        if (store_push(s, i, &ex->enc))
            return feat_error_set(&ex->core.err, FEAT_E_NOMEM, "out of memory storing tokens");
    }
    return FEAT_OK;
}

/* Runs the stored sequences and combines each item's windows into its row. */
static feat_status embed_items(feat_text_extractor *ex, token_store *s, feat_result *r)
{
    size_t dim = ex->core.tapped.dim;
    float *seq_rows = malloc((s->n_seqs ? s->n_seqs : 1) * dim * sizeof *seq_rows);
    if (!seq_rows)
        return feat_error_set(&ex->core.err, FEAT_E_NOMEM, "out of memory for %zu sequences", s->n_seqs);
    feat_status st = run_batches(ex, s, seq_rows, r);
    /* Sequences of one item are consecutive in the store (pushed together). */
    for (size_t q = 0; st == FEAT_OK && q < s->n_seqs;) {
        size_t item = s->seqs[q].item, w = q;
        while (w < s->n_seqs && s->seqs[w].item == item)
            w++;
        if (feat_result_item_status(r, item) == FEAT_E_INTERNAL) { /* not failed by a batch */
            combine_windows(options(ex)->window_pooling, seq_rows + q * dim, w - q, dim, feat_result_row(r, item));
            feat_result_set_ok(r, item);
        }
        q = w;
    }
    free(seq_rows);
    return st;
}

static feat_status extract(feat_text_extractor *ex, const char *const *a, const size_t *la, const char *const *b,
                           const size_t *lb, int pairs, size_t n, feat_result **out)
{
    feat_status st = feat_text_args_check(ex, "extractor", a, b, pairs, n, ex ? &ex->core.err : NULL);
    if (st != FEAT_OK)
        return st;
    feat_result *r = NULL;
    st = feat_extractor_begin(&ex->core, out);
    if (st == FEAT_OK)
        st = feat_result_alloc(n, ex->core.tapped.dim, &r, &ex->core.err);
    token_store s = {0};
    if (st == FEAT_OK)
        st = tokenize_items(ex, a, la, b, lb, n, r, &s);
    if (st == FEAT_OK)
        st = embed_items(ex, &s, r);
    store_free(&s);
    return feat_extractor_finish(st, r, out);
}

feat_status feat_text_args_check(const void *obj, const char *what, const char *const *texts_a,
                                 const char *const *texts_b, int pairs, size_t n, feat_error *err)
{
    if (!obj)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s is NULL", what);
    if (n && !texts_a)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, pairs ? "texts_a is NULL" : "texts is NULL");
    if (n && pairs && !texts_b)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "texts_b is NULL");
    return FEAT_OK;
}

feat_status feat_text_extractor_extract(feat_text_extractor *ex, const char *const *texts, const size_t *lens, size_t n,
                                        feat_result **out)
{
    return extract(ex, texts, lens, NULL, NULL, 0, n, out);
}

feat_status feat_text_extractor_extract_pairs(feat_text_extractor *ex, const char *const *texts_a, const size_t *lens_a,
                                              const char *const *texts_b, const size_t *lens_b, size_t n,
                                              feat_result **out)
{
    return extract(ex, texts_a, lens_a, texts_b, lens_b, 1, n, out);
}
