#include "cli.h"

#include "core/npy.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int strlist_push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int has_image_extension(const char *name)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif",
                                       ".webp", ".tif", ".tiff", ".bmp"};
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct visited {
    dev_t dev[256];
    ino_t ino[256];
    int n;
} visited;

static int error_line(strlist *errors, const char *path, const char *msg)
{
    char buf[4096 + 512];
    snprintf(buf, sizeof buf, "%s\t%s", path, msg);
    return strlist_push(errors, buf);
}

static int walk_dir(const char *dir, strlist *files, strlist *errors, visited *seen)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return error_line(errors, dir, strerror(errno));
    for (int i = 0; i < seen->n; i++)
        if (seen->dev[i] == st.st_dev && seen->ino[i] == st.st_ino)
            return error_line(errors, dir, "directory already visited (symlink loop), skipped");
    if (seen->n == 256)
        return error_line(errors, dir, "directories nested deeper than 256 levels, skipped");
    seen->dev[seen->n] = st.st_dev;
    seen->ino[seen->n] = st.st_ino;
    seen->n++;
    DIR *d = opendir(dir);
    if (!d) {
        seen->n--;
        return error_line(errors, dir, strerror(errno));
    }
    strlist names = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strlist_push(&names, e->d_name))
            rc = -1;
    closedir(d);
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names.v[i]) >= sizeof path) {
            rc = error_line(errors, names.v[i], "path too long, skipped");
            continue;
        }
        if (stat(path, &st) != 0) {
            /* A dangling link or a file we may not stat: report it if it looks like an image. */
            if (has_image_extension(names.v[i]))
                rc = strlist_push(files, path);
            continue;
        }
        if (S_ISDIR(st.st_mode))
            rc = walk_dir(path, files, errors, seen);
        else if (has_image_extension(names.v[i]))
            rc = strlist_push(files, path);
    }
    strlist_free(&names);
    seen->n--;
    return rc;
}

int walk_inputs(char **args, int n, strlist *files, strlist *errors)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            visited seen = {.n = 0};
            size_t len = strlen(args[i]);
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", (int)(len > 1 && args[i][len - 1] == '/' ? len - 1 : len), args[i]);
            if (walk_dir(dir, files, errors, &seen))
                return -1;
        } else if (strlist_push(files, args[i])) {
            return -1;
        }
    }
    return 0;
}

int read_lines(FILE *f, strlist *lines)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        /* Keep embedded NULs out of C strings: a line is cut at its first NUL byte, and the
         * tokenizer sees the same text through every API. */
        if (strlist_push(lines, line)) {
            free(line);
            return -1;
        }
    }
    free(line);
    return ferror(f) ? -1 : 0;
}

int parse_shard(const char *s, size_t *index, size_t *count)
{
    char *end;
    unsigned long i = strtoul(s, &end, 10);
    if (end == s || *end != '/')
        return -1;
    const char *c = end + 1;
    unsigned long n = strtoul(c, &end, 10);
    if (end == c || *end || n == 0 || i >= n || n > 1000000)
        return -1;
    *index = i;
    *count = n;
    return 0;
}

unsigned long parse_ulong(const char *opt, const char *val, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = val ? strtoul(val, &end, 10) : 0;
    if (!val || end == val || *end || errno || val[0] == '-' || v > max) {
        fprintf(stderr, "feat: %s expects an integer in 0..%lu, got '%s'\n", opt, max, val ? val : "");
        exit(2);
    }
    return v;
}

struct out_writer {
    feat_npy_writer *npy;
    FILE *tsv;
    char *tsv_path, *tsv_partial;
    size_t dim, row;
};

out_writer *out_open(const char *npy_path, size_t dim)
{
    out_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    feat_error err = {0};
    if (feat_npy_open(npy_path, dim, &w->npy, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        free(w);
        return NULL;
    }
    size_t n = strlen(npy_path);
    const char *stem_end = n > 4 && strcmp(npy_path + n - 4, ".npy") == 0 ? npy_path + n - 4 : npy_path + n;
    size_t stem = (size_t)(stem_end - npy_path);
    w->tsv_path = malloc(stem + sizeof ".rows.tsv");
    w->tsv_partial = malloc(stem + sizeof ".rows.tsv.partial");
    if (w->tsv_path && w->tsv_partial) {
        sprintf(w->tsv_path, "%.*s.rows.tsv", (int)stem, npy_path);
        sprintf(w->tsv_partial, "%s.partial", w->tsv_path);
        w->tsv = fopen(w->tsv_partial, "w");
    }
    if (!w->tsv) {
        fprintf(stderr, "feat: cannot write %s: %s\n", w->tsv_partial ? w->tsv_partial : npy_path, strerror(errno));
        feat_npy_abort(w->npy);
        free(w->tsv_path);
        free(w->tsv_partial);
        free(w);
        return NULL;
    }
    fprintf(w->tsv, "row\tstatus\tinput\tmessage\n");
    w->dim = dim;
    return w;
}

/* Tabs and newlines inside a field would break the table; they become spaces. */
static void put_field(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

int out_append(out_writer *w, const feat_result *r, char *const *inputs, size_t n)
{
    feat_error err = {0};
    if (feat_npy_append(w->npy, feat_result_data(r), n, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        feat_status st = feat_result_item_status(r, i);
        fprintf(w->tsv, "%zu\t%s\t", w->row++, st == FEAT_OK ? "ok" : feat_status_name(st));
        put_field(w->tsv, inputs[i]);
        fputc('\t', w->tsv);
        put_field(w->tsv, feat_result_item_error(r, i));
        fputc('\n', w->tsv);
    }
    return ferror(w->tsv) ? -1 : 0;
}

static void out_free(out_writer *w)
{
    free(w->tsv_path);
    free(w->tsv_partial);
    free(w);
}

int out_close(out_writer *w)
{
    feat_error err = {0};
    int rc = 0;
    if (fflush(w->tsv) != 0 || fsync(fileno(w->tsv)) != 0)
        rc = -1;
    if (fclose(w->tsv) != 0)
        rc = -1;
    if (rc)
        fprintf(stderr, "feat: cannot write %s: %s\n", w->tsv_partial, strerror(errno));
    if (feat_npy_close(w->npy, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        rc = -1;
    }
    if (rc == 0 && rename(w->tsv_partial, w->tsv_path) != 0) {
        fprintf(stderr, "feat: cannot rename %s: %s\n", w->tsv_partial, strerror(errno));
        rc = -1;
    }
    out_free(w);
    return rc;
}

void out_abort(out_writer *w)
{
    if (!w)
        return;
    feat_npy_abort(w->npy);
    fclose(w->tsv);
    remove(w->tsv_partial);
    out_free(w);
}

void progress(const char *what, size_t done, size_t total, size_t failed, int final)
{
    static struct timespec start, last;
    static int enabled = -1;
    if (enabled < 0) {
        const char *e = getenv("FEAT_PROGRESS");
        enabled = e ? strcmp(e, "0") != 0 : isatty(2);
        clock_gettime(CLOCK_MONOTONIC, &start);
        last = start;
    }
    if (!enabled)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double since = (double)(now.tv_sec - last.tv_sec) + (double)(now.tv_nsec - last.tv_nsec) * 1e-9;
    if (!final && since < 2.0)
        return;
    last = now;
    double el = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) * 1e-9;
    fprintf(stderr, "feat: %zu/%zu %s, %zu failed, %.1f/s%s", done, total, what, failed,
            el > 0 ? (double)done / el : 0.0, final ? "\n" : "\r");
}
