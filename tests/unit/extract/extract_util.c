/* SPDX-License-Identifier: MIT */
#include "extract_util.h"

#include "feat/feat.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TU_MAX_FILES 128

static char dir[PATH_MAX];
static char *files[TU_MAX_FILES];
static size_t n_files;

void tu_path(char out[PATH_MAX], const char *name)
{
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/feat-extract-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
}

void tu_write(const char *name, const void *data, size_t n)
{
    char p[PATH_MAX];
    tu_path(p, name);
    FILE *f = fopen(p, "wb");
    if (n == (size_t)-1)
        n = strlen(data);
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(2);
    }
    if (n_files < TU_MAX_FILES)
        files[n_files++] = strdup(p);
}

void tu_write_model(const char *name, const char *model, const char *sidecar)
{
    char n[256];
    snprintf(n, sizeof n, "%s.pt", name);
    tu_write(n, model, (size_t)-1);
    if (sidecar) {
        snprintf(n, sizeof n, "%s.json", name);
        tu_write(n, sidecar, (size_t)-1);
    }
}

void tu_write_variant(char out[PATH_MAX], const char *name, const char *model, const char *extra, const char *sidecar)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s\n", model, extra);
    tu_write_model(name, text, sidecar);
    snprintf(text, sizeof text, "%s.pt", name);
    tu_path(out, text);
}

void tu_cleanup(void)
{
    for (size_t i = 0; i < n_files; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    n_files = 0;
    if (dir[0])
        rmdir(dir);
}

float tu_value(double key, size_t tap, size_t e) { return (float)(key + 64.0 * (double)tap + (double)e / 64.0); }

float tu_bf16(float v)
{
    /* Keep the top 16 bits, rounding the 16 dropped ones to nearest, ties to even. */
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t low = bits & 0xFFFFu, keep = bits >> 16;
    if (low > 0x8000u || (low == 0x8000u && (keep & 1u)))
        keep++;
    bits = keep << 16;
    memcpy(&v, &bits, sizeof v);
    return v;
}

int tu_same_bits(const char *what, size_t row, const float *a, const float *b, size_t n)
{
    if (memcmp(a, b, n * sizeof *a) == 0)
        return 1;
    for (size_t k = 0; k < n; k++)
        if (memcmp(&a[k], &b[k], sizeof *a) != 0) {
            fprintf(stderr, "%s: row %zu differs at %zu: %.9g, expected %.9g\n", what, row, k, a[k], b[k]);
            break;
        }
    return 0;
}

/* Calls cancel(ex) from another thread first_ms after the start, then (repeat != 0) every
 * millisecond until canceller_stop: whatever the scheduling, a call in progress on ex
 * then sees a cancel that came after it started. Exits the test with a failure when
 * canceller_stop has not come 10 s after the first cancel (a call that never returns). */
typedef struct canceller {
    pthread_t tid;
    void (*cancel)(void *ex);
    void *ex;
    long first_ms;
    int repeat;
    int stop; /* written and read under mu */
    pthread_mutex_t mu;
} canceller;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Seconds a cancelled call may take before the test gives up on it: a call that never
 * returns would otherwise hang the suite until meson's timeout. */
#define TU_CANCEL_DEADLINE_S 10

static void *canceller_main(void *p)
{
    canceller *c = p;
    if (c->first_ms > 0)
        sleep_ms(c->first_ms);
    for (long ms = 0, sent = 0;; ms++) {
        pthread_mutex_lock(&c->mu);
        int stop = c->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        if (c->repeat || !sent++)
            c->cancel(c->ex);
        if (ms > TU_CANCEL_DEADLINE_S * 1000L) {
            fprintf(stderr, "FAIL: the call did not return within %d s of feat_*_extractor_cancel\n",
                    TU_CANCEL_DEADLINE_S);
            _exit(1);
        }
        sleep_ms(1);
    }
    return NULL;
}

static void canceller_start(canceller *c, void (*cancel)(void *ex), void *ex, long first_ms, int repeat)
{
    c->cancel = cancel;
    c->ex = ex;
    c->first_ms = first_ms;
    c->repeat = repeat;
    c->stop = 0;
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->tid, NULL, canceller_main, c) != 0) {
        fprintf(stderr, "cannot start a thread\n");
        exit(2);
    }
}

static void canceller_stop(canceller *c)
{
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->tid, NULL);
    pthread_mutex_destroy(&c->mu);
}

void tu_run_threads(size_t n, void *(*fn)(void *), void *args, size_t size)
{
    pthread_t tids[64];
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++)
        if (pthread_create(&tids[i], NULL, fn, (char *)args + i * size) != 0) {
            fprintf(stderr, "cannot start a thread\n");
            exit(2);
        }
    for (size_t i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
}

feat_status tu_extract(const tu_kind *k, void *ex, const size_t *order, size_t n, feat_result **out)
{
    const char *list[256];
    if (n > 256)
        return FEAT_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        list[i] = k->inputs[order ? order[i] : i];
    return k->text ? feat_text_extractor_extract(ex, list, NULL, n, out)
                   : feat_image_extractor_extract_files(ex, list, n, out);
}

const char *tu_last_error(const tu_kind *k, const void *ex)
{
    return k->text ? feat_text_extractor_last_error(ex) : feat_image_extractor_last_error(ex);
}

static void cancel_ex(const tu_kind *k, void *ex)
{
    if (k->text)
        feat_text_extractor_cancel(ex);
    else
        feat_image_extractor_cancel(ex);
}

void tu_free(const tu_kind *k, void *ex)
{
    if (k->text)
        feat_text_extractor_free(ex);
    else
        feat_image_extractor_free(ex);
}

void *tu_new(const tu_kind *k)
{
    feat_image_extractor *ie = NULL;
    feat_text_extractor *te = NULL;
    feat_status st = k->text ? feat_text_extractor_new(&te) : feat_image_extractor_new(&ie);
    if (st != FEAT_OK) {
        fprintf(stderr, "cannot allocate an extractor\n");
        exit(2);
    }
    return k->text ? (void *)te : (void *)ie;
}

static feat_status load(const tu_kind *k, void *ex, const tu_load_case *c)
{
    char p[PATH_MAX], v[PATH_MAX];
    tu_path(p, c->model);
    tu_path(v, c->vocab ? c->vocab : "");
    feat_status st;
    if (k->text) {
        feat_text_options *o;
        feat_text_options_new(&o);
        feat_text_options_set_taps(o, c->taps);
        st = feat_text_extractor_load(ex, p, c->vocab ? v : NULL, o);
        feat_text_options_free(o);
    } else {
        feat_image_options *o;
        feat_image_options_new(&o);
        feat_image_options_set_taps(o, c->taps);
        st = feat_image_extractor_load(ex, p, o);
        feat_image_options_free(o);
    }
    return st;
}

int tu_loads_ok(const tu_kind *k, void *ex, const tu_load_case *cases, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const tu_load_case *c = &cases[i];
        feat_status st = load(k, ex, c);
        const char *msg = tu_last_error(k, ex);
        size_t dim = k->text ? feat_text_extractor_dim(ex) : feat_image_extractor_dim(ex);
        if (st != c->want || (c->msg && !strstr(msg, c->msg)) || (st != FEAT_OK && st != FEAT_E_STATE && dim != 0)) {
            fprintf(stderr, "load %s (taps %s): status %d, dim %zu, message '%s'; wanted %d, '%s'\n", c->model,
                    c->taps ? c->taps : "NULL", (int)st, dim, msg, (int)c->want, c->msg ? c->msg : "");
            ok = 0;
        }
    }
    return ok;
}

int tu_failed_loads_ok(const tu_kind *k, const char *model_text, const char *sidecar, const char *taps,
                       const tu_load_case *cases, size_t n)
{
    char p[PATH_MAX];
    tu_write_variant(p, "warmup_fails", model_text, "fail_batch 1 FEAT_E_BACKEND", sidecar);
    tu_write_model("not_a_model", "PK\x03\x04 a zip, say\n", NULL);
    const tu_load_case common[] = {
        {"nothing_here.pt", NULL, taps, FEAT_E_NOT_FOUND, "does not exist"},
        {"not_a_model.pt", NULL, taps, FEAT_E_MODEL, "not a test model"},
        {"warmup_fails.pt", NULL, taps, FEAT_E_BACKEND, "fails batches of 1"},
    };
    const tu_load_case good = {"m.pt", NULL, taps, FEAT_OK, NULL};
    const tu_load_case again = {"m.pt", NULL, taps, FEAT_E_STATE, "already has a model"};
    void *ex = tu_new(k);
    feat_result *r = NULL;
    int ok = tu_extract(k, ex, NULL, 1, &r) == FEAT_E_STATE && !r;
    ok &= tu_loads_ok(k, ex, common, sizeof common / sizeof common[0]);
    ok &= tu_loads_ok(k, ex, cases, n);
    ok &= tu_loads_ok(k, ex, &good, 1);
    ok &= tu_extract_ok(k, "after failed loads", ex, NULL, k->n_items);
    ok &= tu_loads_ok(k, ex, &again, 1);
    tu_free(k, ex);
    return ok;
}

int tu_row_ok(const tu_kind *k, const char *what, const feat_result *r, size_t row, const float *want)
{
    return feat_result_item_status(r, row) == FEAT_OK &&
           tu_same_bits(what, row, feat_result_data(r) + row * k->dim, want, k->dim);
}

int tu_row_failed(const feat_result *r, size_t row, feat_status want, const char *msg_part)
{
    const float *x = feat_result_data(r) + row * feat_result_dim(r);
    for (size_t j = 0; j < feat_result_dim(r); j++)
        if (x[j] == x[j])
            return 0;
    return feat_result_item_status(r, row) == want && strstr(feat_result_item_error(r, row), msg_part);
}

static int rows_ok(const tu_kind *k, const char *what, const feat_result *r, const size_t *order, size_t n)
{
    int ok = feat_result_n_items(r) == n && feat_result_dim(r) == k->dim;
    for (size_t i = 0; i < n && ok; i++)
        ok = tu_row_ok(k, what, r, i, k->expect + (order ? order[i] : i) * k->dim);
    return ok;
}

int tu_extract_ok(const tu_kind *k, const char *what, void *ex, const size_t *order, size_t n)
{
    feat_result *r = NULL;
    feat_status st = tu_extract(k, ex, order, n, &r);
    if (st != FEAT_OK)
        fprintf(stderr, "%s: status %d: %s\n", what, (int)st, tu_last_error(k, ex));
    int ok = st == FEAT_OK && rows_ok(k, what, r, order, n);
    feat_result_free(r);
    return ok;
}

typedef struct cancel_target {
    const tu_kind *k;
    void *ex;
} cancel_target;

static void cancel_target_fn(void *p)
{
    cancel_target *t = p;
    cancel_ex(t->k, t->ex);
}

static int cancel_round(const tu_kind *k, void *ex, long first_ms, int repeat)
{
    canceller c;
    cancel_target t = {k, ex};
    feat_result *r = (feat_result *)1; /* must become NULL on failure */
    canceller_start(&c, cancel_target_fn, &t, first_ms, repeat);
    feat_status st = tu_extract(k, ex, NULL, k->n_items, &r);
    canceller_stop(&c);
    if (st == FEAT_OK && !repeat) {
        int ok = rows_ok(k, "completed despite a cancel", r, NULL, k->n_items);
        feat_result_free(r);
        return ok;
    }
    if (st == FEAT_E_CANCELLED && !r && strstr(tu_last_error(k, ex), "cancelled"))
        return 1;
    fprintf(stderr, "cancel after %ld ms%s: status %d, result %s, message '%s'\n", first_ms,
            repeat ? " (repeated)" : "", (int)st, r ? "set" : "NULL", tu_last_error(k, ex));
    if (st == FEAT_OK)
        feat_result_free(r);
    return 0;
}

static int cancel_rounds(const tu_kind *k, void *ex, const void *ctx)
{
    (void)ctx;
    int ok = cancel_round(k, ex, 0, 1);
    ok &= cancel_round(k, ex, 1, 0);
    ok &= cancel_round(k, ex, 10, 0);
    ok &= cancel_round(k, ex, 40, 0);
    return ok & tu_extract_ok(k, "after cancels", ex, NULL, k->n_items);
}

/* check(k, ex, ctx) on a new extractor of model under thread budgets 1 and 3. */
static int each_budget(const tu_kind *k, const char *model, uint32_t batch,
                       int (*check)(const tu_kind *k, void *ex, const void *ctx), const void *ctx)
{
    int ok = 1;
    for (int32_t budget = 1; budget <= 3; budget += 2) {
        ok &= feat_global_set_threads(budget) == FEAT_OK;
        void *ex = k->open(model, batch);
        ok &= check(k, ex, ctx);
        tu_free(k, ex);
    }
    return ok & (feat_global_set_threads(0) == FEAT_OK);
}

int tu_cancel_ok(const tu_kind *k, const char *model, uint32_t batch)
{
    return each_budget(k, model, batch, cancel_rounds, NULL);
}

typedef struct mixed {
    const char *const *list;
    size_t n;
    const size_t *item_of;
    const tu_failure *fails;
    size_t n_fails;
} mixed;

static int mixed_rows(const tu_kind *k, void *ex, const void *ctx)
{
    const mixed *m = ctx;
    feat_result *r = NULL;
    feat_status st = k->text ? feat_text_extractor_extract(ex, m->list, NULL, m->n, &r)
                             : feat_image_extractor_extract_files(ex, m->list, m->n, &r);
    int ok = st == FEAT_OK && feat_result_n_failed(r) == m->n_fails;
    for (size_t f = 0; f < m->n_fails && ok; f++)
        if (!tu_row_failed(r, m->fails[f].row, m->fails[f].status, m->fails[f].msg)) {
            fprintf(stderr, "row %zu: status %d, message '%s'\n", m->fails[f].row,
                    (int)feat_result_item_status(r, m->fails[f].row), feat_result_item_error(r, m->fails[f].row));
            ok = 0;
        }
    for (size_t i = 0; i < m->n && ok; i++)
        if (m->item_of[i] != (size_t)-1)
            ok = tu_row_ok(k, "among failures", r, i, k->expect + m->item_of[i] * k->dim);
    feat_result_free(r);
    return ok;
}

int tu_mixed_ok(const tu_kind *k, const char *model, uint32_t batch, const char *const *list, size_t n,
                const size_t *item_of, const tu_failure *fails, size_t n_fails)
{
    mixed m = {list, n, item_of, fails, n_fails};
    return each_budget(k, model, batch, mixed_rows, &m);
}

typedef struct clone_job {
    const tu_kind *k;
    void *ex;
    const feat_result *serial;
    int ok;
} clone_job;

static void *clone_main(void *arg)
{
    clone_job *j = arg;
    const feat_result *s = j->serial;
    j->ok = 1;
    for (int rep = 0; rep < 2; rep++) {
        feat_result *r = NULL;
        if (tu_extract(j->k, j->ex, NULL, j->k->n_items, &r) != FEAT_OK ||
            feat_result_n_items(r) != feat_result_n_items(s) ||
            memcmp(feat_result_data(r), feat_result_data(s), j->k->n_items * j->k->dim * sizeof(float)) != 0)
            j->ok = 0;
        feat_result_free(r);
    }
    tu_free(j->k, j->ex);
    return NULL;
}

int tu_clones_ok(const tu_kind *k, const char *model, uint32_t batch)
{
    if (feat_global_set_threads(2) != FEAT_OK)
        return 0;
    void *ex = k->open(model, batch);
    feat_result *serial = NULL;
    if (tu_extract(k, ex, NULL, k->n_items, &serial) != FEAT_OK || !rows_ok(k, "serial", serial, NULL, k->n_items)) {
        feat_result_free(serial);
        tu_free(k, ex);
        feat_global_set_threads(0);
        return 0;
    }
    clone_job jobs[8];
    int ok = 1;
    for (size_t i = 0; i < 8; i++) {
        feat_image_extractor *ic = NULL;
        feat_text_extractor *tc = NULL;
        feat_status st = k->text ? feat_text_extractor_clone(ex, &tc) : feat_image_extractor_clone(ex, &ic);
        ok &= st == FEAT_OK;
        jobs[i] = (clone_job){k, k->text ? (void *)tc : (void *)ic, serial, 0};
    }
    tu_free(k, ex);
    if (ok)
        tu_run_threads(8, clone_main, jobs, sizeof jobs[0]);
    for (size_t i = 0; i < 8; i++) {
        if (!ok) /* not run: free the clones made */
            tu_free(k, jobs[i].ex);
        ok &= jobs[i].ok;
    }
    feat_result_free(serial);
    return ok & (feat_global_set_threads(0) == FEAT_OK);
}
