/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *cli_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

int cli_close_synced(FILE *f, const char *tmp)
{
    int bad = ferror(f) ? (errno ? errno : EIO) : 0;
    if (!bad && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        bad = errno;
    if (fclose(f) != 0 && !bad)
        bad = errno;
    if (bad)
        remove(tmp);
    return bad;
}

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
    static const char *const exts[] = {".jpg", ".jpeg", ".jpe", ".jfif", ".png",
                                       ".gif", ".webp", ".tif", ".tiff", ".bmp"};
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

ssize_t read_line(FILE *f, char **line, size_t *cap)
{
    ssize_t len = getline(line, cap, f);
    if (len > 0 && (*line)[len - 1] == '\n')
        (*line)[--len] = '\0';
    if (len > 0 && (*line)[len - 1] == '\r')
        (*line)[--len] = '\0';
    return len;
}

int read_lines(FILE *f, strlist *lines)
{
    char *line = NULL;
    size_t cap = 0;
    while (read_line(f, &line, &cap) >= 0) {
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

int strlist_take_shard(strlist *all, size_t index, size_t n, strlist *shard)
{
    int rc = 0;
    for (size_t i = index; i < all->n && rc == 0; i += n)
        rc = strlist_push(shard, all->v[i]);
    strlist_free(all);
    return rc;
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
