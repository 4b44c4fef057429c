/* SPDX-License-Identifier: MIT */
/* Durable output of `feat image` and `feat text`: parts, resume, final join (see cli.h). */
#include "cli.h"

#include "core/npy.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct out_writer {
    char *npy_path, *tsv_path, *parts_dir;
    char *joined_dir; /* parts_dir renamed once they are joined, then deleted */
    size_t dim, next_row, n_inputs;
    int files;                  /* the inputs are files: each part's table holds their stamps */
    strlist stamps;             /* the stamps of the part being extracted (out_begin_part) */
    const cli_columns *columns; /* written as columns_path at the join; NULL: none */
    char *columns_path;
    size_t shard_i, shard_n; /* the table's row column holds the input's index in the whole
                                list (row * shard_n + shard_i), which feat merge checks */
    /* -o -: the rows go to standard output as they come, the table to `table` (--rows FILE,
     * else standard error); there are no parts and nothing to resume */
    int stream;
    FILE *table;
    size_t stream_failed;
};

/* Tabs and newlines inside a field would break the table; they become spaces. */
static void sanitize(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = in[i] == '\t' || in[i] == '\n' || in[i] == '\r' ? ' ' : in[i];
    out[i] = '\0';
}

/* The table lines of r's n items, the next rows of w (row, status, input, message, and with
 * stamps the part's stamp column); returns how many items failed. */
static size_t table_rows(const out_writer *w, FILE *f, const feat_result *r, char *const *inputs, size_t n, int stamps)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        feat_status st = feat_result_item_status(r, i);
        char in[8192], msg[1024];
        sanitize(inputs[i], in, sizeof in);
        sanitize(feat_result_item_error(r, i), msg, sizeof msg);
        fprintf(f, "%zu\t%s\t%s\t%s", (w->next_row + i) * w->shard_n + w->shard_i,
                st == FEAT_OK ? "ok" : feat_status_name(st), in, msg);
        if (stamps)
            fprintf(f, "\t%s", i < w->stamps.n ? w->stamps.v[i] : "-");
        fputc('\n', f);
        failed += st != FEAT_OK;
    }
    return failed;
}

/* cli_close_synced for the temporary tmp of the file `name`; err says why, naming `name`. */
static int close_synced(FILE *f, const char *tmp, const char *name, feat_error *err)
{
    int bad = cli_close_synced(f, tmp);
    if (bad)
        feat_error_set(err, FEAT_E_IO, "cannot write %s: %s", name, strerror(bad));
    return bad ? -1 : 0;
}

static int rename_into_place(const char *from, const char *to, feat_error *err)
{
    if (rename(from, to) == 0)
        return 0;
    feat_error_set(err, FEAT_E_IO, "cannot rename %s to %s: %s", from, to, strerror(errno));
    remove(from);
    return -1;
}

static void sync_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        fsync(dirfd(d));
        closedir(d);
    }
}

static void writer_free(out_writer *w)
{
    if (w->table && w->table != stderr)
        fclose(w->table);
    free(w->npy_path);
    free(w->tsv_path);
    free(w->parts_dir);
    free(w->joined_dir);
    free(w->columns_path);
    strlist_free(&w->stamps);
    free(w);
}

/* Removes a directory of parts and everything in it (temporaries of killed runs included). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(dir);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Complete parts (those whose .npy exists), sorted by first row. */
static int list_parts(const char *dir, strlist *parts)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n == 18 && strncmp(e->d_name, "part-", 5) == 0 && strcmp(e->d_name + 14, ".npy") == 0)
            if (strlist_push(parts, e->d_name)) {
                closedir(d);
                return -1;
            }
    }
    closedir(d);
    qsort(parts->v, parts->n, sizeof *parts->v, cmp_str);
    return 0;
}

/* What a part's table keeps of an input file to see at --resume whether it changed: its size
 * and modification time (what make and rsync compare), or "-" when it cannot be stat'd. */
static void file_stamp(const char *path, char *out, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%lld %lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                 (long)st.st_mtim.tv_nsec);
}

#define PART_HEADER "row\tstatus\tinput\tmessage\tstamp\n" /* the stamp column is dropped at the join */

/* Checks the table of one part of an earlier run against rows [row, row + rows) of the inputs:
 * row numbers, input names and, for files, stamps. Returns 0, or -1 with *why set when an input
 * file changed. */
static int check_table(const out_writer *w, FILE *f, size_t row, size_t rows, char *const *inputs, char *why,
                       size_t cap)
{
    char *line = NULL;
    size_t lcap = 0, k = 0;
    ssize_t len = getline(&line, &lcap, f);
    int bad = len < 0 || strcmp(line, PART_HEADER) != 0;
    while (!bad && (len = getline(&line, &lcap, f)) > 0) {
        char *fields[5] = {line, NULL, NULL, NULL, NULL};
        for (int j = 1; j < 5; j++) {
            char *t = fields[j - 1] ? strchr(fields[j - 1], '\t') : NULL;
            if (t) {
                *t = '\0';
                fields[j] = t + 1;
            }
        }
        char want[8192], stamp[64];
        if (k < rows)
            sanitize(inputs[row + k], want, sizeof want);
        bad = k >= rows || !fields[4] || strtoul(fields[0], NULL, 10) != (row + k) * w->shard_n + w->shard_i ||
              strcmp(fields[2], want) != 0;
        if (!bad)
            fields[4][strcspn(fields[4], "\n")] = '\0';
        if (!bad && w->files) {
            file_stamp(inputs[row + k], stamp, sizeof stamp);
            if (strcmp(stamp, fields[4]) != 0) {
                snprintf(why, cap,
                         "input %s changed since the part was written (size and modification time %s, now %s)", want,
                         fields[4], stamp);
                bad = 1;
            }
        }
        k++;
    }
    free(line);
    return bad || k != rows ? -1 : 0;
}

/* Checks one part of an earlier run: its rows start at `row`, its width is dim and its
 * inputs are the ones we were given. Returns its row count, or (size_t)-1 (*why says why when
 * an input changed). */
static size_t check_part(const out_writer *w, const char *name, size_t row, char *const *inputs, char *why, size_t cap)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", w->parts_dir, name);
    if ((size_t)strtoul(name + 5, NULL, 10) != row)
        return (size_t)-1;
    FILE *f = fopen(path, "rb");
    size_t rows = 0, cols = 0;
    feat_error err = {0};
    int ok = f && feat_npy_read_header(f, &rows, &cols, &err) == FEAT_OK && cols == w->dim && row + rows <= w->n_inputs;
    if (f)
        fclose(f);
    if (!ok)
        return (size_t)-1;
    snprintf(path + strlen(path) - 4, 16, ".rows.tsv");
    f = fopen(path, "r");
    if (!f)
        return (size_t)-1;
    int bad = check_table(w, f, row, rows, inputs, why, cap);
    fclose(f);
    return bad ? (size_t)-1 : rows;
}

/* Checks the parts left in parts_dir by an earlier run and counts their rows into
 * w->next_row; returns -1 after saying why they cannot be continued (or, without resume, that
 * they are there). */
static int check_parts(out_writer *w, const strlist *parts, char *const *inputs, int resume)
{
    size_t checked = 0;
    char why[9000] = "";
    for (; checked < parts->n; checked++) {
        size_t rows = check_part(w, parts->v[checked], w->next_row, inputs, why, sizeof why);
        if (rows == (size_t)-1)
            break;
        w->next_row += rows;
    }
    struct stat st;
    if (parts->n && !resume && checked == parts->n && w->next_row == w->n_inputs && stat(w->npy_path, &st) == 0)
        fprintf(stderr,
                "feat: %s holds the complete parts of a run killed while it finished %s: rerun with --resume "
                "to finish it, or remove %s\n",
                w->parts_dir, w->npy_path, w->parts_dir);
    else if (parts->n && !resume)
        fprintf(stderr, "feat: %s holds the parts of an interrupted run: rerun with --resume to go on, or remove it\n",
                w->parts_dir);
    else if (checked < parts->n)
        fprintf(stderr,
                "feat: %s/%s does not continue the earlier parts with these inputs and settings%s%s: remove %s "
                "to start over\n",
                w->parts_dir, parts->v[checked], why[0] ? ": " : "", why, w->parts_dir);
    else
        return 0;
    return -1;
}

static out_writer *stream_open(size_t dim, size_t n_inputs, size_t shard_i, size_t shard_n, int resume,
                               const char *rows_path, size_t *first_todo);

out_writer *out_open(const char *npy_path, size_t dim, char *const *inputs, size_t n_inputs, int files, size_t shard_i,
                     size_t shard_n, int resume, const char *rows_path, size_t *first_todo)
{
    if (strcmp(npy_path, "-") == 0)
        return stream_open(dim, n_inputs, shard_i, shard_n, resume, rows_path, first_todo);
    if (rows_path) {
        fprintf(stderr, "feat: --rows is for -o - (the table of -o %s is written next to it)\n", npy_path);
        return NULL;
    }
    out_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->shard_i = shard_i;
    w->shard_n = shard_n;
    w->n_inputs = n_inputs;
    w->files = files;
    size_t n = strlen(npy_path);
    int has_ext = n > 4 && strcmp(npy_path + n - 4, ".npy") == 0;
    char *stem = strdup(npy_path);
    if (stem && has_ext)
        stem[n - 4] = '\0';
    w->npy_path = strdup(npy_path);
    w->tsv_path = stem ? cli_concat(stem, ".rows.tsv") : NULL;
    w->parts_dir = stem ? cli_concat(stem, ".parts") : NULL;
    w->joined_dir = stem ? cli_concat(stem, ".parts.joined") : NULL;
    w->columns_path = cli_sibling_path(npy_path, ".columns.tsv");
    free(stem);
    w->dim = dim;
    if (!w->npy_path || !w->tsv_path || !w->parts_dir || !w->joined_dir || !w->columns_path) {
        writer_free(w);
        return NULL;
    }
    strlist parts = {0};
    if (list_parts(w->parts_dir, &parts)) {
        fprintf(stderr, "feat: cannot read %s: %s\n", w->parts_dir, strerror(errno));
        writer_free(w);
        return NULL;
    }
    remove_dir(w->joined_dir); /* left by a run killed after it finished its output */
    int bad = check_parts(w, &parts, inputs, resume);
    strlist_free(&parts);
    if (!bad && mkdir(w->parts_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "feat: cannot create %s: %s\n", w->parts_dir, strerror(errno));
        bad = 1;
    }
    if (bad) {
        writer_free(w);
        return NULL;
    }
    *first_todo = w->next_row;
    return w;
}

void out_set_columns(out_writer *w, const cli_columns *columns) { w->columns = columns; }

int out_begin_part(out_writer *w, char *const *inputs, size_t n)
{
    strlist_free(&w->stamps);
    if (w->stream)
        return 0; /* no parts: nothing to check a resume against */
    for (size_t i = 0; w->files && i < n; i++) {
        char stamp[64];
        file_stamp(inputs[i], stamp, sizeof stamp);
        if (strlist_push(&w->stamps, stamp)) {
            fprintf(stderr, "feat: out of memory\n");
            return -1;
        }
    }
    return 0;
}

static int stream_append(out_writer *w, const feat_result *r, const float *rows, char *const *inputs, size_t n);

int out_append(out_writer *w, const feat_result *r, const float *rows, char *const *inputs, size_t n)
{
    if (w->stream)
        return stream_append(w, r, rows, inputs, n);
    char base[8192], tmp[8300], table[8300], final[8300];
    snprintf(base, sizeof base, "%s/part-%09zu", w->parts_dir, w->next_row);
    /* The table first: a part counts as complete only once its .npy exists. */
    snprintf(tmp, sizeof tmp, "%s.rows.tsv.partial", base);
    snprintf(table, sizeof table, "%s.rows.tsv", base);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "feat: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, PART_HEADER);
    table_rows(w, f, r, inputs, n, 1);
    feat_error err = {0};
    if (close_synced(f, tmp, table, &err) || rename_into_place(tmp, table, &err)) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return -1;
    }
    snprintf(final, sizeof final, "%s.npy", base);
    feat_npy_writer *npy;
    feat_status st = feat_npy_open(final, w->dim, &npy, &err);
    if (st == FEAT_OK && (st = feat_npy_append(npy, rows ? rows : feat_result_data(r), n, &err)) != FEAT_OK)
        feat_npy_abort(npy);
    else if (st == FEAT_OK)
        st = feat_npy_close(npy, &err);
    if (st != FEAT_OK) {
        remove(table); /* a table without its .npy is never read; it only takes space */
        fprintf(stderr, "feat: %s\n", err.msg);
        return -1;
    }
    sync_dir(w->parts_dir);
    w->next_row += n;
    return 0;
}

/* Appends part `name` (its .npy rows to npy, its table rows without their stamps to tsv),
 * counting rows and failed rows; buf holds one row. Returns -1 with err set when the part
 * cannot be read or the output written. */
static int append_part(out_writer *w, const char *name, feat_npy_writer *npy, FILE *tsv, float *buf, char **line,
                       size_t *cap, size_t *n_rows, size_t *n_failed, feat_error *err)
{
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", w->parts_dir, name);
    if ((size_t)strtoul(name + 5, NULL, 10) != *n_rows) { /* a part went missing during the run */
        feat_error_set(err, FEAT_E_IO, "%s does not start at row %zu: the parts before it are missing", path, *n_rows);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    size_t rows = 0, cols;
    int rc = 0;
    if (!f || feat_npy_read_header(f, &rows, &cols, err) != FEAT_OK) {
        rc = -1;
    } else {
        /* The header reader stops at the end of the header: the data follows. */
        for (size_t k = 0; k < rows && rc == 0; k++)
            if (fread(buf, sizeof(float), w->dim, f) != w->dim || feat_npy_append(npy, buf, 1, err) != FEAT_OK)
                rc = -1;
    }
    if (f)
        fclose(f);
    snprintf(path + strlen(path) - 4, 16, ".rows.tsv");
    f = fopen(path, "r");
    if (!f || getline(line, cap, f) < 0)
        rc = -1;
    ssize_t len;
    size_t got = 0;
    while (rc == 0 && (len = getline(line, cap, f)) > 0) {
        char *stamp = strrchr(*line, '\t');
        if (stamp)
            memcpy(stamp, "\n", 2);
        fputs(*line, tsv);
        const char *status = strchr(*line, '\t');
        got++;
        *n_failed += !status || strncmp(status + 1, "ok\t", 3) != 0;
    }
    if (f)
        fclose(f);
    *n_rows += got;
    if (rc == 0 && got != rows)
        rc = -1;
    if (rc && !err->msg[0])
        feat_error_set(err, FEAT_E_IO, "cannot read the part %s", path);
    return rc;
}

/* Everything is written and synced under temporary names before anything is renamed, and the
 * old OUT.npy goes first: at every moment an OUT.npy in place is complete and the OUT.rows.tsv
 * and OUT.columns.tsv beside it are its own; a run that fails or is killed before leaves the
 * previous output as it was. Returns -1 with err set. */
static int put_in_place(out_writer *w, feat_npy_writer *npy, FILE *tsv, const char *tsv_tmp, feat_error *err)
{
    int rc = feat_npy_sync(npy, err) != FEAT_OK ? -1 : 0;
    if (rc) {
        fclose(tsv);
        remove(tsv_tmp);
    } else {
        rc = close_synced(tsv, tsv_tmp, w->tsv_path, err);
    }
    if (rc == 0 && remove(w->npy_path) != 0 && errno != ENOENT) {
        feat_error_set(err, FEAT_E_IO, "cannot replace %s: %s", w->npy_path, strerror(errno));
        remove(tsv_tmp);
        rc = -1;
    }
    if (rc == 0)
        rc = rename_into_place(tsv_tmp, w->tsv_path, err);
    if (rc == 0 && w->columns && cli_columns_write(w->columns, w->columns_path)) {
        feat_error_set(err, FEAT_E_IO, "cannot write %s", w->columns_path);
        rc = -1;
    }
    if (rc) {
        feat_npy_abort(npy);
        return -1;
    }
    return feat_npy_close(npy, err) == FEAT_OK ? 0 : -1;
}

static int join_parts(out_writer *w, size_t *n_rows, size_t *n_failed)
{
    *n_rows = *n_failed = 0;
    feat_error err = {0};
    strlist parts = {0};
    feat_npy_writer *npy = NULL;
    char *tsv_tmp = cli_concat(w->tsv_path, ".partial");
    FILE *tsv = NULL;
    int rc = -1;
    if (!tsv_tmp || list_parts(w->parts_dir, &parts))
        feat_error_set(&err, FEAT_E_IO, "cannot read %s: %s", w->parts_dir, strerror(errno));
    else if (feat_npy_open(w->npy_path, w->dim, &npy, &err) != FEAT_OK)
        npy = NULL;
    else if (!(tsv = fopen(tsv_tmp, "w")))
        feat_error_set(&err, FEAT_E_IO, "cannot write %s: %s", tsv_tmp, strerror(errno));
    else
        rc = 0;
    if (tsv)
        fputs("row\tstatus\tinput\tmessage\n", tsv);
    float *buf = rc ? NULL : malloc((w->dim ? w->dim : 1) * sizeof *buf);
    char *line = NULL;
    size_t cap = 0;
    if (rc == 0 && !buf) {
        feat_error_set(&err, FEAT_E_NOMEM, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; i < parts.n && rc == 0; i++)
        rc = append_part(w, parts.v[i], npy, tsv, buf, &line, &cap, n_rows, n_failed, &err);
    if (rc == 0 && *n_rows != w->n_inputs) {
        feat_error_set(&err, FEAT_E_IO, "the parts hold %zu rows of %zu: some went missing", *n_rows, w->n_inputs);
        rc = -1;
    }
    free(line);
    free(buf);
    if (rc == 0) {
        rc = put_in_place(w, npy, tsv, tsv_tmp, &err);
    } else {
        if (tsv) {
            fclose(tsv);
            remove(tsv_tmp);
        }
        feat_npy_abort(npy);
    }
    if (rc)
        fprintf(stderr, "feat: cannot join the parts in %s into %s: %s\n", w->parts_dir, w->npy_path, err.msg);
    free(tsv_tmp);
    if (rc == 0) {
        /* One rename takes the parts out of resume's sight, so a run killed while deleting
         * them never leaves a half-deleted set that --resume would reject; out_open removes
         * what such a run left under the new name. */
        if (rename(w->parts_dir, w->joined_dir) == 0)
            remove_dir(w->joined_dir);
        else
            remove_dir(w->parts_dir);
    }
    strlist_free(&parts);
    return rc;
}

static int stream_finish(out_writer *w, size_t *n_rows, size_t *n_failed);

int out_finish(out_writer *w, size_t *n_rows, size_t *n_failed)
{
    int rc = w->stream ? stream_finish(w, n_rows, n_failed) : join_parts(w, n_rows, n_failed);
    writer_free(w);
    return rc;
}

void out_suspend(out_writer *w)
{
    if (w)
        writer_free(w);
}

/* ---- -o -: the rows to standard output ------------------------------------------------
 * The row count is known before the first row (the inputs are listed or read first), so the
 * header goes out first and each part's rows follow as they are extracted: a consumer reads
 * the .npy as it grows. A run that stops early leaves a short stream: its exit status says
 * so, and the table (--rows FILE, else standard error) lists the rows that were written. */

static out_writer *stream_open(size_t dim, size_t n_inputs, size_t shard_i, size_t shard_n, int resume,
                               const char *rows_path, size_t *first_todo)
{
    if (resume) {
        fprintf(stderr, "feat: --resume needs an output file: -o - streams the rows to standard output and "
                        "keeps no parts\n");
        return NULL;
    }
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "feat: -o - writes a binary .npy to standard output, which is a terminal: redirect it "
                        "to a file or a pipe\n");
        return NULL;
    }
    out_writer *w = calloc(1, sizeof *w);
    if (!w) {
        fprintf(stderr, "feat: out of memory\n");
        return NULL;
    }
    w->stream = 1;
    w->dim = dim;
    w->n_inputs = n_inputs;
    w->shard_i = shard_i;
    w->shard_n = shard_n;
    w->table = rows_path ? fopen(rows_path, "w") : stderr;
    if (!w->table) {
        fprintf(stderr, "feat: cannot write %s: %s\n", rows_path, strerror(errno));
        writer_free(w);
        return NULL;
    }
    /* the column map next to the table: T.rows.tsv -> T.columns.tsv, else T.columns.tsv */
    size_t len = rows_path ? strlen(rows_path) : 0, tail = sizeof ".rows.tsv" - 1;
    char *stem = rows_path ? strdup(rows_path) : NULL;
    if (stem && len > tail && strcmp(stem + len - tail, ".rows.tsv") == 0)
        stem[len - tail] = '\0';
    w->columns_path = stem ? cli_concat(stem, ".columns.tsv") : NULL;
    free(stem);
    if (rows_path && !w->columns_path) {
        fprintf(stderr, "feat: out of memory\n");
        writer_free(w);
        return NULL;
    }
    feat_error err = {0};
    if (fputs("row\tstatus\tinput\tmessage\n", w->table) < 0 ||
        feat_npy_write_stream_header(stdout, n_inputs, dim, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg[0] ? err.msg : "cannot write the rows table");
        writer_free(w);
        return NULL;
    }
    *first_todo = 0;
    return w;
}

static int stream_append(out_writer *w, const feat_result *r, const float *rows, char *const *inputs, size_t n)
{
    const float *data = rows ? rows : feat_result_data(r);
    if (n && fwrite(data, sizeof *data * w->dim, n, stdout) != n) {
        fprintf(stderr, "feat: cannot write the rows to standard output: %s\n", strerror(errno));
        return -1;
    }
    w->stream_failed += table_rows(w, w->table, r, inputs, n, 0);
    w->next_row += n;
    return 0;
}

static int stream_finish(out_writer *w, size_t *n_rows, size_t *n_failed)
{
    *n_rows = w->next_row;
    *n_failed = w->stream_failed;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "feat: cannot write the rows to standard output: %s\n", strerror(errno ? errno : EIO));
        return -1;
    }
    if (fflush(w->table) != 0 || ferror(w->table)) {
        fprintf(stderr, "feat: cannot write the rows table: %s\n", strerror(errno ? errno : EIO));
        return -1;
    }
    if (w->columns && w->columns_path && cli_columns_write(w->columns, w->columns_path))
        return -1;
    return 0;
}
