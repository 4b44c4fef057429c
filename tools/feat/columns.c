/* SPDX-License-Identifier: MIT */
/* The column map OUT.columns.tsv: which columns of OUT.npy came from which model, tap, pooling
 * and --append table (cli.h; the format is in docs/adapting.md). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAMES_MAX 16384 /* bytes of a joined list of tap or column names */

static int push(cli_columns *m, cli_block b)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        cli_block *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    b.first = m->dim;
    m->v[m->n++] = b;
    m->dim += b.count;
    return 0;
}

/* The pooling of a resolved tap name "path[@k]:pool". */
static const char *pool_of(const char *tap)
{
    const char *colon = strrchr(tap, ':');
    return colon ? colon + 1 : "";
}

/* names[0..n) (or their poolings) joined by ',' into buf. */
static void join(const char *const *names, size_t n, int pools, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", pools ? pool_of(names[i]) : names[i]);
}

static void block_free(cli_block *b)
{
    free(b->tap);
    free(b->model);
    free(b->pooling);
    free(b->fusion);
    free(b->names);
}

/* A model block; takes ownership of nothing, copies everything. */
static int push_tap(cli_columns *m, const char *model, const char *tap, const char *pooling, const char *fusion,
                    size_t count)
{
    cli_block b = {.tap = strdup(tap),
                   .count = count,
                   .model = strdup(model),
                   .pooling = strdup(pooling),
                   .fusion = strdup(fusion)};
    if (!b.tap || !b.model || !b.pooling || !b.fusion || push(m, b)) {
        block_free(&b);
        return -1;
    }
    return 0;
}

int cli_columns_add_model(cli_columns *m, const char *model, size_t n_taps, const char *const *names,
                          const size_t *tap_dims, size_t dim)
{
    size_t sum = 0;
    for (size_t i = 0; i < n_taps; i++)
        sum += tap_dims[i];
    if (sum == dim) { /* concatenated (one tap is both) */
        for (size_t i = 0; i < n_taps; i++)
            if (push_tap(m, model, names[i], pool_of(names[i]), "concat", tap_dims[i]))
                return -1;
        return 0;
    }
    /* Mean fusion: every tap has the row's size, and the row is their element-wise mean. */
    char *taps = malloc(NAMES_MAX), *pools = malloc(NAMES_MAX);
    int rc = -1;
    if (taps && pools) {
        join(names, n_taps, 0, taps, NAMES_MAX);
        join(names, n_taps, 1, pools, NAMES_MAX);
        rc = push_tap(m, model, taps, pools, "mean", dim);
    }
    free(taps);
    free(pools);
    return rc;
}

/* The taps of a loaded extractor, through its kind's getters. */
#define ADD_EXTRACTOR(KIND)                                                                                            \
  int cli_columns_add_##KIND(cli_columns *m, const char *model, const feat_##KIND##_extractor *ex)                     \
  {                                                                                                                    \
    size_t n = feat_##KIND##_extractor_n_taps(ex);                                                                     \
    const char **names = calloc(n ? n : 1, sizeof *names);                                                             \
    size_t *dims = calloc(n ? n : 1, sizeof *dims);                                                                    \
    int rc = names && dims ? 0 : -1;                                                                                   \
    for (size_t i = 0; !rc && i < n; i++) {                                                                            \
      names[i] = feat_##KIND##_extractor_tap(ex, i);                                                                   \
      dims[i] = feat_##KIND##_extractor_tap_dim(ex, i);                                                                \
    }                                                                                                                  \
    if (!rc)                                                                                                           \
      rc = cli_columns_add_model(m, model, n, names, dims, feat_##KIND##_extractor_dim(ex));                           \
    free(names);                                                                                                       \
    free(dims);                                                                                                        \
    return rc;                                                                                                         \
  }
ADD_EXTRACTOR(image)
ADD_EXTRACTOR(text)

int cli_columns_add_append(cli_columns *m, const char *file, const char *names, size_t count)
{
    cli_block b = {.tap = strdup(file), .count = count, .appended = 1, .names = strdup(names)};
    if (!b.tap || !b.names || push(m, b)) {
        block_free(&b);
        return -1;
    }
    return 0;
}

static const char *or_dash(const char *s) { return s && s[0] ? s : "-"; }

int cli_columns_write(const cli_columns *m, const char *path)
{
    char *tmp = cli_concat(path, ".partial");
    FILE *f = tmp ? fopen(tmp, "w") : NULL;
    int bad = !f || fprintf(f, "tap\tfirst\tcount\tkind\tmodel\tpooling\tfusion\tcolumns\n") < 0;
    for (size_t i = 0; !bad && i < m->n; i++) {
        const cli_block *b = &m->v[i];
        bad = fprintf(f, "%s\t%zu\t%zu\t%s\t%s\t%s\t%s\t%s\n", b->tap, b->first, b->count,
                      b->appended ? "append" : "model", or_dash(b->model), or_dash(b->pooling), or_dash(b->fusion),
                      or_dash(b->names)) < 0;
    }
    if (f) {
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
    }
    if (!bad)
        bad = rename(tmp, path) != 0;
    if (bad) {
        fprintf(stderr, "feat: cannot write %s: %s\n", path, strerror(errno));
        if (tmp)
            remove(tmp);
    }
    free(tmp);
    return bad ? -1 : 0;
}

void cli_columns_free(cli_columns *m)
{
    for (size_t i = 0; i < m->n; i++)
        block_free(&m->v[i]);
    free(m->v);
    *m = (cli_columns){0};
}

char *cli_sibling_path(const char *npy_path, const char *suffix)
{
    size_t n = strlen(npy_path);
    size_t stem = n > 4 && strcmp(npy_path + n - 4, ".npy") == 0 ? n - 4 : n;
    char *s = malloc(stem + strlen(suffix) + 1);
    if (s)
        sprintf(s, "%.*s%s", (int)stem, npy_path, suffix);
    return s;
}
