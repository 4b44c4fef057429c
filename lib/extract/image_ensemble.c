/* SPDX-License-Identifier: MIT */
/* The image ensemble (feat/image.h): each input is read and decoded once per decode setting
 * and preprocessed once per group of members with the same resolved preprocessing, on
 * workers; then every member runs its batches on its group's tensors, exactly as its own
 * extract call would batch them (extract/image_extractor.h), and the rows are joined side by
 * side (extract/ensemble.h). */
#include "extract/ensemble.h"
#include "extract/extractor.h"
#include "extract/image_extractor.h"
#include "extract/workers.h"
#include "feat/image.h"
#include "image/image_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Items preprocessed per round at least: the CLI's parts (64 images) are one round. */
#define CHUNK_MIN 64
/* Rounds are a multiple of every member's batch size (so that its batches are the ones of its
 * own call) unless that multiple would exceed this many items. */
#define CHUNK_MAX 4096

/* Members with the same resolved preprocessing. */
typedef struct group {
    const feat_preprocess *pp; /* the first member's (borrowed) */
    size_t per;                /* floats of one tensor */
    size_t decode;             /* the first group that decodes like this one */
} group;

struct feat_image_ensemble {
    feat_ensemble e; /* first: feat_ensemble_new allocates the whole struct */
    group g[FEAT_ENSEMBLE_MAX];
    size_t n_groups;
};

feat_status feat_image_ensemble_new(feat_image_ensemble **out)
{
    return feat_ensemble_new(sizeof(feat_image_ensemble), (void **)out, "feat_image_ensemble");
}

void feat_image_ensemble_free(feat_image_ensemble *ens) { free(ens); }

const char *feat_image_ensemble_last_error(const feat_image_ensemble *ens)
{
    return ens ? ens->e.err.msg : "feat_image_ensemble_last_error: ensemble is NULL";
}

feat_status feat_image_ensemble_add(feat_image_ensemble *ens, feat_image_extractor *ex, const char *name)
{
    if (!ens)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "ensemble is NULL");
    const feat_preprocess *pp = feat_image_extractor_preprocessing(ex);
    feat_status st = feat_ensemble_add(&ens->e, ex, pp != NULL, feat_image_extractor_dim(ex), name);
    if (st != FEAT_OK)
        return st;
    size_t k = 0;
    while (k < ens->n_groups && !feat_preprocess_equal(ens->g[k].pp, pp))
        k++;
    if (k == ens->n_groups) {
        size_t d = 0;
        while (d < ens->n_groups && !feat_preprocess_same_decode(ens->g[d].pp, pp))
            d++;
        ens->g[ens->n_groups++] = (group){pp, feat_preprocess_tensor_count(pp), d};
    }
    ens->e.m[ens->e.n - 1].group = k;
    return FEAT_OK;
}

size_t feat_image_ensemble_n_members(const feat_image_ensemble *ens) { return ens ? ens->e.n : 0; }

size_t feat_image_ensemble_dim(const feat_image_ensemble *ens) { return ens ? ens->e.dim : 0; }

/* One round: items first .. first + n - 1, each group's tensors and failures. */
typedef struct round {
    feat_image_ensemble *ens;
    const feat_image_source *src;
    size_t first, n;
    float *x[FEAT_ENSEMBLE_MAX];
    unsigned char *skip[FEAT_ENSEMBLE_MAX];
    feat_error *why[FEAT_ENSEMBLE_MAX];
    feat_image_scratch **scratch; /* one per worker */
    atomic_size_t next;
} round;

/* Group g failed item j of the round with e, named as the extractor names it: files by path
 * (read errors already do), other inputs by index. */
static void group_failed(round *t, size_t g, size_t j, const feat_error *e, int name_path)
{
    feat_error *w = &t->why[g][j];
    *w = *e;
    if (name_path)
        feat_error_prefix(w, "%s", t->src->paths[t->first + j]);
    else if (t->src->kind != FEAT_SRC_FILE)
        feat_error_prefix(w, "item %zu", t->first + j);
    t->skip[g][j] = 1;
}

/* Decodes item j once for each decode setting and preprocesses it for each group. */
static void decode_item(round *t, feat_image_scratch *s, size_t j, const uint8_t *bytes, size_t nb)
{
    const feat_image_ensemble *ens = t->ens;
    for (size_t d = 0; d < ens->n_groups; d++) {
        if (ens->g[d].decode != d)
            continue;
        feat_image_decoded img;
        feat_error de = {0};
        feat_status ds = feat_image_decode_s(ens->g[d].pp, s, bytes, nb, &img, &de);
        for (size_t g = d; g < ens->n_groups; g++) {
            if (ens->g[g].decode != d)
                continue;
            feat_error e = de;
            if (ds == FEAT_OK &&
                feat_image_preprocess_decoded(ens->g[g].pp, s, &img, t->x[g] + j * ens->g[g].per, &e) == FEAT_OK)
                continue;
            group_failed(t, g, j, &e, t->src->kind == FEAT_SRC_FILE);
        }
    }
}

/* Reads item j (files) or takes its bytes, then decodes and preprocesses it; RGB8 pixels are
 * preprocessed for each group directly. */
static void prepare_item(round *t, feat_image_scratch *s, size_t j)
{
    const feat_image_source *src = t->src;
    const feat_image_ensemble *ens = t->ens;
    size_t i = t->first + j;
    feat_error e = {0};
    feat_status st = FEAT_OK;
    const uint8_t *bytes = NULL;
    size_t nb = 0;
    if (src->kind == FEAT_SRC_RGB8) {
        for (size_t g = 0; g < ens->n_groups; g++) {
            feat_error ge = {0};
            if (feat_image_preprocess_rgb8_s(ens->g[g].pp, s, src->pixels[i], src->widths[i], src->heights[i],
                                             src->strides ? src->strides[i] : 0, t->x[g] + j * ens->g[g].per,
                                             &ge) != FEAT_OK)
                group_failed(t, g, j, &ge, 0);
        }
        return;
    }
    if (src->kind == FEAT_SRC_FILE) {
        uint8_t *data = NULL;
        st = !src->paths[i] ? feat_error_set(&e, FEAT_E_INVALID_ARGUMENT, "item %zu: path is NULL", i)
                            : feat_image_read_file(src->paths[i], s, &data, &nb, &e);
        bytes = data;
    } else {
        bytes = src->data[i];
        nb = src->sizes[i];
        st = !bytes && nb ? feat_error_set(&e, FEAT_E_INVALID_ARGUMENT, "data is NULL") : FEAT_OK;
    }
    if (st == FEAT_OK) {
        decode_item(t, s, j, bytes, nb);
        return;
    }
    for (size_t g = 0; g < ens->n_groups; g++)
        group_failed(t, g, j, &e, 0);
}

static void prepare_worker(void *ctx, size_t w)
{
    round *t = ctx;
    size_t j;
    while ((j = atomic_fetch_add(&t->next, 1)) < t->n)
        prepare_item(t, t->scratch[w], j);
}

/* Every member on its group's tensors, in member order. */
static feat_status run_members(round *t, feat_ensemble_call *call)
{
    feat_ensemble *e = &t->ens->e;
    for (size_t k = 0; k < e->n; k++) {
        size_t g = e->m[k].group;
        feat_result *mr = NULL;
        feat_status st = feat_image_extractor_extract_tensors(e->m[k].ex, t->x[g], t->skip[g], t->n, &mr);
        if (st != FEAT_OK)
            return feat_ensemble_member_failed(call, k, st, feat_image_extractor_last_error(e->m[k].ex));
        for (size_t j = 0; j < t->n; j++)
            if (t->skip[g][j])
                feat_ensemble_fail_item(call, k, t->first + j, &t->why[g][j]);
        feat_ensemble_take(call, k, mr, t->first, t->skip[g]);
        feat_result_free(mr);
    }
    return FEAT_OK;
}

static size_t gcd(size_t a, size_t b) { return b ? gcd(b, a % b) : a; }

/* Items per round: the least common multiple of the members' batch sizes, times what it
 * takes to reach CHUNK_MIN; the largest batch size when that multiple exceeds CHUNK_MAX. */
static size_t round_items(const feat_ensemble *e)
{
    size_t l = 1, widest = 1;
    for (size_t k = 0; k < e->n; k++) {
        size_t bs = FEAT_CORE(e->m[k].ex)->batch_size;
        widest = bs > widest ? bs : widest;
        l = l > CHUNK_MAX ? l : l / gcd(l, bs) * bs;
    }
    if (l > CHUNK_MAX)
        return widest;
    return l * ((CHUNK_MIN + l - 1) / l);
}

/* The buffers of a round of up to m items for n_workers workers; frees them when m is 0. */
static feat_status round_buffers(round *t, size_t m, size_t n_workers, feat_error *err)
{
    int bad = 0;
    for (size_t g = 0; g < t->ens->n_groups; g++) {
        if (!m) {
            free(t->x[g]), free(t->skip[g]), free(t->why[g]);
            continue;
        }
        size_t per = t->ens->g[g].per;
        t->x[g] = per <= SIZE_MAX / sizeof(float) / m ? malloc(m * per * sizeof(float)) : NULL;
        t->skip[g] = malloc(m);
        t->why[g] = malloc(m * sizeof(feat_error));
        bad |= !t->x[g] || !t->skip[g] || !t->why[g];
    }
    for (size_t w = 0; w < n_workers; w++) {
        if (!m)
            feat_image_scratch_free(t->scratch[w]);
        else
            bad |= !(t->scratch[w] = feat_image_scratch_new());
    }
    if (!m)
        free(t->scratch);
    return bad ? feat_error_set(err, FEAT_E_NOMEM, "out of memory for a round of %zu images", m) : FEAT_OK;
}

static feat_status extract(feat_image_ensemble *ens, const feat_image_source *src, size_t n, feat_result **out)
{
    feat_status st = feat_image_source_check(ens, "ensemble", src, n, ens ? &ens->e.err : NULL);
    if (st != FEAT_OK)
        return st;
    feat_ensemble_call call;
    st = feat_ensemble_begin(&ens->e, n, &call, out);
    size_t m = round_items(&ens->e), n_workers = feat_workers_for(m);
    round t = {.ens = ens, .src = src, .scratch = calloc(n_workers, sizeof(feat_image_scratch *))};
    if (st == FEAT_OK)
        st = t.scratch ? round_buffers(&t, m, n_workers, &ens->e.err)
                       : feat_error_set(&ens->e.err, FEAT_E_NOMEM, "out of memory");
    for (size_t first = 0; st == FEAT_OK && first < n; first += m) {
        t.first = first;
        t.n = n - first < m ? n - first : m;
        for (size_t g = 0; g < ens->n_groups; g++)
            memset(t.skip[g], 0, t.n);
        atomic_init(&t.next, 0);
        feat_workers_run(feat_workers_for(t.n), 0, prepare_worker, &t);
        st = run_members(&t, &call);
    }
    if (t.scratch)
        round_buffers(&t, 0, n_workers, NULL);
    return call.r ? feat_ensemble_finish(&call, st, out) : st;
}

feat_status feat_image_ensemble_extract_files(feat_image_ensemble *ens, const char *const *paths, size_t n,
                                              feat_result **out)
{
    return extract(ens, &(feat_image_source){.kind = FEAT_SRC_FILE, .paths = paths}, n, out);
}

feat_status feat_image_ensemble_extract_encoded(feat_image_ensemble *ens, const void *const *data, const size_t *sizes,
                                                size_t n, feat_result **out)
{
    return extract(ens, &(feat_image_source){.kind = FEAT_SRC_ENCODED, .data = data, .sizes = sizes}, n, out);
}

feat_status feat_image_ensemble_extract_rgb8(feat_image_ensemble *ens, const uint8_t *const *pixels,
                                             const uint32_t *widths, const uint32_t *heights, const size_t *strides,
                                             size_t n, feat_result **out)
{
    feat_image_source src = {
        .kind = FEAT_SRC_RGB8, .pixels = pixels, .widths = widths, .heights = heights, .strides = strides};
    return extract(ens, &src, n, out);
}
