/* feat merge: joins the outputs of `--shard I/N` runs back into input order. Shard I holds
 * inputs I, I+N, I+2N, ..., so global row k is row k / N of shard k % N. */
#include "cli.h"

#include "core/npy.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

typedef struct shard {
    FILE *npy, *tsv;
    size_t rows, cols;
} shard;

static char *tsv_of(const char *npy)
{
    size_t n = strlen(npy);
    size_t stem = n > 4 && strcmp(npy + n - 4, ".npy") == 0 ? n - 4 : n;
    char *s = malloc(stem + sizeof ".rows.tsv");
    if (s)
        sprintf(s, "%.*s.rows.tsv", (int)stem, npy);
    return s;
}

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *output = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o')
            output = optarg;
        else if (c == 'h') {
            printf("usage: feat merge -o OUT.npy SHARD_0.npy ... SHARD_N-1.npy\n"
                   "Joins the outputs of 'feat image|text --shard I/N' (given in order I = 0..N-1) into\n"
                   "input order, with their rows tables joined into OUT.rows.tsv.\n");
            return 0;
        } else
            return 2;
    }
    int n = argc - optind;
    if (!output || n < 1) {
        fprintf(stderr, "usage: feat merge -o OUT.npy SHARD_0.npy ... SHARD_N-1.npy\n");
        return 2;
    }
    shard *s = calloc((size_t)n, sizeof *s);
    if (!s)
        return 1;
    feat_error err = {0};
    size_t total = 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *p = argv[optind + i];
        char *t = tsv_of(p);
        s[i].npy = fopen(p, "rb");
        s[i].tsv = t ? fopen(t, "r") : NULL;
        if (!s[i].npy || !s[i].tsv) {
            fprintf(stderr, "feat: cannot open %s and %s\n", p, t ? t : "its rows table");
            rc = 1;
        } else if (feat_npy_read_header(s[i].npy, &s[i].rows, &s[i].cols, &err) != FEAT_OK) {
            fprintf(stderr, "feat: %s: %s\n", p, err.msg);
            rc = 1;
        } else if (s[i].cols != s[0].cols) {
            fprintf(stderr, "feat: %s has %zu columns, %s has %zu\n", p, s[i].cols, argv[optind], s[0].cols);
            rc = 1;
        }
        free(t);
        total += s[i].rows;
        /* Shard I has ceil((total - I) / N) rows: sizes may differ by one, decreasing. */
        if (!rc && i && (s[i].rows > s[i - 1].rows || s[i - 1].rows - s[i].rows > 1)) {
            fprintf(stderr, "feat: shard sizes do not fit the --shard I/N pattern (%s has %zu rows after %zu); "
                            "give the shards in order 0..N-1\n", p, s[i].rows, s[i - 1].rows);
            rc = 1;
        }
    }
    feat_npy_writer *w = NULL;
    char *out_tsv = tsv_of(output), *tmp_tsv = out_tsv ? malloc(strlen(out_tsv) + 9) : NULL;
    FILE *tsv = NULL;
    if (!rc) {
        sprintf(tmp_tsv, "%s.partial", out_tsv);
        tsv = fopen(tmp_tsv, "w");
        if (!tsv || feat_npy_open(output, s[0].cols, &w, &err) != FEAT_OK) {
            fprintf(stderr, "feat: cannot write %s: %s\n", tsv ? output : tmp_tsv, err.msg);
            rc = 1;
        }
    }
    float *row = !rc ? malloc((s[0].cols ? s[0].cols : 1) * sizeof *row) : NULL;
    char *line = NULL;
    size_t cap = 0;
    if (!rc) {
        fprintf(tsv, "row\tstatus\tinput\tmessage\n");
        for (int i = 0; i < n && !rc; i++)
            if (getline(&line, &cap, s[i].tsv) < 0)
                rc = 1; /* header */
    }
    for (size_t k = 0; k < total && !rc; k++) {
        shard *sh = &s[k % (size_t)n];
        ssize_t len = getline(&line, &cap, sh->tsv);
        char *tab = len > 0 ? strchr(line, '\t') : NULL;
        if (!row || fread(row, sizeof *row, sh->cols, sh->npy) != sh->cols || !tab ||
            feat_npy_append(w, row, 1, &err) != FEAT_OK) {
            fprintf(stderr, "feat: shard %zu is shorter than its header says, or unreadable\n", k % (size_t)n);
            rc = 1;
            break;
        }
        if (strtoul(line, NULL, 10) != k) {
            fprintf(stderr, "feat: row %zu of the merge comes from a shard row numbered %lu: give the shards of one "
                            "run in order 0..N-1\n", k, strtoul(line, NULL, 10));
            rc = 1;
            break;
        }
        fputs(line, tsv);
    }
    if (!rc && fclose(tsv) == 0 && rename(tmp_tsv, out_tsv) == 0 && feat_npy_close(w, &err) == FEAT_OK) {
        fprintf(stderr, "feat: merged %zu rows from %d shards into %s\n", total, n, output);
    } else {
        if (w)
            feat_npy_abort(w);
        rc = 1;
    }
    for (int i = 0; i < n; i++) {
        if (s[i].npy)
            fclose(s[i].npy);
        if (s[i].tsv)
            fclose(s[i].tsv);
    }
    free(s);
    free(row);
    free(line);
    free(out_tsv);
    free(tmp_tsv);
    return rc;
}
