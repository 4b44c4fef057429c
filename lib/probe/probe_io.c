/* SPDX-License-Identifier: MIT */
/* The tables around a probe: labels, the column map, block selection and the default
 * candidate taps of a model. */
#include "probe/probe.h"
#include "probe/probe_priv.h"

#include "core/npy.h"
#include "taps/taps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_BYTES_MAX ((size_t)1 << 30) /* label and column tables are text; 1 GiB is plenty */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void feat_probe_labels_free(feat_probe_labels *labels)
{
    if (!labels)
        return;
    for (size_t i = 0; labels->names && i < labels->n_classes; i++)
        free(labels->names[i]);
    free(labels->names);
    free(labels->index);
    memset(labels, 0, sizeof *labels);
}

/* The distinct names, sorted: the class list. */
static feat_status class_names(const char *const *names, size_t n, feat_probe_labels *out, feat_error *err)
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return feat_error_set(err, FEAT_E_NOMEM, "labels: out of memory for %zu rows", n);
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            sorted[k++] = sorted[i];
    feat_status st = FEAT_OK;
    if (k > FEAT_PROBE_CLASSES_MAX)
        st =
            feat_error_set(err, FEAT_E_LIMIT, "labels: %zu classes, more than the limit %d", k, FEAT_PROBE_CLASSES_MAX);
    out->names = st == FEAT_OK ? calloc(k ? k : 1, sizeof *out->names) : NULL;
    if (st == FEAT_OK && !out->names)
        st = feat_error_set(err, FEAT_E_NOMEM, "labels: out of memory for %zu classes", k);
    for (size_t i = 0; st == FEAT_OK && i < k; i++) {
        out->names[i] = strdup(sorted[i]);
        out->n_classes = i + 1;
        if (!out->names[i])
            st = feat_error_set(err, FEAT_E_NOMEM, "labels: out of memory for class names");
    }
    free(sorted);
    return st;
}

feat_status feat_probe_labels_from_names(const char *const *names, size_t n_rows, feat_probe_labels *out,
                                         feat_error *err)
{
    if (!out || (!names && n_rows))
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "labels: names or out is NULL");
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n_rows; i++)
        if (!names[i] || !names[i][0])
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "labels: row %zu has no label", i);
    feat_status st = class_names(names, n_rows, out, err);
    out->index = st == FEAT_OK ? malloc((n_rows ? n_rows : 1) * sizeof *out->index) : NULL;
    if (st == FEAT_OK && !out->index)
        st = feat_error_set(err, FEAT_E_NOMEM, "labels: out of memory for %zu rows", n_rows);
    for (size_t i = 0; st == FEAT_OK && i < n_rows; i++) {
        char **hit = bsearch(&names[i], out->names, out->n_classes, sizeof *out->names, cmp_str);
        out->index[i] = (int32_t)(hit - out->names);
    }
    out->n_rows = n_rows;
    if (st != FEAT_OK)
        feat_probe_labels_free(out);
    return st;
}

/* Reads a whole text file into a NUL-terminated buffer. */
static feat_status slurp(const char *path, char **buf, size_t *len, feat_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return feat_error_set(err, errno == ENOENT ? FEAT_E_NOT_FOUND : FEAT_E_IO, "cannot open '%s': %s", path,
                              strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    feat_status st = b ? FEAT_OK : feat_error_set(err, FEAT_E_NOMEM, "'%s': out of memory", path);
    while (st == FEAT_OK) {
        if (n + 1 >= cap) {
            char *nb = cap < TABLE_BYTES_MAX ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                st = feat_error_set(err, cap < TABLE_BYTES_MAX ? FEAT_E_NOMEM : FEAT_E_LIMIT,
                                    "'%s': larger than %zu bytes", path, cap);
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = feat_error_set(err, FEAT_E_IO, "reading '%s' failed", path);
            break;
        }
    }
    fclose(f);
    if (st != FEAT_OK) {
        free(b);
        return st;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return FEAT_OK;
}

/* Cuts the next line out of [*p, end) (NUL-terminated, without "\n" or "\r\n"); NULL at the end. */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));
    char *stop = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (stop > line && stop[-1] == '\r')
        stop--;
    *stop = '\0';
    return line;
}

/* A non-negative decimal integer that is the whole string. */
static int parse_size(const char *s, size_t *out)
{
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > SIZE_MAX)
        return 0;
    *out = (size_t)v;
    return 1;
}

/* One "row<TAB>label" line into names[row]. */
static feat_status label_line(char *line, size_t lineno, const char *path, size_t n_rows, const char **names,
                              feat_error *err)
{
    char *tab = strchr(line, '\t');
    size_t row;
    if (!tab)
        return feat_error_set(err, FEAT_E_DECODE, "label table '%s' line %zu: expected row<TAB>label", path, lineno);
    *tab = '\0';
    if (!parse_size(line, &row))
        return feat_error_set(err, FEAT_E_DECODE, "label table '%s' line %zu: row '%s' is not a row number", path,
                              lineno, line);
    if (row >= n_rows)
        return feat_error_set(err, FEAT_E_DECODE, "label table '%s' line %zu: row %zu, but the features have %zu rows",
                              path, lineno, row, n_rows);
    if (names[row])
        return feat_error_set(err, FEAT_E_DECODE, "label table '%s' line %zu: row %zu is labelled twice", path, lineno,
                              row);
    if (!tab[1])
        return feat_error_set(err, FEAT_E_DECODE, "label table '%s' line %zu: row %zu has an empty label", path, lineno,
                              row);
    names[row] = tab + 1;
    return FEAT_OK;
}

feat_status feat_probe_labels_read(const char *path, size_t n_rows, feat_probe_labels *out, feat_error *err)
{
    if (!path || !out)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "labels: path or out is NULL");
    memset(out, 0, sizeof *out);
    char *buf, *p;
    size_t len;
    feat_status st = slurp(path, &buf, &len, err);
    if (st != FEAT_OK)
        return st;
    const char **names = calloc(n_rows ? n_rows : 1, sizeof *names);
    if (!names) {
        free(buf);
        return feat_error_set(err, FEAT_E_NOMEM, "label table '%s': out of memory for %zu rows", path, n_rows);
    }
    p = buf;
    char *line;
    for (size_t lineno = 1; st == FEAT_OK && (line = next_line(&p, buf + len)); lineno++) {
        if (lineno == 1 && strcmp(line, "row\tlabel") == 0)
            continue;
        st = label_line(line, lineno, path, n_rows, names, err);
    }
    for (size_t r = 0; st == FEAT_OK && r < n_rows; r++)
        if (!names[r])
            st = feat_error_set(err, FEAT_E_DECODE, "label table '%s': no label for row %zu (of %zu)", path, r, n_rows);
    if (st == FEAT_OK)
        st = feat_probe_labels_from_names(names, n_rows, out, err);
    free(names);
    free(buf);
    return st;
}

/* One "tap<TAB>first<TAB>count[<TAB>...]" line into *b, checked against the columns and the
 * previous block (the fields after count, which feat image and feat text write, are not read). */
static feat_status column_line(char *line, size_t lineno, const char *path, size_t cols, size_t prev_end,
                               feat_probe_block *b, feat_error *err)
{
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL, *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
    if (!t2)
        return feat_error_set(err, FEAT_E_DECODE, "column map '%s' line %zu: expected tap<TAB>first<TAB>count", path,
                              lineno);
    *t1 = *t2 = '\0';
    if (t3)
        *t3 = '\0';
    if (!line[0] || strlen(line) >= sizeof b->name)
        return feat_error_set(err, FEAT_E_DECODE, "column map '%s' line %zu: tap name empty or over %zu bytes", path,
                              lineno, sizeof b->name - 1);
    if (!parse_size(t1 + 1, &b->first) || !parse_size(t2 + 1, &b->count) || b->count == 0)
        return feat_error_set(err, FEAT_E_DECODE,
                              "column map '%s' line %zu: first and count must be integers, count > 0", path, lineno);
    if (b->first > cols || b->count > cols - b->first)
        return feat_error_set(err, FEAT_E_DECODE,
                              "column map '%s' line %zu: columns %zu..%zu, but the features have %zu", path, lineno,
                              b->first, b->first + b->count - 1, cols);
    if (b->first < prev_end)
        return feat_error_set(err, FEAT_E_DECODE,
                              "column map '%s' line %zu: starts at column %zu, inside or before the previous tap", path,
                              lineno, b->first);
    strcpy(b->name, line);
    return FEAT_OK;
}

feat_status feat_probe_columns_read(const char *path, size_t cols, feat_probe_block **out, size_t *n_out,
                                    feat_error *err)
{
    if (!path || !out || !n_out)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "column map: path or out is NULL");
    char *buf, *p, *line;
    size_t len, n = 0, end = 0;
    feat_status st = slurp(path, &buf, &len, err);
    if (st != FEAT_OK)
        return st;
    feat_probe_block *b = calloc(FEAT_PROBE_BLOCKS_MAX, sizeof *b);
    if (!b)
        st = feat_error_set(err, FEAT_E_NOMEM, "column map '%s': out of memory", path);
    p = buf;
    line = next_line(&p, buf + len);
    if (st == FEAT_OK &&
        (!line || (strcmp(line, "tap\tfirst\tcount") != 0 && strncmp(line, "tap\tfirst\tcount\t", 16) != 0)))
        st =
            feat_error_set(err, FEAT_E_DECODE, "column map '%s': the first line must be tap<TAB>first<TAB>count", path);
    for (size_t lineno = 2; st == FEAT_OK && (line = next_line(&p, buf + len)); lineno++) {
        if (n == FEAT_PROBE_BLOCKS_MAX)
            st = feat_error_set(err, FEAT_E_LIMIT, "column map '%s': more than %d taps", path, FEAT_PROBE_BLOCKS_MAX);
        else if ((st = column_line(line, lineno, path, cols, end, &b[n], err)) == FEAT_OK)
            end = b[n].first + b[n].count, n++;
    }
    if (st == FEAT_OK && n == 0)
        st = feat_error_set(err, FEAT_E_DECODE, "column map '%s': no taps", path);
    free(buf);
    if (st != FEAT_OK) {
        free(b);
        return st;
    }
    *out = b;
    *n_out = n;
    return FEAT_OK;
}

FILE *feat_probe_partial_open(const char *path, char *tmp, size_t cap, feat_error *err)
{
    if ((size_t)snprintf(tmp, cap, "%s.partial", path) >= cap) {
        feat_error_set(err, FEAT_E_LIMIT, "path '%s' too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        feat_error_set(err, FEAT_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
    return f;
}

feat_status feat_probe_partial_commit(FILE *f, const char *tmp, const char *path, int failed, feat_error *err)
{
    failed |= ferror(f);
    failed |= fclose(f) != 0;
    if (failed || rename(tmp, path) != 0) {
        remove(tmp);
        return feat_error_set(err, FEAT_E_IO, "writing '%s' failed", path);
    }
    return FEAT_OK;
}

feat_status feat_probe_columns_write(const char *path, const feat_probe_block *blocks, size_t n, feat_error *err)
{
    if (!path || (!blocks && n))
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "column map: path or blocks is NULL");
    char tmp[PROBE_PATH_MAX];
    FILE *f = feat_probe_partial_open(path, tmp, sizeof tmp, err);
    if (!f)
        return err ? err->code : FEAT_E_IO;
    int bad = fprintf(f, "tap\tfirst\tcount\n") < 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad = fprintf(f, "%s\t%zu\t%zu\n", blocks[i].name, blocks[i].first, blocks[i].count) < 0;
    return feat_probe_partial_commit(f, tmp, path, bad, err);
}

feat_status feat_probe_blocks_select(feat_probe_block *blocks, size_t *n, const char *list, feat_error *err)
{
    if (!blocks || !n)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap selection: blocks is NULL");
    if (!list || !*list)
        return FEAT_OK;
    feat_probe_block *keep = malloc(*n * sizeof *keep + 1);
    char *copy = strdup(list);
    feat_status st = keep && copy ? FEAT_OK : feat_error_set(err, FEAT_E_NOMEM, "tap selection: out of memory");
    size_t k = 0;
    char *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; st == FEAT_OK && tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';)
            *--e = '\0';
        size_t i = 0;
        while (i < *n && strcmp(blocks[i].name, tok) != 0)
            i++;
        for (size_t j = 0; j < k && i < *n; j++)
            if (strcmp(keep[j].name, tok) == 0)
                st = feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap selection: '%s' is listed twice", tok);
        if (i == *n)
            st = feat_error_set(err, FEAT_E_NOT_FOUND, "tap selection: no tap '%s' in the column map", tok);
        else if (st == FEAT_OK)
            keep[k++] = blocks[i];
    }
    if (st == FEAT_OK && k == 0)
        st = feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "tap selection '%s' names no tap", list);
    if (st == FEAT_OK) {
        memcpy(blocks, keep, k * sizeof *keep);
        *n = k;
    }
    free(keep);
    free(copy);
    return st;
}

/* 1 when the segment [s, e) is a non-empty run of digits. */
static int is_index(const char *s, const char *e)
{
    if (s == e)
        return 0;
    for (; s < e; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* A child of a repeated-block container: the last segment is an index, no earlier one is. */
static int is_block_child(const char *path)
{
    const char *last = strrchr(path, '.');
    if (!last || !is_index(last + 1, path + strlen(path)))
        return 0;
    for (const char *s = path; s < last;) {
        const char *e = strchr(s, '.');
        if (is_index(s, e))
            return 0;
        s = e + 1;
    }
    return 1;
}

feat_status feat_probe_default_taps(const feat_probe_module *modules, size_t n, char *spec, size_t cap, feat_error *err)
{
    if ((!modules && n) || !spec || cap == 0)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "default taps: modules or spec is NULL");
    size_t len = 0, taps = 0;
    spec[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *pool = modules[i].rank == 4 ? "gap" : modules[i].rank == 3 ? "mean" : NULL;
        if (!pool || !modules[i].path || !is_block_child(modules[i].path))
            continue;
        if (++taps > FEAT_TAP_MAX)
            return feat_error_set(err, FEAT_E_LIMIT,
                                  "default taps: more than %d block children; name the taps with --taps", FEAT_TAP_MAX);
        int w = snprintf(spec + len, cap - len, "%s%s:%s", len ? "," : "", modules[i].path, pool);
        if (w < 0 || (size_t)w >= cap - len)
            return feat_error_set(err, FEAT_E_LIMIT, "default taps: the spec is over %zu bytes", cap - 1);
        len += (size_t)w;
    }
    if (taps == 0)
        return feat_error_set(
            err, FEAT_E_NOT_FOUND,
            "default taps: the model has no indexed block children with feature-map or token outputs; "
            "name the taps with --taps");
    return FEAT_OK;
}

feat_status feat_probe_matrix_read(const char *path, float **x, size_t *rows, size_t *cols, feat_error *err)
{
    if (!path || !x || !rows || !cols)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "features: path or out is NULL");
    FILE *f = fopen(path, "rb");
    if (!f)
        return feat_error_set(err, errno == ENOENT ? FEAT_E_NOT_FOUND : FEAT_E_IO, "cannot open '%s': %s", path,
                              strerror(errno));
    size_t r, c;
    feat_status st = feat_npy_read_header(f, &r, &c, err);
    if (st != FEAT_OK)
        feat_error_prefix(err, "'%s'", path);
    else if (r > FEAT_PROBE_ROWS_MAX || (r && c > SIZE_MAX / sizeof(float) / r))
        st = feat_error_set(err, FEAT_E_LIMIT, "'%s': %zu x %zu is over the probe's limits", path, r, c);
    float *m = st == FEAT_OK ? malloc(r * c * sizeof *m + 1) : NULL;
    if (st == FEAT_OK && !m)
        st = feat_error_set(err, FEAT_E_NOMEM, "'%s': out of memory for %zu x %zu floats", path, r, c);
    if (st == FEAT_OK && fread(m, sizeof *m, r * c, f) != r * c)
        st = feat_error_set(err, FEAT_E_DECODE, "'%s': truncated (header says %zu x %zu)", path, r, c);
    fclose(f);
    if (st != FEAT_OK) {
        free(m);
        return st;
    }
    *x = m;
    *rows = r;
    *cols = c;
    return FEAT_OK;
}
