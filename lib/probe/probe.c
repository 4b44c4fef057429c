/* SPDX-License-Identifier: MIT */
/* Folds, scaling, the greedy selection and the cross-validated LIBLINEAR fits of a probe. */
#include "probe/probe.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linear.h>

/* A fused set must beat the current one by more than rounding: means of the same fold
 * accuracies summed in another order may differ in the last bit. */
#define IMPROVE_EPS 1e-9

/* The row-space form (docs/adapting.md) is refused, and the fold fitted on its columns, when a
 * Cholesky pivot of the training rows' Gram matrix falls to this fraction of its diagonal: a
 * row within 1e-4 (relative) of the span of the rows before it, a duplicate at the extreme.
 * Above it the factor's condition number stays below about 1e4, so the coordinates keep
 * about 12 significant digits, far more than the fit's tolerance asks. */
#define ROW_SPACE_PIVOT 1e-8

/* The decision values a greedy step's candidates start from (docs/adapting.md) are kept while
 * a batch's sets need at most this many bytes for them; above it every fit starts from zero. */
#define WARM_START_BYTES_MAX ((size_t)256 << 20)

/* The single taps' Gram matrices, which every fused set's is the sum of, are kept when they
 * need at most this many bytes; above it each fused set computes its own from its columns. */
#define GRAM_CACHE_BYTES_MAX ((size_t)512 << 20)

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias. */
static size_t below(uint64_t *s, size_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = splitmix64(s);
    while (v >= limit);
    return (size_t)(v % n);
}

static feat_status check_fold_input(const int32_t *labels, size_t n, size_t n_classes, uint32_t k, size_t *count,
                                    feat_error *err)
{
    if (k < 2 || k > FEAT_PROBE_FOLDS_MAX)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "folds: %u folds, expected 2..%d", k, FEAT_PROBE_FOLDS_MAX);
    for (size_t r = 0; r < n; r++) {
        if (labels[r] < -1 || labels[r] >= (int64_t)n_classes)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "folds: row %zu has class %d, expected -1..%zu", r,
                                  labels[r], n_classes - 1);
        if (labels[r] >= 0)
            count[labels[r]]++;
    }
    for (size_t c = 0; c < n_classes; c++)
        if (count[c] && count[c] < k)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "folds: class %zu has %zu rows, fewer than the %u folds", c, count[c], k);
    return FEAT_OK;
}

feat_status feat_probe_folds(const int32_t *labels, size_t n, size_t n_classes, uint32_t k, uint64_t seed,
                             int32_t *fold, feat_error *err)
{
    if ((!labels || !fold) && n)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "folds: labels or fold is NULL");
    size_t *count = calloc(n_classes + 1, sizeof *count), *order = malloc((n ? n : 1) * sizeof *order);
    feat_status st = count && order ? check_fold_input(labels, n, n_classes, k, count, err)
                                    : feat_error_set(err, FEAT_E_NOMEM, "folds: out of memory for %zu rows", n);
    uint64_t rng = seed;
    size_t dealt = 0;
    for (size_t c = 0; st == FEAT_OK && c < n_classes; c++) {
        size_t m = 0;
        for (size_t r = 0; r < n; r++)
            if (labels[r] == (int32_t)c)
                order[m++] = r;
        for (size_t i = m; i > 1; i--) {
            size_t j = below(&rng, i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        /* Dealing continues across classes, so fold sizes stay within one of each other. */
        for (size_t i = 0; i < m; i++)
            fold[order[i]] = (int32_t)(dealt++ % k);
    }
    for (size_t r = 0; st == FEAT_OK && r < n; r++)
        if (labels[r] < 0)
            fold[r] = -1;
    free(count);
    free(order);
    return st;
}

void feat_probe_scaler_fit(const float *x, size_t stride, const size_t *rows, size_t n_rows, const size_t *cols,
                           size_t n_cols, double *mean, double *scale)
{
    for (size_t j = 0; j < n_cols; j++)
        mean[j] = scale[j] = 0.0;
    for (size_t i = 0; i < n_rows; i++) {
        const float *row = x + rows[i] * stride;
        for (size_t j = 0; j < n_cols; j++)
            mean[j] += row[cols[j]];
    }
    for (size_t j = 0; j < n_cols; j++)
        mean[j] /= (double)n_rows;
    for (size_t i = 0; i < n_rows; i++) {
        const float *row = x + rows[i] * stride;
        for (size_t j = 0; j < n_cols; j++) {
            double d = row[cols[j]] - mean[j];
            scale[j] += d * d;
        }
    }
    double n = (double)n_rows;
    for (size_t j = 0; j < n_cols; j++) {
        double var = scale[j] / n;
        /* scikit-learn's _is_constant_feature: a variance within the two-pass algorithm's
         * error bound is zero, and its column is left unscaled. */
        double bound = n * DBL_EPSILON * var + (n * mean[j] * DBL_EPSILON) * (n * mean[j] * DBL_EPSILON);
        scale[j] = var <= bound ? 1.0 : sqrt(var);
    }
}

/* The candidates of one greedy step: the current set plus b, kept sorted. */
static void with_block(const size_t *cur, size_t n_cur, size_t b, size_t *out)
{
    size_t k = 0, i = 0;
    for (; i < n_cur && cur[i] < b; i++)
        out[k++] = cur[i];
    out[k++] = b;
    for (; i < n_cur; i++)
        out[k++] = cur[i];
}

static int in_set(const size_t *set, size_t n, size_t b)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == b)
            return 1;
    return 0;
}

feat_status feat_probe_greedy(size_t n, size_t start, double start_score, size_t max_size, feat_probe_score_fn score,
                              feat_probe_visit_fn visit, void *ctx, feat_error *err)
{
    if (start >= n || n > FEAT_PROBE_BLOCKS_MAX || !score || !visit)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                              "greedy selection: start %zu of %zu blocks (at most %d), or no callback", start, n,
                              FEAT_PROBE_BLOCKS_MAX);
    if (max_size == 0 || max_size > n)
        max_size = n;
    /* cand: the step's candidates, one row of n_cur + 1 blocks each, in the order of the added block */
    size_t *cur = malloc(n * sizeof *cur), *cand = malloc(n * n * sizeof *cand);
    double *scores = malloc(n * sizeof *scores);
    feat_status st =
        cur && cand && scores ? FEAT_OK : feat_error_set(err, FEAT_E_NOMEM, "greedy selection: out of memory");
    size_t n_cur = 1;
    double cur_score = start_score;
    if (cur)
        cur[0] = start;
    while (st == FEAT_OK && n_cur < max_size) {
        size_t m = 0, best = 0;
        for (size_t b = 0; b < n; b++)
            if (!in_set(cur, n_cur, b))
                with_block(cur, n_cur, b, cand + m++ * (n_cur + 1));
        st = score(ctx, cand, m, n_cur + 1, scores);
        for (size_t i = 1; st == FEAT_OK && i < m; i++)
            if (scores[i] > scores[best])
                best = i;
        int improved = st == FEAT_OK && m > 0 && scores[best] > cur_score + IMPROVE_EPS;
        for (size_t i = 0; st == FEAT_OK && i < m; i++)
            st = visit(ctx, cand + i * (n_cur + 1), n_cur + 1, scores[i], improved && i == best);
        if (st != FEAT_OK || !improved)
            break;
        memcpy(cur, cand + best * (n_cur + 1), (n_cur + 1) * sizeof *cur);
        n_cur++;
        cur_score = scores[best];
    }
    free(cur);
    free(cand);
    free(scores);
    return st;
}

/* --- cross-validated fits ------------------------------------------------------------ */

typedef struct probe_ctx {
    const float *x;
    size_t cols;
    const int32_t *y;
    const feat_probe_block *blocks;
    const feat_probe_config *cfg;
    feat_probe_report *rep;
    size_t *used; /* row indices of the rows in folds */
    size_t n_used, visited;
    size_t n_dec;            /* decision values per row: 1 for two classes, else one per class */
    int keep_dec;            /* the batch being fitted keeps its training rows' decision values */
    feat_probe_eval *parent; /* the set a greedy step's candidates grow (warm starts) */
    size_t parent_fused;     /* its index in rep->fused, or SIZE_MAX for a single tap */
    double *gram;            /* per (tap, fold): the standardised tap's Gram over the fold's rows, or NULL */
    feat_error *err;
} probe_ctx;

/* Per-set scratch: the columns, the fold's rows as LIBLINEAR nodes (training rows, then the
 * held-out ones), the fold split, and for the row-space form the standardised rows (z, n x
 * (n_col + 1), the bias last; not for a fused set that sums cached Gram matrices), their
 * coordinates (g, at most n x (n_col + 1)) and, when the parent set kept its decision values, a
 * warm start (init, n x n_dec, with one class's coordinates at a time in u). */
typedef struct fit_buf {
    size_t *col, n_col;
    double *mean, *scale, *yv, *z, *g, *init, *u;
    struct feature_node *nodes;
    struct feature_node **xp;
    size_t *train, *test;
} fit_buf;

static void fit_buf_free(fit_buf *b)
{
    free(b->col);
    free(b->mean);
    free(b->scale);
    free(b->yv);
    free(b->z);
    free(b->g);
    free(b->init);
    free(b->u);
    free(b->nodes);
    free(b->xp);
    free(b->train);
    free(b->test);
}

static feat_status fit_buf_alloc(const probe_ctx *c, const size_t *set, size_t n_set, fit_buf *b, feat_error *err)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < n_set; i++)
        b->n_col += c->blocks[set[i]].count;
    size_t stride = b->n_col + 2, n = c->n_used;
    if (b->n_col >= (size_t)INT_MAX - 2 || (n && stride > SIZE_MAX / sizeof *b->nodes / n))
        return feat_error_set(err, FEAT_E_LIMIT, "probe: %zu rows x %zu columns is too large", n, b->n_col);
    b->col = malloc(b->n_col * sizeof *b->col);
    b->mean = malloc(b->n_col * sizeof *b->mean);
    b->scale = malloc(b->n_col * sizeof *b->scale);
    b->nodes = malloc(n * stride * sizeof *b->nodes);
    b->xp = malloc(n * sizeof *b->xp);
    b->yv = malloc(n * sizeof *b->yv);
    b->train = malloc(n * sizeof *b->train);
    b->test = malloc(n * sizeof *b->test);
    int own_gram = !c->gram || n_set == 1; /* a fused set sums its taps' cached ones */
    b->z = own_gram ? malloc(n * (b->n_col + 1) * sizeof *b->z) : NULL;
    b->g = malloc(n * (b->n_col + 1) * sizeof *b->g);
    int warm = c->parent && c->parent->train_dec;
    b->init = warm ? malloc(n * c->n_dec * sizeof *b->init) : NULL;
    b->u = warm ? malloc(n * sizeof *b->u) : NULL;
    if (!b->col || !b->mean || !b->scale || !b->nodes || !b->xp || !b->yv || !b->train || !b->test ||
        (own_gram && !b->z) || !b->g || (warm && (!b->init || !b->u))) {
        fit_buf_free(b);
        return feat_error_set(err, FEAT_E_NOMEM, "probe: out of memory for %zu rows x %zu columns", n, b->n_col);
    }
    size_t k = 0;
    for (size_t i = 0; i < n_set; i++)
        for (size_t j = 0; j < c->blocks[set[i]].count; j++)
            b->col[k++] = c->blocks[set[i]].first + j;
    return FEAT_OK;
}

/* Standardises row r with the fold's scaler into LIBLINEAR nodes, with the bias feature
 * (value 1, scikit-learn's intercept_scaling) last. */
static struct feature_node *fill_row(const probe_ctx *c, fit_buf *b, size_t slot, size_t r)
{
    struct feature_node *nd = b->nodes + slot * (b->n_col + 2);
    const float *row = c->x + r * c->cols;
    for (size_t j = 0; j < b->n_col; j++) {
        nd[j].index = (int)j + 1;
        nd[j].value = (row[b->col[j]] - b->mean[j]) / b->scale[j];
    }
    nd[b->n_col].index = (int)b->n_col + 1;
    nd[b->n_col].value = 1.0;
    nd[b->n_col + 1].index = -1;
    return nd;
}

/* Four partial sums, so the compiler can keep them in vector lanes. */
static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* In-place Cholesky factor of the n x n Gram matrix whose lower triangle is in a (row-major,
 * row stride n): a becomes L with L L^T = G. 0 when a pivot falls to ROW_SPACE_PIVOT of its
 * diagonal. */
static int cholesky(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double *ri = a + i * n;
        for (size_t j = 0; j < i; j++)
            ri[j] = (ri[j] - dot(ri, a + j * n, j)) / a[j * n + j];
        double d = ri[i] - dot(ri, ri, i);
        if (!(d > ROW_SPACE_PIVOT * ri[i]))
            return 0;
        ri[i] = sqrt(d);
    }
    return 1;
}

/* Forward substitution with the factor cholesky made (row stride r): u becomes L^-1 u. */
static void solve_lower(const double *l, size_t r, double *u)
{
    for (size_t j = 0; j < r; j++)
        u[j] = (u[j] - dot(l + j * r, u, j)) / l[j * r + j];
}

/* The cached Gram matrix of tap t in fold f: n_used x n_used, of which the rows of the fold
 * (training rows, then held-out ones) against its training rows are used: the lower triangle
 * of the training rows, every held-out row against all of them. */
static double *tap_gram(const probe_ctx *c, size_t t, int32_t f)
{
    return c->gram + (t * c->rep->folds + (size_t)f) * c->n_used * c->n_used;
}

/* Standardises the fold's rows of the set's columns into z (the bias last). */
static void standardise(const probe_ctx *c, fit_buf *b, size_t n_train, size_t n)
{
    size_t d = b->n_col + 1;
    for (size_t i = 0; i < n; i++) {
        const float *row = c->x + (i < n_train ? b->train[i] : b->test[i - n_train]) * c->cols;
        double *zi = b->z + i * d;
        for (size_t j = 0; j < b->n_col; j++)
            zi[j] = (row[b->col[j]] - b->mean[j]) / b->scale[j];
        zi[b->n_col] = 1.0;
    }
}

/* The Gram entries the row-space form needs, g[i * r + j] for row i of the fold and pivot row
 * j < r (j <= i for the first r rows). With the cache, a single tap computes and keeps its
 * tap's entries against all training rows (the bias apart), and a fused set sums its taps'
 * (the standardised columns of a set are its taps', side by side); else from z. */
static void gram(const probe_ctx *c, fit_buf *b, const feat_probe_eval *ev, int32_t f, size_t n_train, size_t n,
                 size_t r)
{
    size_t d = b->n_col + 1;
    if (!c->gram) {
        standardise(c, b, n_train, n);
        for (size_t i = 0; i < n; i++) /* Z1's lower triangle, every other row against all of Z1 */
            for (size_t j = 0; j < (i < r ? i + 1 : r); j++)
                b->g[i * r + j] = dot(b->z + i * d, b->z + j * d, d);
        return;
    }
    size_t nu = c->n_used;
    if (ev->n_blocks == 1) {
        standardise(c, b, n_train, n);
        double *t = tap_gram(c, ev->blocks[0], f);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < (i < n_train ? i + 1 : n_train); j++)
                t[i * nu + j] = dot(b->z + i * d, b->z + j * d, b->n_col);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < (i < r ? i + 1 : r); j++) {
            double s = 1.0; /* the bias column */
            for (size_t k = 0; k < ev->n_blocks; k++)
                s += tap_gram(c, ev->blocks[k], f)[i * nu + j];
            b->g[i * r + j] = s;
        }
}

/* The row-space form of a fold (docs/adapting.md). The L2-regularised problem is unchanged
 * by a rotation of the feature space (w.x and |w| are), and its solution lies in the span of
 * the standardised training rows Z (the bias column included, as it is regularised too). With
 * r = min(n_train, n_col + 1) and the first r training rows Z1 independent, Z1 Z1^T = L L^T
 * gives the orthonormal basis Z1^T L^-T of that span when r = n_train, and of the whole space
 * when r = n_col + 1; a row's coordinates in it are L^-1 (Z1 z). The first r training rows
 * become the rows of L (row i has i + 1 entries), every other row r entries, so LIBLINEAR
 * solves the same problem, with the same stopping rule (gradient norms are rotation-
 * invariant) and the same decision values, on rows of at most r instead of n_col + 1 entries:
 * half the work per pass or less once a set is as wide as the fold is long. Fills the nodes of
 * every row of the fold and returns r, the coordinates per row; 0 (nothing usable) when Z1 is
 * too close to singular. */
static size_t row_space(const probe_ctx *c, fit_buf *b, const feat_probe_eval *ev, int32_t f, size_t n_train,
                        size_t n_test)
{
    size_t d = b->n_col + 1, n = n_train + n_test, r = n_train < d ? n_train : d;
    gram(c, b, ev, f, n_train, n, r);
    if (!cholesky(b->g, r))
        return 0;
    for (size_t i = r; i < n; i++) /* L^-1 (Z1 z) */
        solve_lower(b->g, r, b->g + i * r);
    struct feature_node *nd = b->nodes;
    for (size_t i = 0; i < n; i++) {
        size_t m = i < r ? i + 1 : r;
        b->xp[i] = nd;
        for (size_t j = 0; j < m; j++) {
            nd[j].index = (int)j + 1;
            nd[j].value = b->g[i * r + j];
        }
        nd[m].index = -1;
        nd += m + 1;
    }
    return r;
}

static void quiet(const char *s) { (void)s; }

/* The warm start of a candidate's fold in the row-space form of r coordinates
 * (docs/adapting.md): the point whose decision values on the training rows are those of the
 * fitted parent set, which the candidate's features can express exactly as they include the
 * parent's. Its coordinates u solve L u = f on the first r training rows (solve_lower, one
 * class at a time through b->u); LIBLINEAR's layout is init[j * n_dec + k] for coordinate j of
 * class k's vector. The stopping rule is unchanged: LIBLINEAR measures the gradient against its
 * norm at zero, wherever it starts. */
static const double *warm_start(const probe_ctx *c, fit_buf *b, int32_t f, size_t r)
{
    size_t k = c->n_dec;
    const double *dec = c->parent->train_dec + (size_t)f * c->n_used * k;
    for (size_t cl = 0; cl < k; cl++) {
        for (size_t j = 0; j < r; j++)
            b->u[j] = dec[j * k + cl];
        solve_lower(b->g, r, b->u);
        for (size_t j = 0; j < r; j++)
            b->init[j * k + cl] = b->u[j];
    }
    return b->init;
}

/* Keeps the decision values of a fitted fold's training rows (in training order) for the
 * warm starts of the sets grown from this one. */
static void keep_train_dec(const probe_ctx *c, const struct model *m, const fit_buf *b, int32_t f, size_t n_train,
                           feat_probe_eval *ev)
{
    double *vals = ev->train_dec + (size_t)f * c->n_used * c->n_dec;
    for (size_t i = 0; i < n_train; i++)
        predict_values(m, b->xp[i], vals + i * c->n_dec);
}

/* Fits on every fold but f, predicts fold f; returns the fold's accuracy in *acc and whether
 * it took the row-space form in *reduced. */
static feat_status run_fold(const probe_ctx *c, fit_buf *b, int32_t f, feat_probe_eval *ev, double *acc, int *reduced,
                            feat_error *err)
{
    size_t n_train = 0, n_test = 0, correct = 0;
    for (size_t i = 0; i < c->n_used; i++) {
        size_t r = c->used[i];
        if (c->rep->fold[r] == f)
            b->test[n_test++] = r;
        else
            b->train[n_train++] = r;
    }
    feat_probe_scaler_fit(c->x, c->cols, b->train, n_train, b->col, b->n_col, b->mean, b->scale);
    size_t r = row_space(c, b, ev, f, n_train, n_test); /* 0: fitted on the columns */
    *reduced = r > 0;
    for (size_t i = 0; i < n_train + n_test && !r; i++)
        b->xp[i] = fill_row(c, b, i, i < n_train ? b->train[i] : b->test[i - n_train]);
    for (size_t i = 0; i < n_train; i++)
        b->yv[i] = c->y[b->train[i]];
    /* The primal form carries the bias column itself (bias 1 marks it for LIBLINEAR); in the
     * row-space form it is inside the coordinates. */
    struct problem prob = {
        .l = (int)n_train, .n = r ? (int)r : (int)b->n_col + 1, .y = b->yv, .x = b->xp, .bias = r ? -1.0 : 1.0};
    struct parameter par = {.solver_type = L2R_LR, .eps = 1e-4, .C = 1.0, .p = 0.1};
    if (r && b->init)
        par.init_sol = (double *)warm_start(c, b, f, r);
    const char *bad = check_parameter(&prob, &par);
    if (bad)
        return feat_error_set(err, FEAT_E_INTERNAL, "probe: liblinear refused its parameters: %s", bad);
    struct model *m = train(&prob, &par);
    if (!m)
        return feat_error_set(err, FEAT_E_NOMEM, "probe: liblinear could not train fold %d", f);
    if (ev->train_dec)
        keep_train_dec(c, m, b, f, n_train, ev);
    for (size_t i = 0; i < n_test; i++) {
        int32_t p = (int32_t)predict(m, b->xp[n_train + i]);
        ev->pred[b->test[i]] = p;
        correct += p == c->y[b->test[i]];
    }
    free_and_destroy_model(&m);
    *acc = (double)correct / (double)n_test;
    return FEAT_OK;
}

/* The folds of a batch of sets (the single taps, or every candidate of one greedy step), shared
 * by the threads that fit them: each claims the next (set, fold) task in order and writes only
 * that fold's accuracy and its held-out rows' predictions. */
typedef struct fold_run {
    const probe_ctx *c;
    feat_probe_eval *evs;
    size_t n_evs, next, n_tasks; /* task t: set t / k, fold t % k */
    uint32_t k;
    pthread_mutex_t lock;
    feat_status st;
    feat_error err; /* the first failure */
} fold_run;

/* Claims the next task under the lock, after recording the last one's outcome. */
static size_t claim(fold_run *t, feat_status st, const feat_error *err, feat_probe_eval *last, int reduced)
{
    pthread_mutex_lock(&t->lock);
    if (st != FEAT_OK && t->st == FEAT_OK) {
        t->st = st;
        feat_error_copy(&t->err, err);
    }
    if (last)
        last->row_space_folds += (uint32_t)reduced;
    size_t task = t->st == FEAT_OK ? t->next++ : t->n_tasks;
    pthread_mutex_unlock(&t->lock);
    return task;
}

static void *fold_worker(void *arg)
{
    fold_run *t = arg;
    fit_buf b;
    feat_error err = {0};
    feat_status st = FEAT_OK;
    feat_probe_eval *ev = NULL, *last = NULL; /* the set b is for; the one the last fold was of */
    int reduced = 0;
    for (;;) {
        size_t task = claim(t, st, &err, last, reduced);
        last = NULL;
        if (task >= t->n_tasks)
            break;
        if (ev != &t->evs[task / t->k]) { /* a new set: its own columns and scratch */
            if (ev)
                fit_buf_free(&b);
            ev = &t->evs[task / t->k];
            st = fit_buf_alloc(t->c, ev->blocks, ev->n_blocks, &b, &err);
            if (st != FEAT_OK) { /* a failed alloc has freed what it had */
                ev = NULL;
                continue;
            }
        }
        uint32_t f = (uint32_t)(task % t->k);
        st = run_fold(t->c, &b, (int32_t)f, ev, &ev->fold_acc[f], &reduced, &err);
        last = ev;
    }
    if (ev)
        fit_buf_free(&b);
    return NULL;
}

/* Fits the k folds of every set of a batch on up to one thread per online core (at most 8):
 * LIBLINEAR is single-threaded and the fits are independent, so the results do not depend on
 * the count, and a batch of many tasks keeps both cores busy where the 5 folds of one set
 * would leave one idle a fifth of the time. */
static feat_status run_folds(const probe_ctx *c, feat_probe_eval *evs, size_t n_evs)
{
    fold_run t = {.c = c, .evs = evs, .n_evs = n_evs, .k = c->rep->folds, .n_tasks = n_evs * c->rep->folds};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = cores < 1 ? 1 : cores > 8 ? 8 : (size_t)cores, started = 0;
    if (n > t.n_tasks)
        n = t.n_tasks;
    pthread_t tid[8];
    pthread_mutex_init(&t.lock, NULL);
    set_print_string_function(quiet); /* process-wide in LIBLINEAR: set before the threads run */
    for (size_t i = 1; i < n; i++)
        started += pthread_create(&tid[started], NULL, fold_worker, &t) == 0;
    fold_worker(&t);
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&t.lock);
    if (t.st != FEAT_OK)
        feat_error_copy(c->err, &t.err);
    return t.st;
}

/* A result for the set, its predictions all -1 until its folds are fitted. */
static feat_status eval_init(const probe_ctx *c, const size_t *set, size_t n_set, feat_probe_eval *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->blocks = malloc(n_set * sizeof *ev->blocks);
    ev->fold_acc = malloc(c->rep->folds * sizeof *ev->fold_acc);
    ev->pred = malloc((c->rep->rows ? c->rep->rows : 1) * sizeof *ev->pred);
    ev->train_dec = c->keep_dec ? malloc(c->rep->folds * c->n_used * c->n_dec * sizeof *ev->train_dec) : NULL;
    if (!ev->blocks || !ev->fold_acc || !ev->pred || (c->keep_dec && !ev->train_dec))
        return feat_error_set(c->err, FEAT_E_NOMEM, "probe: out of memory for a result");
    memcpy(ev->blocks, set, n_set * sizeof *set);
    ev->n_blocks = n_set;
    for (size_t r = 0; r < c->rep->rows; r++)
        ev->pred[r] = -1;
    for (size_t i = 0; i < n_set; i++)
        ev->cols += c->blocks[set[i]].count;
    return FEAT_OK;
}

/* Mean and population standard deviation over the folds, summed in fold order: the same
 * whatever the threads did. */
static void eval_score(feat_probe_eval *ev, uint32_t k)
{
    double sum = 0.0, sq = 0.0;
    for (uint32_t f = 0; f < k; f++)
        sum += ev->fold_acc[f];
    ev->mean = sum / k;
    for (uint32_t f = 0; f < k; f++)
        sq += (ev->fold_acc[f] - ev->mean) * (ev->fold_acc[f] - ev->mean);
    ev->std = sqrt(sq / k);
}

static void eval_free(feat_probe_eval *ev)
{
    free(ev->train_dec);
    ev->train_dec = NULL;
    free(ev->blocks);
    free(ev->fold_acc);
    free(ev->pred);
}

static void progress(const probe_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void progress(const probe_ctx *c, const char *fmt, ...)
{
    if (!c->cfg->progress)
        return;
    char msg[FEAT_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->cfg->progress(c->cfg->progress_ctx, msg);
}

/* Whether a batch of n_sets sets can keep their training rows' decision values (for the
 * warm starts of the next step) within WARM_START_BYTES_MAX. */
static int can_keep_dec(const probe_ctx *c, size_t n_sets)
{
    size_t per_set = c->rep->folds * c->n_used * c->n_dec;
    return per_set && n_sets <= WARM_START_BYTES_MAX / sizeof(double) / per_set;
}

/* Scores every candidate of one greedy step (n_sets sets of set_size blocks) in one batch,
 * each fit warm-started from the current set's where that set kept its decision values. */
static feat_status score_fused(void *vctx, const size_t *sets, size_t n_sets, size_t set_size, double *scores)
{
    probe_ctx *c = vctx;
    feat_probe_report *rep = c->rep;
    feat_probe_eval *grown = realloc(rep->fused, (rep->n_fused + n_sets) * sizeof *grown);
    if (!grown)
        return feat_error_set(c->err, FEAT_E_NOMEM, "probe: out of memory for fused results");
    rep->fused = grown;
    if (c->parent_fused != SIZE_MAX)
        c->parent = &rep->fused[c->parent_fused];
    c->keep_dec = can_keep_dec(c, n_sets);
    feat_probe_eval *evs = rep->fused + rep->n_fused;
    feat_status st = FEAT_OK;
    for (size_t i = 0; i < n_sets && st == FEAT_OK; i++) {
        st = eval_init(c, sets + i * set_size, set_size, &evs[i]);
        rep->n_fused++; /* counted even on failure, so report_free releases it */
    }
    if (st == FEAT_OK)
        st = run_folds(c, evs, n_sets);
    for (size_t i = 0; i < n_sets && st == FEAT_OK; i++) {
        eval_score(&evs[i], rep->folds);
        scores[i] = evs[i].mean;
        progress(c, "fused set %zu (%zu taps, %zu columns): accuracy %.4f", (size_t)(evs + i - rep->fused) + 1,
                 set_size, evs[i].cols, scores[i]);
    }
    return st;
}

/* The greedy selection reports scored sets in the order it scored them. */
static feat_status visit_fused(void *vctx, const size_t *set, size_t n_set, double score, int accepted)
{
    probe_ctx *c = vctx;
    (void)set, (void)n_set, (void)score;
    feat_probe_eval *ev = &c->rep->fused[c->visited];
    ev->accepted = accepted;
    if (accepted) { /* the next step grows this set: it replaces the parent */
        free(c->parent->train_dec);
        c->parent->train_dec = NULL;
        c->parent = ev;
        c->parent_fused = c->visited;
    } else {
        free(ev->train_dec);
        ev->train_dec = NULL;
    }
    c->visited++;
    return FEAT_OK;
}

/* Rows in folds: finite in every candidate column. lab gets the label of those and -1 for the rest. */
static feat_status select_rows(probe_ctx *c, size_t n_blocks, int32_t *lab)
{
    feat_probe_report *rep = c->rep;
    for (size_t r = 0; r < rep->rows; r++) {
        const float *row = c->x + r * c->cols;
        int ok = 1;
        for (size_t bi = 0; bi < n_blocks && ok; bi++)
            for (size_t j = c->blocks[bi].first; j < c->blocks[bi].first + c->blocks[bi].count && ok; j++)
                ok = isfinite(row[j]);
        lab[r] = ok ? c->y[r] : -1;
        if (ok) {
            c->used[c->n_used++] = r;
            rep->class_rows[c->y[r]]++;
        }
    }
    rep->n_used = c->n_used;
    rep->n_excluded = rep->rows - c->n_used;
    return FEAT_OK;
}

/* What the folds need, said with the class names and the excluded rows. */
static feat_status check_classes(const probe_ctx *c, const feat_probe_labels *labels)
{
    const feat_probe_report *rep = c->rep;
    size_t present = 0, first = 0;
    if (rep->n_used < rep->folds)
        return feat_error_set(c->err, FEAT_E_INVALID_ARGUMENT,
                              "probe: %zu usable rows (%zu excluded as failed), fewer than the %u folds", rep->n_used,
                              rep->n_excluded, rep->folds);
    for (size_t k = 0; k < labels->n_classes; k++) {
        if (!rep->class_rows[k])
            continue;
        if (!present++)
            first = k;
        if (rep->class_rows[k] < rep->folds)
            return feat_error_set(c->err, FEAT_E_INVALID_ARGUMENT,
                                  "probe: class '%s' has %zu usable rows, fewer than the %u folds (use fewer folds or "
                                  "more data)",
                                  labels->names[k], rep->class_rows[k], rep->folds);
    }
    if (present < 2)
        return feat_error_set(c->err, FEAT_E_INVALID_ARGUMENT,
                              "probe: every usable row has the class '%s'; a probe needs at least two classes",
                              labels->names[first]);
    return FEAT_OK;
}

static feat_status check_blocks(size_t cols, const feat_probe_block *blocks, size_t n_blocks, feat_error *err)
{
    if (n_blocks == 0 || n_blocks > FEAT_PROBE_BLOCKS_MAX)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: %zu taps, expected 1..%d", n_blocks,
                              FEAT_PROBE_BLOCKS_MAX);
    for (size_t i = 0; i < n_blocks; i++) {
        const feat_probe_block *b = &blocks[i];
        if (!b->name[0] || memchr(b->name, '\0', sizeof b->name) == NULL)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: tap %zu has no name", i);
        if (b->count == 0 || b->first > cols || b->count > cols - b->first)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "probe: tap '%s' has columns [%zu, %zu + %zu), outside the %zu columns", b->name,
                                  b->first, b->first, b->count, cols);
    }
    return FEAT_OK;
}

static feat_status check_input(const float *x, size_t rows, size_t cols, const feat_probe_labels *labels,
                               const feat_probe_block *blocks, size_t n_blocks, const feat_probe_config *cfg,
                               feat_error *err)
{
    if (!x || !labels || !blocks || !cfg || (!labels->index && rows))
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: features, labels, taps or config is NULL");
    if (labels->n_rows != rows)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: %zu labels for %zu rows", labels->n_rows, rows);
    if (rows > FEAT_PROBE_ROWS_MAX || (rows && cols > SIZE_MAX / rows))
        return feat_error_set(err, FEAT_E_LIMIT, "probe: %zu rows, more than the limit %d", rows, FEAT_PROBE_ROWS_MAX);
    uint32_t k = cfg->folds ? cfg->folds : FEAT_PROBE_DEFAULT_FOLDS;
    if (k < 2 || k > FEAT_PROBE_FOLDS_MAX)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: %u folds, expected 2..%d", k, FEAT_PROBE_FOLDS_MAX);
    for (size_t r = 0; r < rows; r++)
        if (labels->index[r] < 0 || (size_t)labels->index[r] >= labels->n_classes)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: row %zu has no class", r);
    return check_blocks(cols, blocks, n_blocks, err);
}

/* Every block alone, in one batch; the best is the first of the highest mean accuracy (the
 * shallowest). */
static feat_status eval_taps(probe_ctx *c, size_t n_blocks)
{
    feat_probe_report *rep = c->rep;
    feat_status st = FEAT_OK;
    c->keep_dec = n_blocks > 1 && c->cfg->max_fused != 1 && can_keep_dec(c, n_blocks);
    for (size_t i = 0; i < n_blocks && st == FEAT_OK; i++) {
        st = eval_init(c, &i, 1, &rep->taps[i]);
        rep->n_taps = i + 1;
    }
    if (st == FEAT_OK)
        st = run_folds(c, rep->taps, n_blocks);
    for (size_t i = 0; i < n_blocks && st == FEAT_OK; i++) {
        eval_score(&rep->taps[i], rep->folds);
        progress(c, "tap %zu/%zu %s (%zu columns): accuracy %.4f", i + 1, n_blocks, c->blocks[i].name,
                 rep->taps[i].cols, rep->taps[i].mean);
        if (!rep->best_tap || rep->taps[i].mean > rep->best_tap->mean)
            rep->best_tap = &rep->taps[i];
    }
    for (size_t i = 0; i < rep->n_taps; i++) /* only the first step's parent needs its values */
        if (&rep->taps[i] != rep->best_tap) {
            free(rep->taps[i].train_dec);
            rep->taps[i].train_dec = NULL;
        }
    c->parent = rep->best_tap ? &rep->taps[rep->best_tap - rep->taps] : NULL;
    c->parent_fused = SIZE_MAX;
    return st;
}

static feat_status run_probe(probe_ctx *c, const feat_probe_labels *labels, size_t n_blocks)
{
    feat_probe_report *rep = c->rep;
    int32_t *lab = malloc((rep->rows ? rep->rows : 1) * sizeof *lab);
    c->used = malloc((rep->rows ? rep->rows : 1) * sizeof *c->used);
    rep->fold = malloc((rep->rows ? rep->rows : 1) * sizeof *rep->fold);
    rep->class_rows = calloc(labels->n_classes ? labels->n_classes : 1, sizeof *rep->class_rows);
    rep->taps = calloc(n_blocks, sizeof *rep->taps);
    feat_status st = lab && c->used && rep->fold && rep->class_rows && rep->taps
                         ? select_rows(c, n_blocks, lab)
                         : feat_error_set(c->err, FEAT_E_NOMEM, "probe: out of memory for %zu rows", rep->rows);
    if (st == FEAT_OK)
        st = check_classes(c, labels);
    for (size_t k = 0; k < labels->n_classes; k++)
        c->n_dec += rep->class_rows[k] > 0;
    if (c->n_dec == 2)
        c->n_dec = 1; /* LIBLINEAR fits one vector for two classes */
    if (st == FEAT_OK)
        st = feat_probe_folds(lab, rep->rows, labels->n_classes, rep->folds, rep->seed, rep->fold, c->err);
    free(lab);
    int fusing = n_blocks > 1 && c->cfg->max_fused != 1;
    size_t nu = c->n_used;
    if (st == FEAT_OK && fusing && nu && nu <= GRAM_CACHE_BYTES_MAX / sizeof(double) / nu / rep->folds / n_blocks)
        c->gram = malloc(n_blocks * rep->folds * nu * nu * sizeof *c->gram); /* NULL: computed per set */
    if (st == FEAT_OK)
        st = eval_taps(c, n_blocks);
    size_t start = rep->best_tap ? (size_t)(rep->best_tap - rep->taps) : 0;
    if (st == FEAT_OK && n_blocks > 1 && c->cfg->max_fused != 1)
        st = feat_probe_greedy(n_blocks, start, rep->best_tap->mean, c->cfg->max_fused, score_fused, visit_fused, c,
                               c->err);
    rep->winner = rep->best_tap;
    for (size_t i = 0; i < rep->n_fused; i++)
        if (rep->fused[i].accepted)
            rep->winner = &rep->fused[i];
    free(c->gram);
    free(c->used);
    return st;
}

feat_status feat_probe_run(const float *x, size_t rows, size_t cols, const feat_probe_labels *labels,
                           const feat_probe_block *blocks, size_t n_blocks, const feat_probe_config *cfg,
                           feat_probe_report *out, feat_error *err)
{
    if (!out)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe: out is NULL");
    memset(out, 0, sizeof *out);
    feat_status st = check_input(x, rows, cols, labels, blocks, n_blocks, cfg, err);
    if (st != FEAT_OK)
        return st;
    out->rows = rows;
    out->n_classes = labels->n_classes;
    out->folds = cfg->folds ? cfg->folds : FEAT_PROBE_DEFAULT_FOLDS;
    out->seed = cfg->seed;
    probe_ctx c = {.x = x, .cols = cols, .y = labels->index, .blocks = blocks, .cfg = cfg, .rep = out, .err = err};
    st = run_probe(&c, labels, n_blocks);
    if (st == FEAT_OK && c.visited != out->n_fused)
        st =
            feat_error_set(err, FEAT_E_INTERNAL, "probe: %zu fused sets scored, %zu reported", out->n_fused, c.visited);
    if (st != FEAT_OK)
        feat_probe_report_free(out);
    return st;
}

void feat_probe_report_free(feat_probe_report *report)
{
    if (!report)
        return;
    for (size_t i = 0; i < report->n_taps; i++)
        eval_free(&report->taps[i]);
    for (size_t i = 0; i < report->n_fused; i++)
        eval_free(&report->fused[i]);
    free(report->taps);
    free(report->fused);
    free(report->fold);
    free(report->class_rows);
    memset(report, 0, sizeof *report);
}

feat_status feat_probe_eval_spec(const feat_probe_eval *ev, const feat_probe_block *blocks, char *buf, size_t cap,
                                 feat_error *err)
{
    if (!ev || !blocks || !buf || cap == 0)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe spec: NULL argument");
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ev->n_blocks; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? "," : "", blocks[ev->blocks[i]].name);
        if (w < 0 || (size_t)w >= cap - len)
            return feat_error_set(err, FEAT_E_BUFFER_TOO_SMALL, "probe spec: over %zu bytes", cap - 1);
        len += (size_t)w;
    }
    return FEAT_OK;
}
