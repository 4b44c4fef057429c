/* SPDX-License-Identifier: MIT */
#include "core/npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fixed header size: magic(6) + version(2) + len(2) + dict padded with spaces and '\n'.
 * 128 bytes hold two 20-digit dimensions and keep the data 64-byte aligned. */
#define NPY_HEADER_SIZE 128

struct feat_npy_writer {
    FILE *f;
    char *path;
    char *partial;
    size_t cols; /* floats per row: the product of inner */
    size_t inner[4];
    size_t n_inner;
    size_t rows;
    int write_errno; /* why an earlier append failed: the stream's error flag stays set */
};

/* The header of a (rows, inner...) float32 array, NPY_HEADER_SIZE bytes; -1 if it does not fit. */
static int format_header(char *hdr, size_t rows, const size_t *inner, size_t n_inner)
{
    memset(hdr, ' ', NPY_HEADER_SIZE);
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    unsigned dict_len = NPY_HEADER_SIZE - 10;
    hdr[8] = (char)(dict_len & 0xff);
    hdr[9] = (char)(dict_len >> 8);
    char shape[NPY_HEADER_SIZE];
    int used = snprintf(shape, sizeof shape, "%zu,", rows);
    for (size_t i = 0; i < n_inner && used > 0 && (size_t)used < sizeof shape; i++)
        used += snprintf(shape + used, sizeof shape - (size_t)used, " %zu,", inner[i]);
    if (used < 0 || (size_t)used >= sizeof shape)
        return -1;
    if (n_inner)
        shape[used - 1] = '\0'; /* (r, c) rather than (r, c,) */
    char dict[NPY_HEADER_SIZE];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
    if (n < 0 || (size_t)n >= dict_len)
        return -1;
    memcpy(hdr + 10, dict, (size_t)n);
    hdr[NPY_HEADER_SIZE - 1] = '\n';
    return 0;
}

static int write_header(FILE *f, size_t rows, const size_t *inner, size_t n_inner)
{
    char hdr[NPY_HEADER_SIZE];
    if (format_header(hdr, rows, inner, n_inner) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return -1;
    return fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr ? 0 : -1;
}

feat_status feat_npy_write_stream_header(FILE *f, size_t rows, size_t cols, feat_error *err)
{
    char hdr[NPY_HEADER_SIZE];
    if (format_header(hdr, rows, &cols, 1) != 0)
        return feat_error_set(err, FEAT_E_LIMIT, ".npy header: shape (%zu, %zu) does not fit", rows, cols);
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr)
        return feat_error_set(err, FEAT_E_IO, "cannot write the .npy header: %s", strerror(errno));
    return FEAT_OK;
}

feat_status feat_npy_open(const char *path, size_t cols, feat_npy_writer **out, feat_error *err)
{
    return feat_npy_open_shape(path, &cols, 1, out, err);
}

feat_status feat_npy_open_shape(const char *path, const size_t *inner, size_t n_inner, feat_npy_writer **out,
                                feat_error *err)
{
    *out = NULL;
    if (n_inner > 4)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, ".npy rows of rank %zu (at most 4)", n_inner);
    feat_npy_writer *w = calloc(1, sizeof *w);
    size_t len = strlen(path);
    if (w) {
        w->path = strdup(path);
        w->partial = malloc(len + sizeof ".partial");
    }
    if (!w || !w->path || !w->partial) {
        if (w) {
            free(w->path);
            free(w->partial);
        }
        free(w);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory opening %s", path);
    }
    memcpy(w->partial, path, len);
    memcpy(w->partial + len, ".partial", sizeof ".partial");
    w->cols = 1;
    w->n_inner = n_inner;
    for (size_t i = 0; i < n_inner; i++) {
        w->inner[i] = inner[i];
        w->cols *= inner[i];
    }
    w->f = fopen(w->partial, "wb");
    if (!w->f || write_header(w->f, 0, w->inner, w->n_inner) != 0) {
        int e = errno;
        if (w->f) {
            fclose(w->f);
            remove(w->partial);
        }
        free(w->path);
        free(w->partial);
        free(w);
        return feat_error_set(err, FEAT_E_IO, "cannot write %s: %s", path, strerror(e));
    }
    *out = w;
    return FEAT_OK;
}

feat_status feat_npy_append(feat_npy_writer *w, const float *rows, size_t n_rows, feat_error *err)
{
    if (n_rows && fwrite(rows, sizeof(float) * w->cols, n_rows, w->f) != n_rows) {
        w->write_errno = errno;
        return feat_error_set(err, FEAT_E_IO, "cannot write %s: %s", w->partial, strerror(errno));
    }
    w->rows += n_rows;
    return FEAT_OK;
}

size_t feat_npy_rows(const feat_npy_writer *w) { return w ? w->rows : 0; }

static void writer_free(feat_npy_writer *w)
{
    free(w->path);
    free(w->partial);
    free(w);
}

feat_status feat_npy_sync(feat_npy_writer *w, feat_error *err)
{
    /* A failed buffered write may show only in the stream's error flag (a later fflush of what
     * is left can succeed), so a file with a failed append is never finished. */
    if (ferror(w->f))
        return feat_error_set(err, FEAT_E_IO, "cannot write %s: %s", w->partial,
                              strerror(w->write_errno ? w->write_errno : EIO));
    if (write_header(w->f, w->rows, w->inner, w->n_inner) != 0 || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        return feat_error_set(err, FEAT_E_IO, "cannot write %s: %s", w->partial, strerror(errno));
    return FEAT_OK;
}

feat_status feat_npy_close(feat_npy_writer *w, feat_error *err)
{
    feat_status st = feat_npy_sync(w, err);
    if (fclose(w->f) != 0 && st == FEAT_OK)
        st = feat_error_set(err, FEAT_E_IO, "cannot close %s: %s", w->partial, strerror(errno));
    if (st == FEAT_OK && rename(w->partial, w->path) != 0)
        st = feat_error_set(err, FEAT_E_IO, "cannot rename %s to %s: %s", w->partial, w->path, strerror(errno));
    if (st != FEAT_OK)
        remove(w->partial);
    writer_free(w);
    return st;
}

void feat_npy_abort(feat_npy_writer *w)
{
    if (!w)
        return;
    fclose(w->f);
    remove(w->partial);
    writer_free(w);
}

/* Rows or columns beyond this are a damaged header, not a file (2^40 float32 rows is 4 TiB). */
#define NPY_MAX_DIM (1ull << 40)

feat_status feat_npy_read_header(FILE *f, size_t *rows, size_t *cols, feat_error *err)
{
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return feat_error_set(err, FEAT_E_DECODE, "not a .npy file");
    size_t hlen;
    size_t skip = 10;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2)
            return feat_error_set(err, FEAT_E_DECODE, "truncated .npy header");
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)b[0] << 16) | ((size_t)b[1] << 24);
        skip = 12;
    } else {
        return feat_error_set(err, FEAT_E_UNSUPPORTED, ".npy version %u not supported", pre[6]);
    }
    if (hlen == 0 || hlen > 65536)
        return feat_error_set(err, FEAT_E_DECODE, ".npy header of %zu bytes is implausible", hlen);
    char *h = malloc(hlen + 1);
    if (!h)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory reading a .npy header");
    if (fread(h, 1, hlen, f) != hlen) {
        free(h);
        return feat_error_set(err, FEAT_E_DECODE, "truncated .npy header");
    }
    h[hlen] = '\0';
    (void)skip;
    feat_status st = FEAT_OK;
    const char *shape = strstr(h, "'shape':");
    unsigned long long r = 0, c = 0;
    if (!strstr(h, "'descr': '<f4'") || !strstr(h, "'fortran_order': False"))
        st = feat_error_set(err, FEAT_E_UNSUPPORTED, ".npy file is not C-ordered little-endian float32");
    else if (!shape || sscanf(shape, "'shape': (%llu, %llu)", &r, &c) != 2)
        st = feat_error_set(err, FEAT_E_UNSUPPORTED, ".npy file is not 2-D");
    else if (strchr(shape, '-') && strchr(shape, '-') < strchr(shape, ')'))
        st = feat_error_set(err, FEAT_E_DECODE, ".npy shape is negative"); /* %llu would wrap it */
    else if (r > NPY_MAX_DIM || c > NPY_MAX_DIM || (c && r > SIZE_MAX / sizeof(float) / c))
        st = feat_error_set(err, FEAT_E_LIMIT, ".npy shape (%llu, %llu) is implausibly large", r, c);
    free(h);
    if (st == FEAT_OK) {
        *rows = (size_t)r;
        *cols = (size_t)c;
    }
    return st;
}
