/* SPDX-License-Identifier: MIT */
/* feat merge: joins the outputs of `--shard I/N` runs back into input order. Shard I holds
 * inputs I, I+N, I+2N, ..., so global row k is row k / N of shard k % N. */
#include "cli.h"

#include "core/npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cli_option options[] = {
    CLI_REQUIRED(CLI_OUTPUT, "the merged rows (and OUT.rows.tsv, their table)"),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

typedef struct shard {
    FILE *npy, *tsv;
    size_t rows, cols;
} shard;

typedef struct merge {
    shard *s;
    int n;
    size_t total;         /* rows of all shards */
    feat_npy_writer *npy; /* the output */
    char *tsv_path, *tsv_tmp;
    FILE *tsv;
    char *columns_path, *columns_tmp; /* the map, written under columns_tmp until the end */
    char *columns;                    /* the shards' column map (all the same), NULL when they have none */
    size_t columns_len;
} merge;

/* The whole of a small file (malloc'd, *len its size), or NULL when it does not exist. */
static char *slurp(const char *path, size_t *len, int *bad)
{
    FILE *f = fopen(path, "rb");
    *bad = !f && errno != ENOENT;
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            char *b = realloc(buf, cap = cap ? 2 * cap : 4096);
            if (!b) {
                *bad = 1;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    *bad |= ferror(f);
    fclose(f);
    *len = n;
    return buf;
}

/* Every shard's OUT.columns.tsv must be the same (or none may have one): the merged map. */
static int check_columns(merge *m, char **files)
{
    for (int i = 0; i < m->n; i++) {
        char *path = cli_sibling_path(files[i], ".columns.tsv");
        size_t len = 0;
        int bad = !path;
        char *c = path ? slurp(path, &len, &bad) : NULL;
        int differs = i && ((c == NULL) != (m->columns == NULL) ||
                            (c && (len != m->columns_len || memcmp(c, m->columns, len) != 0)));
        if (bad || differs)
            fprintf(stderr, "feat: %s %s\n", path ? path : files[i],
                    bad ? "cannot be read" : "differs from the first shard's column map: the shards are not one run");
        free(path);
        if (bad || differs) {
            free(c);
            return -1;
        }
        if (i)
            free(c);
        else
            m->columns = c, m->columns_len = len;
    }
    return 0;
}

/* Writes the merged column map under a temporary name beside the output (renamed into place
 * by finish_output). */
static int write_columns(merge *m, const char *output)
{
    if (!m->columns)
        return 0;
    m->columns_path = cli_sibling_path(output, ".columns.tsv");
    m->columns_tmp = m->columns_path ? cli_concat(m->columns_path, ".partial") : NULL;
    if (!m->columns_tmp)
        return -1;
    FILE *f = fopen(m->columns_tmp, "wb");
    int bad = f ? 0 : errno;
    if (f && fwrite(m->columns, 1, m->columns_len, f) != m->columns_len)
        bad = errno;
    int closed = f ? cli_close_synced(f, m->columns_tmp) : 0;
    bad = bad ? bad : closed;
    if (bad)
        fprintf(stderr, "feat: cannot write %s: %s\n", m->columns_path, strerror(bad));
    return bad ? -1 : 0;
}

/* Opens shard i (path p) and checks it against the ones before; returns -1 after saying why. */
static int open_shard(merge *m, int i, const char *p, const char *first)
{
    shard *s = &m->s[i];
    feat_error err = {0};
    char *t = cli_sibling_path(p, ".rows.tsv");
    s->npy = fopen(p, "rb");
    s->tsv = t ? fopen(t, "r") : NULL;
    int rc = -1;
    if (!s->npy || !s->tsv)
        fprintf(stderr, "feat: cannot open %s and %s\n", p, t ? t : "its rows table");
    else if (feat_npy_read_header(s->npy, &s->rows, &s->cols, &err) != FEAT_OK)
        fprintf(stderr, "feat: %s: %s\n", p, err.msg);
    else if (s->cols != m->s[0].cols)
        fprintf(stderr, "feat: %s has %zu columns, %s has %zu\n", p, s->cols, first, m->s[0].cols);
    /* Shard I has ceil((total - I) / N) rows: sizes may differ by one, decreasing. */
    else if (i && (s->rows > s[-1].rows || s[-1].rows - s->rows > 1))
        fprintf(stderr,
                "feat: shard sizes do not fit the --shard I/N pattern (%s has %zu rows after %zu); "
                "give the shards in order 0..N-1\n",
                p, s->rows, s[-1].rows);
    else
        rc = 0;
    free(t);
    m->total += s->rows;
    return rc;
}

/* Opens the output files and writes the table's header; returns -1 after saying why. */
static int open_output(merge *m, const char *output)
{
    feat_error err = {0};
    m->tsv_path = cli_sibling_path(output, ".rows.tsv");
    m->tsv_tmp = m->tsv_path ? cli_concat(m->tsv_path, ".partial") : NULL;
    if (!m->tsv_tmp)
        return -1;
    m->tsv = fopen(m->tsv_tmp, "w");
    if (!m->tsv) {
        fprintf(stderr, "feat: cannot write %s: %s\n", m->tsv_tmp, strerror(errno));
        return -1;
    }
    if (feat_npy_open(output, m->s[0].cols, &m->npy, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return -1;
    }
    fprintf(m->tsv, "row\tstatus\tinput\tmessage\n");
    return 0;
}

/* Copies the rows in input order, checking each table's row numbers; returns -1 after saying
 * what is wrong. */
static int copy_rows(merge *m)
{
    feat_error err = {0};
    float *row = malloc((m->s[0].cols ? m->s[0].cols : 1) * sizeof *row);
    char *line = NULL;
    size_t cap = 0;
    int rc = row ? 0 : -1;
    for (int i = 0; i < m->n && !rc; i++)
        if (getline(&line, &cap, m->s[i].tsv) < 0)
            rc = -1; /* header */
    for (size_t k = 0; k < m->total && !rc; k++) {
        shard *sh = &m->s[k % (size_t)m->n];
        ssize_t len = getline(&line, &cap, sh->tsv);
        char *tab = len > 0 ? strchr(line, '\t') : NULL;
        if (fread(row, sizeof *row, sh->cols, sh->npy) != sh->cols || !tab) {
            fprintf(stderr, "feat: shard %zu is shorter than its header says, or unreadable\n", k % (size_t)m->n);
            rc = -1;
        } else if (feat_npy_append(m->npy, row, 1, &err) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", err.msg);
            rc = -1;
        } else if (strtoul(line, NULL, 10) != k) {
            fprintf(stderr,
                    "feat: row %zu of the merge comes from a shard row numbered %lu: give the shards of one "
                    "run in order 0..N-1\n",
                    k, strtoul(line, NULL, 10));
            rc = -1;
        } else {
            fputs(line, m->tsv);
        }
    }
    free(row);
    free(line);
    return rc;
}

/* Everything is synced under its temporary name first; then the old output goes, the table
 * and the column map are renamed into place and the .npy last, so an OUT.npy in place is
 * complete and its tables are its own (as at the end of feat image and feat text). Returns -1
 * after saying why; merge_free removes what is left. */
static int finish_output(merge *m, const char *output)
{
    feat_error err = {0};
    if (feat_npy_sync(m->npy, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return -1;
    }
    FILE *tsv = m->tsv;
    m->tsv = NULL;
    int bad = cli_close_synced(tsv, m->tsv_tmp);
    const char *failed = m->tsv_path;
    if (!bad && remove(output) != 0 && errno != ENOENT)
        bad = errno, failed = output;
    if (!bad && rename(m->tsv_tmp, m->tsv_path) != 0)
        bad = errno;
    if (!bad && m->columns_tmp && rename(m->columns_tmp, m->columns_path) != 0)
        bad = errno, failed = m->columns_path;
    if (bad) {
        fprintf(stderr, "feat: cannot write %s: %s\n", failed, strerror(bad));
        remove(m->tsv_tmp);
        return -1;
    }
    feat_npy_writer *npy = m->npy;
    m->npy = NULL;
    if (feat_npy_close(npy, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Merges the shards in files into output; returns 0, or -1 after saying why. */
static int merge_shards(merge *m, const char *output, char **files)
{
    int rc = 0;
    for (int i = 0; i < m->n && !rc; i++)
        rc = open_shard(m, i, files[i], files[0]);
    if (!rc)
        rc = check_columns(m, files);
    if (!rc)
        rc = open_output(m, output);
    if (!rc)
        rc = copy_rows(m);
    if (!rc)
        rc = write_columns(m, output);
    if (!rc)
        rc = finish_output(m, output);
    if (!rc)
        fprintf(stderr, "feat: merged %zu rows from %d shards into %s\n", m->total, m->n, output);
    return rc;
}

/* Closes what run left open; an unfinished output is removed. */
static void merge_free(merge *m)
{
    for (int i = 0; m->s && i < m->n; i++) {
        if (m->s[i].npy)
            fclose(m->s[i].npy);
        if (m->s[i].tsv)
            fclose(m->s[i].tsv);
    }
    if (m->tsv) {
        fclose(m->tsv);
        remove(m->tsv_tmp);
    }
    feat_npy_abort(m->npy);
    if (m->columns_tmp)
        remove(m->columns_tmp); /* gone already once renamed */
    free(m->s);
    free(m->tsv_path);
    free(m->tsv_tmp);
    free(m->columns_path);
    free(m->columns_tmp);
    free(m->columns);
}

/* Merges the shards into -o; returns the exit status. */
static int run(char **files, int n, cli_common *c, void *unused)
{
    (void)unused;
    merge m = {.n = n, .s = calloc((size_t)n, sizeof *m.s)};
    int rc = m.s ? merge_shards(&m, c->output, files) : -1;
    merge_free(&m);
    return rc ? 1 : 0;
}

static const cli_command command = {
    .usage = "merge -o OUT.npy SHARD_0.npy ... SHARD_N-1.npy",
    .about = "Joins the outputs of 'feat image|text --shard I/N' (given in order I = 0..N-1) into\n"
             "input order, with their rows tables joined into OUT.rows.tsv and their column map\n"
             "(the same in every shard) copied to OUT.columns.tsv.\n",
    .options = options,
    .operands = CLI_SOME_OPERANDS,
    .run = run};

int cmd_merge(int argc, char **argv) { return cli_main(&command, argc, argv, NULL); }
