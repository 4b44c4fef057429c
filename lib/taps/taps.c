/* SPDX-License-Identifier: MIT */
#include "taps/taps.h"

#include "core/edit_distance.h"
#include "core/model_options.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pool_names[] = {
    [FEAT_POOL_AUTO] = "auto", [FEAT_POOL_NONE] = "none", [FEAT_POOL_FLATTEN] = "flatten", [FEAT_POOL_GAP] = "gap",
    [FEAT_POOL_GMP] = "gmp",   [FEAT_POOL_CLS] = "cls",   [FEAT_POOL_MEAN] = "mean",       [FEAT_POOL_MAX] = "max",
};

const char *feat_pool_name(feat_pool pool)
{
    return (unsigned)pool < sizeof pool_names / sizeof *pool_names ? pool_names[pool] : "?";
}

/* ---- parsing ------------------------------------------------------------------------- */

static int is_name_start(int c) { return isalpha(c) || c == '_'; }
static int is_name_char(int c) { return isalnum(c) || c == '_'; }

/* Parses an optionally negative decimal integer at *p; advances *p. */
static int parse_int(const char **p, long *v)
{
    const char *s = *p;
    if (*s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return 0;
    errno = 0;
    char *end;
    long x = strtol(*p, &end, 10);
    if (errno || x > 100000 || x < -100000)
        return 0;
    *v = x;
    *p = end;
    return 1;
}

/* Checks one path (up to `end`) segment by segment; returns the byte offset of the first bad
 * character, or -1 when the path is well formed. Sets *range_seg to the index of a range
 * segment (or -1) and fails on a second one. */
static long check_path(const char *s, const char *end, int *n_ranges)
{
    const char *p = s;
    *n_ranges = 0;
    for (;;) {
        if (p >= end)
            return p - s;
        if (is_name_start((unsigned char)*p)) {
            while (p < end && is_name_char((unsigned char)*p))
                p++;
        } else {
            long a, b;
            if (!parse_int(&p, &a))
                return p - s;
            if (p + 1 < end && p[0] == '.' && p[1] == '.') {
                p += 2;
                if (!parse_int(&p, &b))
                    return p - s;
                (*n_ranges)++;
            }
        }
        if (p == end)
            return -1;
        if (*p != '.')
            return p - s;
        p++;
    }
}

static int parse_pool(const char *s, size_t n, feat_pool *pool)
{
    for (size_t i = 1; i < sizeof pool_names / sizeof *pool_names; i++)
        if (strlen(pool_names[i]) == n && strncmp(pool_names[i], s, n) == 0) {
            *pool = (feat_pool)i;
            return 1;
        }
    return 0;
}

static feat_status parse_one(const char *spec, const char *s, const char *e, feat_tap_list *out, feat_error *err)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    long at = s - spec;
    if (s == e)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap spec '%s': empty tap at offset %ld", spec, at);
    const char *colon = memchr(s, ':', (size_t)(e - s));
    const char *path_end = colon ? colon : e;
    const char *atsign = memchr(s, '@', (size_t)(path_end - s));
    feat_tap_spec t = {.call = -1, .pool = FEAT_POOL_AUTO};
    if (colon) {
        const char *ps = colon + 1;
        if (!parse_pool(ps, (size_t)(e - ps), &t.pool))
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "tap spec '%s': unknown pooling '%.*s' (expected none, flatten, gap, gmp, cls, "
                                  "mean or max)",
                                  spec, (int)(e - ps), ps);
    }
    if (atsign) {
        const char *cs = atsign + 1;
        long k;
        if (!parse_int(&cs, &k) || cs != path_end || k < 0)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "tap spec '%s': '@' must be followed by a call number >= 0, got '%.*s'", spec,
                                  (int)(path_end - atsign - 1), atsign + 1);
        t.call = (int32_t)k;
        path_end = atsign;
    }
    size_t plen = (size_t)(path_end - s);
    if (plen == 0)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap spec '%s': missing layer path at offset %ld", spec,
                              at);
    if (plen >= FEAT_TAP_PATH_MAX)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap spec '%s': path at offset %ld longer than %d bytes",
                              spec, at, FEAT_TAP_PATH_MAX - 1);
    int n_ranges;
    long bad = check_path(s, path_end, &n_ranges);
    if (bad >= 0)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                              "tap spec '%s': bad layer path '%.*s' at offset %ld (expected names and indices "
                              "separated by '.', e.g. encoder.layer.-1 or features.0..4)",
                              spec, (int)plen, s, at + bad);
    if (n_ranges > 1)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap spec '%s': '%.*s' has more than one range", spec,
                              (int)plen, s);
    if (out->n >= FEAT_TAP_MAX)
        return feat_error_set(err, FEAT_E_LIMIT, "tap spec '%s': more than %d taps", spec, FEAT_TAP_MAX);
    memcpy(t.path, s, plen);
    t.path[plen] = '\0';
    out->taps[out->n++] = t;
    return FEAT_OK;
}

feat_status feat_taps_parse(const char *spec, feat_tap_list *out, feat_error *err)
{
    out->n = 0;
    if (!spec)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap spec is NULL");
    if (strlen(spec) > 16384)
        return feat_error_set(err, FEAT_E_LIMIT, "tap spec of %zu bytes is longer than 16384", strlen(spec));
    const char *s = spec;
    int only_space = 1;
    for (const char *q = spec; *q; q++)
        only_space &= isspace((unsigned char)*q) != 0;
    if (only_space)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap spec is empty");
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        feat_status st = parse_one(spec, s, e, out, err);
        if (st != FEAT_OK)
            return st;
        if (!comma)
            return FEAT_OK;
        s = comma + 1;
    }
}

feat_status feat_taps_set_spec(char **slot, const char *fn, const char *spec)
{
    feat_status st = feat_option_check_object(slot, fn);
    if (st != FEAT_OK || !spec || !*spec)
        return st == FEAT_OK ? feat_option_set_string(slot, NULL, "taps") : st;
    feat_tap_list *parsed = malloc(sizeof *parsed); /* 17 KB: not on the caller's stack */
    if (!parsed)
        return feat_error_set_tls(FEAT_E_NOMEM, "taps: out of memory checking the spec");
    feat_error err;
    st = feat_taps_parse(spec, parsed, &err);
    free(parsed);
    if (st != FEAT_OK)
        return feat_error_set_tls(st, "taps: %s", err.msg);
    return feat_option_set_string(slot, spec, "taps");
}

/* ---- resolution ---------------------------------------------------------------------- */

static int path_exists(const feat_module_list *m, const char *p)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->paths[i], p) == 0)
            return 1;
    return 0;
}

/* The numbered children of a module: "parent.0" .. "parent.N-1" (Sequential, ModuleList), or
 * children named STEM + number, numbered lo .. lo+N-1, all with one STEM (torchvision's
 * "encoder_layer_0" .. "encoder_layer_11" in ViT, DenseNet's "denselayer1" .. "denselayer6").
 * An index in a tap path is the number itself (encoder.layers.5 is encoder_layer_5,
 * denseblock1.1 is denselayer1); a negative index counts from the last one. */
typedef struct numbered {
    char stem[FEAT_TAP_PATH_MAX];
    long lo, n; /* n == 0: no numbered children */
} numbered;

/* The last segment of child if it is a direct child of parent ("" = root), else NULL. */
static const char *child_name(const char *path, const char *parent)
{
    size_t pl = strlen(parent);
    if (pl && (strncmp(path, parent, pl) != 0 || path[pl] != '.'))
        return NULL;
    const char *name = pl ? path + pl + 1 : path;
    return *name && !strchr(name, '.') ? name : NULL;
}

static numbered numbered_children(const feat_module_list *m, const char *parent)
{
    numbered r = {.lo = 0, .n = 0};
    char buf[FEAT_TAP_PATH_MAX + 24];
    for (;;) { /* "parent.0", "parent.1", ... */
        int k = parent[0] ? snprintf(buf, sizeof buf, "%s.%ld", parent, r.n) : snprintf(buf, sizeof buf, "%ld", r.n);
        if (k < 0 || (size_t)k >= sizeof buf || !path_exists(m, buf))
            break;
        r.n++;
    }
    if (r.n)
        return r;
    long lo = LONG_MAX, hi = LONG_MIN, count = 0;
    for (size_t i = 0; i < m->n; i++) {
        const char *name = child_name(m->paths[i], parent);
        if (!name)
            continue;
        size_t len = strlen(name), digits = 0;
        while (digits < len && isdigit((unsigned char)name[len - 1 - digits]))
            digits++;
        if (!digits || digits == len || digits > 9 || (digits > 1 && name[len - digits] == '0'))
            continue; /* not STEM + number */
        size_t sl = len - digits;
        if (count == 0) {
            memcpy(r.stem, name, sl);
            r.stem[sl] = '\0';
        } else if (strlen(r.stem) != sl || strncmp(r.stem, name, sl) != 0) {
            return (numbered){.n = 0}; /* several stems (conv0, norm0, denseblock1): no numbering */
        }
        long v = strtol(name + sl, NULL, 10);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        count++;
    }
    if (count == 0 || hi - lo + 1 != count)
        return (numbered){.n = 0}; /* gaps: the numbers are names, not positions */
    r.lo = lo;
    r.n = count;
    return r;
}

/* The segment naming number v (lo <= v < lo + n) among nb. */
static void numbered_segment(const numbered *nb, long v, char *out, size_t cap)
{
    snprintf(out, cap, "%s%ld", nb->stem, v);
}

static feat_status not_found(const char *written, const char *resolved, const feat_module_list *m, feat_error *err)
{
    /* The three closest paths by edit distance. */
    size_t best[3] = {(size_t)-1, (size_t)-1, (size_t)-1};
    const char *who[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < m->n; i++) {
        size_t d = feat_edit_distance(resolved, m->paths[i]);
        for (int k = 0; k < 3; k++)
            if (d < best[k]) {
                for (int j = 2; j > k; j--) {
                    best[j] = best[j - 1];
                    who[j] = who[j - 1];
                }
                best[k] = d;
                who[k] = m->paths[i];
                break;
            }
    }
    char hint[400] = "";
    size_t used = 0;
    for (int k = 0; k < 3 && who[k]; k++) {
        int w = snprintf(hint + used, sizeof hint - used, "%s'%s'", k ? ", " : "", who[k]);
        if (w < 0 || (size_t)w >= sizeof hint - used)
            break;
        used += (size_t)w;
    }
    if (strcmp(written, resolved) != 0)
        return feat_error_set(err, FEAT_E_NOT_FOUND,
                              "no layer '%s' (from '%s') in the model; closest: %s (run "
                              "'feat layers MODEL' for the full list)",
                              resolved, written, used ? hint : "none");
    return feat_error_set(err, FEAT_E_NOT_FOUND,
                          "no layer '%s' in the model; closest: %s (run 'feat layers MODEL' for the full list)",
                          resolved, used ? hint : "none");
}

/* Appends one concrete tap, resolving negative indices segment by segment. */
static feat_status resolve_path(const feat_tap_spec *t, const char *written, const feat_module_list *m,
                                feat_tap_list *out, feat_error *err)
{
    char res[FEAT_TAP_PATH_MAX] = "";
    size_t rlen = 0;
    const char *p = written;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t slen = dot ? (size_t)(dot - p) : strlen(p);
        char seg[FEAT_TAP_PATH_MAX];
        memcpy(seg, p, slen);
        seg[slen] = '\0';
        char out_seg[FEAT_TAP_PATH_MAX + 24];
        const char *use = seg;
        if (seg[0] == '-' && rlen && !path_exists(m, res))
            return not_found(t->path, res, m, err); /* a typo before the index: name the close paths */
        if (seg[0] == '-') {
            long idx = strtol(seg, NULL, 10);
            numbered nb = numbered_children(m, res);
            if (nb.n == 0)
                return feat_error_set(err, FEAT_E_NOT_FOUND,
                                      "tap '%s': negative index %ld but '%s' has no numbered children", t->path, idx,
                                      rlen ? res : "(model root)");
            if (-idx > nb.n)
                return feat_error_set(err, FEAT_E_NOT_FOUND, "tap '%s': index %ld out of range, '%s' has %ld children",
                                      t->path, idx, rlen ? res : "(model root)", nb.n);
            numbered_segment(&nb, nb.lo + nb.n + idx, out_seg, sizeof out_seg);
            use = out_seg;
        } else if (isdigit((unsigned char)seg[0])) {
            numbered nb = numbered_children(m, res);
            long v = strtol(seg, NULL, 10);
            if (nb.n && nb.stem[0] && v >= nb.lo && v < nb.lo + nb.n) {
                numbered_segment(&nb, v, out_seg, sizeof out_seg);
                use = out_seg;
            }
        }
        size_t ulen = strlen(use);
        if (rlen + (rlen ? 1 : 0) + ulen >= sizeof res)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap '%s': path too long", t->path);
        if (rlen)
            res[rlen++] = '.';
        memcpy(res + rlen, use, ulen + 1);
        rlen += ulen;
        p += slen;
        if (*p == '.')
            p++;
    }
    if (!path_exists(m, res))
        return not_found(t->path, res, m, err);
    if (out->n >= FEAT_TAP_MAX)
        return feat_error_set(err, FEAT_E_LIMIT, "more than %d taps after expanding ranges", FEAT_TAP_MAX);
    feat_tap_spec *o = &out->taps[out->n++];
    *o = *t;
    memcpy(o->path, res, rlen + 1);
    return FEAT_OK;
}

feat_status feat_taps_resolve(const feat_tap_list *in, const feat_module_list *m, feat_tap_list *out, feat_error *err)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const feat_tap_spec *t = &in->taps[i];
        const char *range = strstr(t->path, "..");
        if (!range) {
            feat_status st = resolve_path(t, t->path, m, out, err);
            if (st != FEAT_OK)
                return st;
            continue;
        }
        /* Split "prefix.A..B.suffix"; A and B resolve against the prefix's children. */
        const char *seg_start = range;
        while (seg_start > t->path && seg_start[-1] != '.')
            seg_start--;
        size_t pre_len = (size_t)(seg_start - t->path);
        char prefix[FEAT_TAP_PATH_MAX];
        memcpy(prefix, t->path, pre_len);
        prefix[pre_len ? pre_len - 1 : 0] = '\0';
        const char *q = seg_start;
        long a = 0, b = 0;
        parse_int(&q, &a); /* syntax was checked at parse time */
        q += 2;
        parse_int(&q, &b);
        const char *suffix = q; /* "" or ".rest" */
        /* Negative indices in the prefix resolve first, so count children of the real prefix. */
        char rprefix[FEAT_TAP_PATH_MAX] = "";
        if (pre_len) {
            feat_tap_list tmp = {0};
            feat_tap_spec pt = *t;
            snprintf(pt.path, sizeof pt.path, "%s", prefix);
            feat_status st = resolve_path(&pt, prefix, m, &tmp, err);
            if (st != FEAT_OK)
                return st;
            memcpy(rprefix, tmp.taps[0].path, sizeof rprefix);
        }
        numbered nb = numbered_children(m, rprefix);
        long n = nb.n, lo = nb.lo;
        if (n == 0)
            return feat_error_set(err, FEAT_E_NOT_FOUND, "tap '%s': range over '%s', which has no numbered children",
                                  t->path, pre_len ? rprefix : "(model root)");
        long ra = a < 0 ? lo + n + a : a, rb = b < 0 ? lo + n + b : b;
        if (ra < lo || rb < lo || ra >= lo + n || rb >= lo + n)
            return feat_error_set(err, FEAT_E_NOT_FOUND,
                                  "tap '%s': range %ld..%ld out of bounds, '%s' has children %ld..%ld", t->path, a, b,
                                  pre_len ? rprefix : "(model root)", lo, lo + n - 1);
        if (ra > rb)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap '%s': empty range %ld..%ld (start after end)",
                                  t->path, a, b);
        for (long k = ra; k <= rb; k++) {
            char concrete[2 * FEAT_TAP_PATH_MAX + 32], seg[FEAT_TAP_PATH_MAX + 24];
            numbered_segment(&nb, k, seg, sizeof seg);
            int w = pre_len ? snprintf(concrete, sizeof concrete, "%s.%s%s", rprefix, seg, suffix)
                            : snprintf(concrete, sizeof concrete, "%s%s", seg, suffix);
            if (w < 0 || (size_t)w >= FEAT_TAP_PATH_MAX)
                return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap '%s': path too long", t->path);
            feat_status st = resolve_path(t, concrete, m, out, err);
            if (st != FEAT_OK)
                return st;
        }
    }
    return FEAT_OK;
}

/* ---- pooling ------------------------------------------------------------------------- */

static const char *const layout_names[] = {
    [FEAT_LAYOUT_UNKNOWN] = "unknown",
    [FEAT_LAYOUT_NCHW] = "nchw",
    [FEAT_LAYOUT_NHWC] = "nhwc",
    [FEAT_LAYOUT_TOKENS] = "tokens",
    [FEAT_LAYOUT_CLS_TOKENS] = "cls-tokens",
};

const char *feat_layout_name(feat_layout layout)
{
    return (unsigned)layout < sizeof layout_names / sizeof *layout_names ? layout_names[layout] : "?";
}

int feat_layout_parse(const char *s, feat_layout *out)
{
    for (size_t i = 1; s && i < sizeof layout_names / sizeof *layout_names; i++)
        if (strcmp(s, layout_names[i]) == 0) {
            *out = (feat_layout)i;
            return 1;
        }
    return 0;
}

static int is_map(feat_layout l) { return l == FEAT_LAYOUT_NCHW || l == FEAT_LAYOUT_NHWC; }
static int is_seq(feat_layout l) { return l == FEAT_LAYOUT_TOKENS || l == FEAT_LAYOUT_CLS_TOKENS; }

/* The shape as "[2, 28, 28, 192]" for messages. */
static const char *shape_str(const feat_tensor_shape *s, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->ndim && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "[", (long long)s->dims[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

/* gap / gmp on a rank-4 tensor, cls / mean / max on a rank-3 one: the layout must say which
 * dimension holds the channels or whether token 0 is a class token. */
static feat_status check_layout(const char *path, feat_pool pool, feat_layout layout, const feat_tensor_shape *s,
                                feat_error *err)
{
    int want_map = pool == FEAT_POOL_GAP || pool == FEAT_POOL_GMP;
    char shp[160];
    if (layout == FEAT_LAYOUT_UNKNOWN)
        return feat_error_set(err, FEAT_E_MODEL,
                              "tap '%s:%s': the layout of its %s output is unknown (%s) and the model's side-car "
                              "declares none for it: export the model with tools/export_models.py, or add a "
                              "\"layouts\" entry for '%s' to the side-car (docs/taps.md)",
                              path, feat_pool_name(pool), shape_str(s, shp, sizeof shp),
                              want_map ? "channels first or last?" : "is token 0 a class token?", path);
    if (want_map ? !is_map(layout) : !is_seq(layout))
        return feat_error_set(err, FEAT_E_MODEL,
                              "tap '%s:%s': the side-car declares layout '%s' for it, which does not fit its rank-%zu "
                              "output %s",
                              path, feat_pool_name(pool), feat_layout_name(layout), s->ndim,
                              shape_str(s, shp, sizeof shp));
    return FEAT_OK;
}

feat_status feat_pool_check(const char *path, feat_pool *pool, feat_layout layout, const feat_tensor_shape *s,
                            size_t *dim_out, feat_error *err)
{
    if (s->ndim < 1 || s->ndim > 8)
        return feat_error_set(err, FEAT_E_MODEL, "tap '%s': output of rank %zu is not supported", path, s->ndim);
    for (size_t i = 0; i < s->ndim; i++)
        if (s->dims[i] <= 0)
            return feat_error_set(err, FEAT_E_MODEL, "tap '%s': output has an empty dimension", path);
    size_t per_item = 1;
    for (size_t i = 1; i < s->ndim; i++) {
        if (per_item > SIZE_MAX / (size_t)s->dims[i])
            return feat_error_set(err, FEAT_E_LIMIT, "tap '%s': output too large", path);
        per_item *= (size_t)s->dims[i];
    }
    if (*pool == FEAT_POOL_AUTO)
        *pool = s->ndim == 3 ? FEAT_POOL_CLS : FEAT_POOL_FLATTEN;
    switch (*pool) {
    case FEAT_POOL_NONE:
    case FEAT_POOL_FLATTEN:
        /* An image transformer's sequence has a length fixed by the image size; a text's does not. */
        if (s->ndim == 3 && layout != FEAT_LAYOUT_CLS_TOKENS)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "tap '%s:%s': a token sequence [batch, tokens, hidden] has a length that varies "
                                  "with the input; pool it with cls, mean or max",
                                  path, feat_pool_name(*pool));
        *dim_out = per_item;
        return FEAT_OK;
    case FEAT_POOL_GAP:
    case FEAT_POOL_GMP:
        if (s->ndim != 4)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "tap '%s:%s': %s needs a feature map [batch, channels, height, width], the layer "
                                  "gives rank %zu",
                                  path, feat_pool_name(*pool), feat_pool_name(*pool), s->ndim);
        if (check_layout(path, *pool, layout, s, err) != FEAT_OK)
            return FEAT_E_MODEL;
        *dim_out = (size_t)s->dims[layout == FEAT_LAYOUT_NHWC ? 3 : 1];
        return FEAT_OK;
    case FEAT_POOL_CLS:
    case FEAT_POOL_MEAN:
    case FEAT_POOL_MAX:
        if (s->ndim != 3)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "tap '%s:%s': %s needs a token sequence [batch, tokens, hidden], the layer gives "
                                  "rank %zu (use gap or gmp for feature maps)",
                                  path, feat_pool_name(*pool), feat_pool_name(*pool), s->ndim);
        if (check_layout(path, *pool, layout, s, err) != FEAT_OK)
            return FEAT_E_MODEL;
        if (layout == FEAT_LAYOUT_CLS_TOKENS && *pool != FEAT_POOL_CLS && s->dims[1] < 2)
            return feat_error_set(err, FEAT_E_MODEL, "tap '%s:%s': a class token and no patch tokens", path,
                                  feat_pool_name(*pool));
        *dim_out = (size_t)s->dims[2];
        return FEAT_OK;
    case FEAT_POOL_AUTO: break;
    }
    return feat_error_set(err, FEAT_E_INTERNAL, "tap '%s': unknown pooling %d", path, (int)*pool);
}

/* gap / gmp of one item's map: c channels of hw positions, channel k's values at k * cs + i * ps. */
static void pool_map(feat_pool pool, const float *x, size_t c, size_t hw, size_t cs, size_t ps, float *dst)
{
    for (size_t k = 0; k < c; k++) {
        const float *p = x + k * cs;
        if (pool == FEAT_POOL_GAP) {
            /* Accumulate in double: the reference mean is float32 but summed pairwise;
             * double keeps us within 1 ulp of it without depending on its order. */
            double sum = 0;
            for (size_t i = 0; i < hw; i++)
                sum += p[i * ps];
            dst[k] = (float)(sum / (double)hw);
        } else {
            float m = p[0];
            for (size_t i = 1; i < hw; i++)
                if (p[i * ps] > m || p[i * ps] != p[i * ps])
                    m = p[i * ps];
            dst[k] = m;
        }
    }
}

/* mean / max over tokens first.. of one item, skipping masked ones. */
static void pool_tokens(feat_pool pool, const float *x, size_t first, size_t n_tok, size_t h, const int64_t *mask,
                        float *dst)
{
    size_t used = 0;
    for (size_t t = first; t < n_tok; t++) {
        if (mask && !mask[t])
            continue;
        const float *p = x + t * h;
        if (pool == FEAT_POOL_MEAN) {
            for (size_t k = 0; k < h; k++)
                dst[k] = used ? dst[k] + p[k] : p[k];
        } else {
            for (size_t k = 0; k < h; k++)
                if (!used || p[k] > dst[k])
                    dst[k] = p[k];
        }
        used++;
    }
    if (!used) {
        for (size_t k = 0; k < h; k++)
            dst[k] = 0.0f;
    } else if (pool == FEAT_POOL_MEAN) {
        for (size_t k = 0; k < h; k++)
            dst[k] /= (float)used;
    }
}

void feat_pool_apply(feat_pool pool, feat_layout layout, const float *data, const feat_tensor_shape *s, int64_t b,
                     const int64_t *mask, float *dst)
{
    size_t per_item = 1;
    for (size_t i = 1; i < s->ndim; i++)
        per_item *= (size_t)s->dims[i];
    const float *x = data + (size_t)b * per_item;
    switch (pool) {
    case FEAT_POOL_NONE:
    case FEAT_POOL_FLATTEN:
    case FEAT_POOL_AUTO: memcpy(dst, x, per_item * sizeof *dst); return;
    case FEAT_POOL_GAP:
    case FEAT_POOL_GMP:
        if (layout == FEAT_LAYOUT_NHWC) /* [H, W, C]: channel k at k + i * C */
            pool_map(pool, x, (size_t)s->dims[3], (size_t)s->dims[1] * (size_t)s->dims[2], 1, (size_t)s->dims[3], dst);
        else
            pool_map(pool, x, (size_t)s->dims[1], (size_t)s->dims[2] * (size_t)s->dims[3],
                     (size_t)s->dims[2] * (size_t)s->dims[3], 1, dst);
        return;
    case FEAT_POOL_CLS: memcpy(dst, x, (size_t)s->dims[2] * sizeof *dst); return;
    case FEAT_POOL_MEAN:
    case FEAT_POOL_MAX:
        pool_tokens(pool, x, layout == FEAT_LAYOUT_CLS_TOKENS ? 1 : 0, (size_t)s->dims[1], (size_t)s->dims[2], mask,
                    dst);
        return;
    }
}
