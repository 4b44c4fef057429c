/* SPDX-License-Identifier: MIT */
/* Streaming writer of 2-D float32 .npy files (NumPy format 1.0).
 *
 * The row count is unknown until the end, so the header is written with room to spare and
 * rewritten at close. Data goes to "PATH.partial" and is renamed to PATH only after a
 * successful close, so a killed run never leaves a truncated file under the final name. */
#ifndef FEAT_CORE_NPY_H
#define FEAT_CORE_NPY_H

#include "core/error.h"

#include <stdio.h>

typedef struct feat_npy_writer feat_npy_writer;

/* Rows of `cols` floats: a 2-D (rows, cols) array. */
feat_status feat_npy_open(const char *path, size_t cols, feat_npy_writer **out, feat_error *err);
/* Rows shaped `inner` (n_inner <= 4 dims): an (rows, inner...) array. */
feat_status feat_npy_open_shape(const char *path, const size_t *inner, size_t n_inner, feat_npy_writer **out,
                                feat_error *err);
feat_status feat_npy_append(feat_npy_writer *w, const float *rows, size_t n_rows, feat_error *err);
/* Writes the final header and flushes the rows to disk, still under PATH.partial (the writer
 * stays open): a caller that puts several files into place syncs all of them before renaming
 * any (the CLI's join). */
feat_status feat_npy_sync(feat_npy_writer *w, feat_error *err);
/* Finalizes the header, flushes to disk and renames into place; frees w in every case (on
 * failure PATH.partial is removed and PATH is left as it was). */
feat_status feat_npy_close(feat_npy_writer *w, feat_error *err);
/* Abandons the output: removes the partial file and frees w. NULL is a no-op. */
void feat_npy_abort(feat_npy_writer *w);
size_t feat_npy_rows(const feat_npy_writer *w);

/* Writes the header of a (rows, cols) array at f's current position, for a stream that cannot
 * seek back (the CLI's -o -, standard output): the row count must be known first; the rows
 * follow as rows * cols little-endian float32 values. */
feat_status feat_npy_write_stream_header(FILE *f, size_t rows, size_t cols, feat_error *err);

/* Reads the shape of a 2-D little-endian float32 .npy file and leaves *f positioned at the
 * first data byte. For resuming and merging outputs. */
feat_status feat_npy_read_header(FILE *f, size_t *rows, size_t *cols, feat_error *err);

#endif
