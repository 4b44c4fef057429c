/* SPDX-License-Identifier: MIT */
/* --append FILE.tsv: user-computed numeric columns joined to each row by key (cli.h; the
 * rules are in docs/adapting.md). Everything about a table is checked when it is loaded,
 * before any model is: a run never writes a row whose appended values are guesses. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One table: its value columns and, for each input, the row that holds its values. */
typedef struct table {
    const char *path;
    size_t cols;   /* value columns */
    char *names;   /* the value columns' names joined by ',' */
    float *values; /* rows x cols */
    size_t *row;   /* per input */
} table;

struct cli_append {
    table t[CLI_MAX_APPEND];
    size_t n, dim;
};

/* A table being read: keys and their line numbers, values. */
typedef struct reading {
    const char *path, *key_name;
    strlist keys;
    size_t *lines;
    size_t rows, cap, cols;
    float *values;
} reading;

/* Splits line at tabs into fields (at most max); returns the number of fields. */
static size_t split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        char *tab = strchr(p, '\t');
        if (n < max)
            fields[n] = p;
        n++;
        if (!tab)
            return n;
        *tab = '\0';
        p = tab;
    }
}

/* A decimal number ([+-]digits[.digits][e[+-]digits]) whose float32 is finite. */
static int parse_value(const char *s, float *out)
{
    if (!s[0] || strspn(s, "+-0123456789.eE") != strlen(s) || !strpbrk(s, "0123456789"))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    float f = (float)v; /* numpy's float32(float(s)): the double, rounded to float32 */
    if (*end || !isfinite(v) || !isfinite(f))
        return -1;
    *out = f;
    return 0;
}

/* Text keys are line numbers: "007" and "7" are one line; written canonically. */
static int line_key(const char *s, char *buf, size_t cap)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!s[0] || strspn(s, "0123456789") != strlen(s) || *end || errno || v == 0)
        return -1;
    snprintf(buf, cap, "%llu", v);
    return 0;
}

/* One data line (lineno, 1-based in the file) of a table with nf header fields. */
static int data_line(reading *r, char *line, size_t lineno, size_t nf, char **fields, char *const *header)
{
    size_t got = split(line, fields, nf);
    if (got != nf) {
        fprintf(stderr, "feat: %s line %zu: %zu fields, the header has %zu (a ragged row)\n", r->path, lineno, got, nf);
        return -1;
    }
    char canon[32];
    const char *key = fields[0];
    if (strcmp(r->key_name, "line") == 0 && line_key(key, canon, sizeof canon) == 0)
        key = canon;
    else if (!key[0] || strcmp(r->key_name, "line") == 0) {
        fprintf(stderr, "feat: %s line %zu: the key '%s' is not %s\n", r->path, lineno, key,
                key[0] ? "a line number (1, 2, ...)" : "given");
        return -1;
    }
    if (r->rows == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        size_t *l = realloc(r->lines, cap * sizeof *l);
        r->lines = l ? l : r->lines;
        float *v = l ? realloc(r->values, cap * r->cols * sizeof *v) : NULL;
        r->values = v ? v : r->values;
        if (!v) {
            fprintf(stderr, "feat: out of memory reading %s\n", r->path);
            return -1;
        }
        r->cap = cap;
    }
    for (size_t c = 0; c < r->cols; c++)
        if (parse_value(fields[c + 1], &r->values[r->rows * r->cols + c])) {
            fprintf(stderr, "feat: %s line %zu, column '%s': '%s' is not a finite decimal number\n", r->path, lineno,
                    header[c + 1], fields[c + 1]);
            return -1;
        }
    r->lines[r->rows++] = lineno;
    return strlist_push(&r->keys, key);
}

/* The header: the key column's name, then at least one named value column; names go to t. */
static int header_line(reading *r, char *line, char **fields, size_t max, size_t *nf, table *t)
{
    *nf = split(line, fields, max);
    if (*nf > max || strcmp(fields[0], r->key_name) != 0 || *nf < 2) {
        fprintf(stderr,
                "feat: %s: the header must be '%s' then the value columns' names, tab-separated (%s), got '%s'\n",
                r->path, r->key_name, *nf > max ? "too many columns" : "see docs/adapting.md", fields[0]);
        return -1;
    }
    size_t len = 0;
    for (size_t c = 1; c < *nf; c++) {
        size_t d = 1;
        while (d < c && strcmp(fields[c], fields[d]) != 0)
            d++;
        if (!fields[c][0] || d < c) {
            fprintf(stderr, "feat: %s: value column %zu of the header is %s\n", r->path, c,
                    fields[c][0] ? "named twice" : "unnamed");
            return -1;
        }
        len += strlen(fields[c]) + 1;
    }
    if (!(t->names = malloc(len)))
        return -1;
    t->names[0] = '\0';
    for (size_t c = 1; c < *nf; c++)
        strcat(strcat(t->names, c > 1 ? "," : ""), fields[c]);
    r->cols = *nf - 1;
    return 0;
}

#define MAX_FIELDS 4096 /* columns of one table */

/* Reads the whole table into r and t (header names); returns -1 after saying why. */
static int read_table(reading *r, table *t)
{
    FILE *f = fopen(r->path, "r");
    if (!f) {
        fprintf(stderr, "feat: cannot read %s: %s\n", r->path, strerror(errno));
        return -1;
    }
    char **fields = malloc((MAX_FIELDS + 1) * sizeof *fields), *line = NULL, *header = NULL;
    char **names = malloc((MAX_FIELDS + 1) * sizeof *names);
    size_t cap = 0, nf = 0, lineno = 1;
    int rc = fields && names ? 0 : -1;
    if (!rc && read_line(f, &line, &cap) < 0) {
        fprintf(stderr, "feat: %s is empty: it needs a header line\n", r->path);
        rc = -1;
    }
    if (!rc && (!(header = strdup(line)) || header_line(r, header, names, MAX_FIELDS, &nf, t)))
        rc = -1;
    while (!rc && read_line(f, &line, &cap) >= 0)
        rc = data_line(r, line, ++lineno, nf, fields, names);
    if (!rc && ferror(f)) {
        fprintf(stderr, "feat: cannot read %s\n", r->path);
        rc = -1;
    }
    fclose(f);
    free(line);
    free(header);
    free(fields);
    free(names);
    return rc;
}

static const reading *sorting; /* qsort has no context argument */
static int by_key(const void *a, const void *b)
{
    return strcmp(sorting->keys.v[*(const size_t *)a], sorting->keys.v[*(const size_t *)b]);
}

/* The rows sorted by key (malloc'd), after checking that no key repeats. */
static size_t *sort_keys(const reading *r)
{
    size_t *order = malloc((r->rows ? r->rows : 1) * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i < r->rows; i++)
        order[i] = i;
    sorting = r;
    qsort(order, r->rows, sizeof *order, by_key);
    for (size_t i = 1; i < r->rows; i++)
        if (strcmp(r->keys.v[order[i - 1]], r->keys.v[order[i]]) == 0) {
            size_t a = r->lines[order[i - 1]], b = r->lines[order[i]];
            fprintf(stderr, "feat: %s: the key '%s' is on lines %zu and %zu\n", r->path, r->keys.v[order[i]],
                    a < b ? a : b, a < b ? b : a);
            free(order);
            return NULL;
        }
    return order;
}

/* Finds each input's row in t->row; returns -1 after naming the first input without one. */
static int match_inputs(const reading *r, const size_t *order, char *const *keys, size_t n_keys, table *t)
{
    size_t missing = 0, first_missing = 0;
    for (size_t i = 0; i < n_keys; i++) {
        size_t lo = 0, hi = r->rows;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(r->keys.v[order[mid]], keys[i]);
            if (c == 0) {
                lo = mid;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < r->rows && strcmp(r->keys.v[order[lo]], keys[i]) == 0)
            t->row[i] = order[lo];
        else if (!missing++)
            first_missing = i;
    }
    if (missing)
        fprintf(stderr, "feat: %s has no row for '%s'%s (%zu inputs without one)\n", r->path, keys[first_missing],
                strcmp(r->key_name, "line") == 0 ? " (a line number)" : "", missing);
    return missing ? -1 : 0;
}

/* Loads one table into t; returns -1 after saying why. */
static int load_table(const char *path, const char *key_name, char *const *keys, size_t n_keys, table *t)
{
    reading r = {.path = path, .key_name = key_name};
    t->path = path;
    int rc = read_table(&r, t);
    size_t *order = rc ? NULL : sort_keys(&r);
    t->row = order ? malloc((n_keys ? n_keys : 1) * sizeof *t->row) : NULL;
    rc = t->row ? match_inputs(&r, order, keys, n_keys, t) : -1;
    t->cols = r.cols;
    t->values = r.values;
    free(order);
    free(r.lines);
    strlist_free(&r.keys);
    return rc;
}

cli_append *cli_append_load(const char *const *paths, size_t n_paths, const char *key_name, char *const *keys,
                            size_t n_keys)
{
    cli_append *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "feat: out of memory\n");
        return NULL;
    }
    for (; a->n < n_paths && a->n < CLI_MAX_APPEND; a->n++) {
        if (load_table(paths[a->n], key_name, keys, n_keys, &a->t[a->n])) {
            a->n++;
            cli_append_free(a);
            return NULL;
        }
        a->dim += a->t[a->n].cols;
    }
    return a;
}

size_t cli_append_dim(const cli_append *a) { return a ? a->dim : 0; }

int cli_append_columns(const cli_append *a, cli_columns *m)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (cli_columns_add_append(m, a->t[i].path, a->t[i].names, a->t[i].cols))
            return -1;
    return 0;
}

void cli_append_rows(const cli_append *a, const feat_result *r, size_t first, size_t n, size_t model_dim, float *out)
{
    size_t dim = model_dim + a->dim;
    for (size_t k = 0; k < n; k++) {
        float *o = out + k * dim;
        if (feat_result_item_status(r, k) != FEAT_OK) {
            for (size_t c = 0; c < dim; c++)
                o[c] = NAN; /* a failed row is all NaN, appended columns too */
            continue;
        }
        memcpy(o, feat_result_data(r) + k * model_dim, model_dim * sizeof *o);
        o += model_dim;
        for (size_t i = 0; i < a->n; i++) {
            const table *t = &a->t[i];
            memcpy(o, t->values + t->row[first + k] * t->cols, t->cols * sizeof *o);
            o += t->cols;
        }
    }
}

void cli_append_free(cli_append *a)
{
    for (size_t i = 0; a && i < a->n; i++) {
        free(a->t[i].names);
        free(a->t[i].values);
        free(a->t[i].row);
    }
    free(a);
}
