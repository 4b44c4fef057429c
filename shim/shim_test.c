/* SPDX-License-Identifier: MIT */
/* The test backend: every function of shim/shim.h, without libtorch, returning deterministic
 * tensors of the shapes a small text "model file" asks for. It is linked only into the unit
 * tests of lib/extract (tests/unit/extract), never into libfeat.so, so that the extractors'
 * pipelines (decode workers, batches on side-by-side workers, cancellation, per-item errors,
 * clones) run end to end under ASan and TSan. docs/testing.md describes it for test writers.
 *
 * Model file (UTF-8 text; '#' starts a comment; one directive a line):
 *
 *   libfeat-test-model          the first directive, always (anything else: FEAT_E_MODEL)
 *   input image|text            forward takes one [B, 3, H, W] tensor, or ids/mask/types [B, S]
 *   module PATH [DIM...]        a submodule, listed in file order; DIMs are the output shape of
 *                               one item (batch excluded), each an integer 1..65536 or, for
 *                               text models, `seq` (the run's S); no DIM: a container, listed
 *                               but not tappable
 *   delay_ms N                  every run sleeps N ms first (0..10000), so that a cancel from
 *                               another thread lands mid-call
 *   fail_batch B STATUS         a run of exactly B items fails with STATUS (a feat_status_name,
 *                               e.g. FEAT_E_BACKEND); B = 1 fails the extractors' warm-up
 *
 * Outputs. Tap t (its index in the order feat_shim_prepare got the taps that were added) of
 * item b has the item's shape; its element e (row-major index within the item) is
 *
 *   (float)(K_b + 64.0 * t + e / 64.0)
 *
 * computed in double and rounded once, where K_b, a pure function of item b's input, is
 *   image: the sum, in double and in memory order, of the item's 3*H*W input floats;
 *   text:  the integer sum over positions p with mask != 0 of ids[p] * (p + 1) (type ids
 *          are ignored, padded positions do not count: results do not depend on padding).
 * Values grow with e, so a max over positions is the last one. Under bfloat16 precision each
 * value is then rounded to the nearest bfloat16 (ties to even), as autocast would round it.
 *
 * Thread-safety as in the real shim: a prepared model is read-only, so any number of threads
 * may run it at once; the reference count is atomic; the thread share is thread-local. */
#include "shim/shim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TM_MAX_FILE (1 << 20)
#define TM_MAX_DIM 65536
#define TM_SEQ (-1) /* a dimension that is the run's sequence length */

typedef struct tm_module {
    char *path;
    size_t ndim; /* 0: a container */
    int64_t dims[FEAT_SHIM_MAX_DIMS - 1];
} tm_module;

struct feat_shim_model {
    atomic_int refs;
    int text; /* 1: text model (3 inputs), 0: image model (1 input) */
    tm_module *mods;
    const char **paths;
    size_t n_mods, cap_mods;
    long delay_ms;
    int64_t fail_batch; /* 0: no run fails */
    feat_status fail_status;
    int32_t precision;
    int prepared;
    size_t n_taps;
    size_t *tap_mod; /* module of each added tap, in order */
};

typedef struct tm_tensor {
    size_t ndim;
    int64_t dims[FEAT_SHIM_MAX_DIMS];
    float *data;
} tm_tensor;

struct feat_shim_outputs {
    size_t n;
    tm_tensor t[];
};

static atomic_int g_budget;            /* 0: the default */
static _Thread_local int32_t tl_share; /* recorded only: the test backend runs on the caller */

int feat_shim_available(void) { return 1; }

static void model_free(feat_shim_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_mods; i++)
        free(m->mods[i].path);
    free(m->mods);
    free(m->paths);
    free(m->tap_mod);
    free(m);
}

static char *read_text(const char *path, feat_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        feat_error_set(err, FEAT_E_IO, "model file '%s' cannot be opened", path);
        return NULL;
    }
    char *buf = malloc(TM_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, TM_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf || n > TM_MAX_FILE) {
        free(buf);
        feat_error_set(err, buf ? FEAT_E_MODEL : FEAT_E_NOMEM, "'%s' is not a test model (%s)", path,
                       buf ? "larger than 1 MiB" : "out of memory");
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s)
        return 0;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int parse_status(const char *name, feat_status *out)
{
    for (feat_status c = FEAT_E_INVALID_ARGUMENT; c >= FEAT_E_MODEL; c--)
        if (name && strcmp(name, feat_status_name(c)) == 0) {
            *out = c;
            return 1;
        }
    return 0;
}

/* "module PATH [DIM...]" with the tokens after PATH in *save. Returns a reason or NULL. */
static const char *add_module(feat_shim_model *m, const char *path, char **save)
{
    if (!path)
        return "module needs a path";
    if (m->n_mods == m->cap_mods) {
        size_t cap = m->cap_mods ? 2 * m->cap_mods : 16;
        tm_module *mods = realloc(m->mods, cap * sizeof *mods);
        if (!mods)
            return "out of memory";
        m->mods = mods;
        m->cap_mods = cap;
    }
    tm_module *mod = &m->mods[m->n_mods];
    memset(mod, 0, sizeof *mod);
    for (const char *tok; (tok = strtok_r(NULL, " \t\r", save));) {
        long v;
        if (mod->ndim == FEAT_SHIM_MAX_DIMS - 1)
            return "a module has at most 7 dimensions";
        if (strcmp(tok, "seq") == 0)
            v = TM_SEQ;
        else if (!parse_long(tok, 1, TM_MAX_DIM, &v))
            return "a dimension is an integer 1..65536 or seq";
        mod->dims[mod->ndim++] = v;
    }
    if (!(mod->path = strdup(path)))
        return "out of memory";
    m->n_mods++;
    return NULL;
}

/* One directive (tokens in *save after the keyword kw). Returns a reason or NULL. */
static const char *parse_directive(feat_shim_model *m, const char *kw, char **save, int *has_input)
{
    const char *a = strtok_r(NULL, " \t\r", save);
    long v;
    if (strcmp(kw, "module") == 0)
        return add_module(m, a, save);
    if (strcmp(kw, "input") == 0) {
        if (!a || (strcmp(a, "image") && strcmp(a, "text")))
            return "input is image or text";
        m->text = strcmp(a, "text") == 0;
        *has_input = 1;
    } else if (strcmp(kw, "delay_ms") == 0) {
        if (!parse_long(a, 0, 10000, &v))
            return "delay_ms is an integer 0..10000";
        m->delay_ms = v;
    } else if (strcmp(kw, "fail_batch") == 0) {
        if (!parse_long(a, 1, 1 << 20, &v) || !parse_status(strtok_r(NULL, " \t\r", save), &m->fail_status))
            return "fail_batch takes a batch size and a status name such as FEAT_E_BACKEND";
        m->fail_batch = v;
    } else {
        return "unknown directive";
    }
    return strtok_r(NULL, " \t\r", save) ? "too many arguments" : NULL;
}

static feat_status parse_model(feat_shim_model *m, char *text, const char *path, feat_error *err)
{
    int has_magic = 0, has_input = 0, line_no = 0;
    for (char *line_save = NULL, *line = strtok_r(text, "\n", &line_save); line;
         line = strtok_r(NULL, "\n", &line_save)) {
        line_no++;
        char *hash = strchr(line, '#'), *save = NULL;
        if (hash)
            *hash = '\0';
        const char *kw = strtok_r(line, " \t\r", &save);
        if (!kw)
            continue;
        if (!has_magic) {
            if (strcmp(kw, "libfeat-test-model") != 0)
                return feat_error_set(err, FEAT_E_MODEL, "'%s' is not a test model (no libfeat-test-model line)", path);
            has_magic = 1;
            continue;
        }
        const char *why = parse_directive(m, kw, &save, &has_input);
        if (why)
            return feat_error_set(err, FEAT_E_MODEL, "'%s' line %d: %s", path, line_no, why);
    }
    if (!has_magic || !has_input)
        return feat_error_set(err, FEAT_E_MODEL, "'%s' is not a test model (%s)", path,
                              has_magic ? "no input line" : "no libfeat-test-model line");
    for (size_t i = 0; i < m->n_mods; i++)
        for (size_t k = 0; k < m->mods[i].ndim; k++)
            if (m->mods[i].dims[k] == TM_SEQ && !m->text)
                return feat_error_set(err, FEAT_E_MODEL, "'%s': module %s: seq is for text models", path,
                                      m->mods[i].path);
    if (!(m->paths = malloc((m->n_mods ? m->n_mods : 1) * sizeof *m->paths)))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory loading '%s'", path);
    for (size_t i = 0; i < m->n_mods; i++)
        m->paths[i] = m->mods[i].path;
    return FEAT_OK;
}

static feat_status check_device(const char *device, feat_error *err)
{
    if (!device || !device[0] || strcmp(device, "cpu") == 0)
        return FEAT_OK;
    if (strncmp(device, "cuda:", 5) == 0)
        return feat_error_set(err, FEAT_E_DEVICE, "device '%s' requested, but the test backend has no GPU", device);
    return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "unknown device '%s' (expected cpu or cuda:N)", device);
}

feat_status feat_shim_load(const char *path, const char *device, feat_shim_model **out, feat_error *err)
{
    *out = NULL;
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return feat_error_set(err, FEAT_E_NOT_FOUND, "model file '%s' does not exist", path ? path : "(null)");
    if (S_ISDIR(st.st_mode))
        return feat_error_set(err, FEAT_E_IO, "model path '%s' is a directory", path);
    feat_status s = check_device(device, err);
    if (s != FEAT_OK)
        return s;
    char *text = read_text(path, err);
    if (!text)
        return err ? err->code : FEAT_E_IO;
    feat_shim_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(text);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory loading '%s'", path);
    }
    atomic_init(&m->refs, 1);
    s = parse_model(m, text, path, err);
    free(text);
    if (s != FEAT_OK) {
        model_free(m);
        return s;
    }
    *out = m;
    return FEAT_OK;
}

feat_shim_model *feat_shim_ref(feat_shim_model *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void feat_shim_unref(feat_shim_model *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        model_free(m);
}

void feat_shim_modules(const feat_shim_model *m, const char *const **paths, size_t *n)
{
    *paths = (const char *const *)m->paths;
    *n = m->n_mods;
}

size_t feat_shim_n_inputs(const feat_shim_model *m) { return m->text ? 3 : 1; }

/* Index of the module a tap ("path" or "path@k") names, or -1 with the reason in *e. */
static long locate(const feat_shim_model *m, const char *tap, feat_error *e)
{
    const char *at = strchr(tap, '@');
    size_t len = at ? (size_t)(at - tap) : strlen(tap);
    if (at && strcmp(at, "@0") != 0) {
        feat_error_set(e, FEAT_E_NOT_FOUND, "tap '%s': every module of a test model is called once (use @0)", tap);
        return -1;
    }
    for (size_t i = 0; i < m->n_mods; i++)
        if (strlen(m->mods[i].path) == len && strncmp(m->mods[i].path, tap, len) == 0) {
            if (m->mods[i].ndim)
                return (long)i;
            feat_error_set(e, FEAT_E_MODEL, "tap '%s': the module is a container and returns no tensor", tap);
            return -1;
        }
    feat_error_set(e, FEAT_E_NOT_FOUND, "tap '%s': no such module", tap);
    return -1;
}

feat_status feat_shim_prepare(feat_shim_model *m, const char *const *taps, size_t n, int freeze, int lenient,
                              feat_error *tap_err, feat_error *err)
{
    (void)freeze; /* nothing to fold: outputs are computed, not traced */
    if (n == 0)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "no taps to add");
    if (m->prepared)
        return feat_error_set(err, FEAT_E_STATE, "taps were already added to this model");
    size_t *mods = malloc(n * sizeof *mods), k = 0;
    if (!mods)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory adding taps");
    for (size_t i = 0; i < n; i++) {
        feat_error e = {0};
        long mi = locate(m, taps[i], &e);
        if (tap_err)
            feat_error_copy(&tap_err[i], &e);
        if (mi >= 0) {
            mods[k++] = (size_t)mi;
        } else if (!lenient) {
            free(mods);
            feat_error_copy(err, &e);
            return e.code;
        }
    }
    m->tap_mod = mods;
    m->n_taps = k;
    m->prepared = 1;
    return FEAT_OK;
}

feat_status feat_shim_set_precision(feat_shim_model *m, int32_t precision, feat_error *err)
{
    if (precision < FEAT_PRECISION_DEFAULT || precision > FEAT_PRECISION_BF16)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "precision %d not understood", (int)precision);
    if (m->prepared)
        return feat_error_set(err, FEAT_E_STATE, "the precision is chosen before the taps are prepared");
    m->precision = precision;
    return FEAT_OK;
}

void feat_shim_outputs_free(feat_shim_outputs *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->t[i].data);
    free(o);
}

static float round_bf16(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    bits &= 0xFFFF0000u;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Delay, fail_batch and the outputs, shared by both kinds of run; keys[i] is K_i. */
static feat_status run_keys(const feat_shim_model *m, const double *keys, int64_t b, int64_t s, feat_shim_outputs **out,
                            feat_error *err)
{
    if (!m->prepared)
        return feat_error_set(err, FEAT_E_STATE, "the model has no taps prepared");
    if (m->delay_ms) {
        struct timespec ts = {m->delay_ms / 1000, (m->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (b == m->fail_batch)
        return feat_error_set(err, m->fail_status, "running the model: test model fails batches of %lld items",
                              (long long)b);
    feat_shim_outputs *o = calloc(1, sizeof *o + m->n_taps * sizeof o->t[0]);
    if (!o)
        return feat_error_set(err, FEAT_E_NOMEM, "running the model: out of memory");
    for (size_t t = 0; t < m->n_taps; t++, o->n++) {
        const tm_module *mod = &m->mods[m->tap_mod[t]];
        tm_tensor *x = &o->t[t];
        size_t per = 1;
        x->ndim = mod->ndim + 1;
        x->dims[0] = b;
        for (size_t k = 0; k < mod->ndim; k++)
            per *= (size_t)(x->dims[k + 1] = mod->dims[k] == TM_SEQ ? s : mod->dims[k]);
        if (!(x->data = malloc((size_t)b * per * sizeof *x->data))) {
            feat_shim_outputs_free(o);
            return feat_error_set(err, FEAT_E_NOMEM, "running the model: out of memory");
        }
        for (int64_t i = 0; i < b; i++)
            for (size_t e = 0; e < per; e++) {
                float v = (float)(keys[i] + 64.0 * (double)t + (double)e / 64.0);
                x->data[(size_t)i * per + e] = m->precision == FEAT_PRECISION_BF16 ? round_bf16(v) : v;
            }
    }
    *out = o;
    return FEAT_OK;
}

static feat_status check_run(const feat_shim_model *m, int text, int64_t b, int64_t len, feat_shim_outputs **out,
                             feat_error *err)
{
    *out = NULL;
    if (m->text != text)
        return feat_error_set(err, FEAT_E_MODEL, "the model's forward takes %d inputs; %s", m->text ? 3 : 1,
                              text ? "a text model takes (input_ids, attention_mask, token_type_ids)"
                                   : "an image model takes one [N, 3, H, W] tensor");
    if (b < 1 || len < 1)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "running the model: empty batch (%lld x %lld)",
                              (long long)b, (long long)len);
    return FEAT_OK;
}

feat_status feat_shim_run_image(feat_shim_model *m, const float *x, int64_t b, int64_t c, int64_t h, int64_t w,
                                feat_shim_outputs **out, feat_error *err)
{
    feat_status st = check_run(m, 0, b, c * h * w, out, err);
    double *keys = st == FEAT_OK ? malloc((size_t)b * sizeof *keys) : NULL;
    if (st != FEAT_OK || !keys)
        return st != FEAT_OK ? st : feat_error_set(err, FEAT_E_NOMEM, "running the model: out of memory");
    size_t per = (size_t)(c * h * w);
    for (int64_t i = 0; i < b; i++) {
        double sum = 0;
        for (size_t k = 0; k < per; k++)
            sum += x[(size_t)i * per + k];
        keys[i] = sum;
    }
    st = run_keys(m, keys, b, 0, out, err);
    free(keys);
    return st;
}

feat_status feat_shim_run_text(feat_shim_model *m, const int64_t *ids, const int64_t *mask, const int64_t *types,
                               int64_t b, int64_t s, feat_shim_outputs **out, feat_error *err)
{
    (void)types;
    feat_status st = check_run(m, 1, b, s, out, err);
    double *keys = st == FEAT_OK ? malloc((size_t)b * sizeof *keys) : NULL;
    if (st != FEAT_OK || !keys)
        return st != FEAT_OK ? st : feat_error_set(err, FEAT_E_NOMEM, "running the model: out of memory");
    for (int64_t i = 0; i < b; i++) {
        int64_t k = 0;
        for (int64_t p = 0; p < s; p++)
            if (mask[i * s + p])
                k += ids[i * s + p] * (p + 1);
        keys[i] = (double)k;
    }
    st = run_keys(m, keys, b, s, out, err);
    free(keys);
    return st;
}

size_t feat_shim_outputs_n(const feat_shim_outputs *o) { return o ? o->n : 0; }

size_t feat_shim_outputs_shape(const feat_shim_outputs *o, size_t i, int64_t dims[FEAT_SHIM_MAX_DIMS])
{
    memcpy(dims, o->t[i].dims, o->t[i].ndim * sizeof *dims);
    return o->t[i].ndim;
}

const float *feat_shim_outputs_data(const feat_shim_outputs *o, size_t i) { return o->t[i].data; }

/* Same default as the real shim: the online cores, at most 8. */
static int32_t default_budget(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > 8 ? 8 : (int32_t)cores;
}

feat_status feat_shim_set_threads(int32_t n, feat_error *err)
{
    (void)err;
    atomic_store(&g_budget, n);
    return FEAT_OK;
}

int32_t feat_shim_threads(void)
{
    int32_t n = atomic_load(&g_budget);
    return n ? n : default_budget();
}

void feat_shim_set_thread_share(int32_t n) { tl_share = n > 0 ? n : 0; }
