/* SPDX-License-Identifier: MIT */
/* Helpers shared by the extractor tests, which run lib/extract on the test backend
 * (shim/shim_test.c, docs/testing.md): a scratch folder for model files and inputs, the
 * backend's documented output formula, bit-exact row checks and threads. */
#ifndef FEAT_TEST_EXTRACT_UTIL_H
#define FEAT_TEST_EXTRACT_UTIL_H

#include "feat/result.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Path of NAME in the test's scratch folder (made on first use, removed by tu_cleanup). */
void tu_path(char out[PATH_MAX], const char *name);
/* Writes n bytes (n == (size_t)-1: a NUL-terminated string) to NAME in the scratch folder. */
void tu_write(const char *name, const void *data, size_t n);
/* Writes NAME.pt (a test model file) and, when sidecar is not NULL, its side-car NAME.json. */
void tu_write_model(const char *name, const char *model, const char *sidecar);
/* Writes NAME.pt as model followed by the directive line extra (with its side-car when not
 * NULL) and puts its path in out. */
void tu_write_variant(char out[PATH_MAX], const char *name, const char *model, const char *extra, const char *sidecar);
/* Removes the scratch folder and what the tests wrote there. */
void tu_cleanup(void);

/* Element e of tap t for an item whose input key is key, as docs/testing.md defines it. */
float tu_value(double key, size_t tap, size_t e);
/* v rounded to the nearest bfloat16, ties to even. */
float tu_bf16(float v);
/* 1 when the n floats of a and b have the same bits; prints the first difference otherwise. */
int tu_same_bits(const char *what, size_t row, const float *a, const float *b, size_t n);

/* Runs fn(&args[i * size]) on n threads at once and waits for them. */
void tu_run_threads(size_t n, void *(*fn)(void *), void *args, size_t size);

/* The extractor a test drives and the items it knows the rows of. */
typedef struct tu_kind {
    int text;                  /* 0: a feat_image_extractor given files; 1: a feat_text_extractor */
    const char *const *inputs; /* the standard items: image paths or texts */
    size_t n_items, dim;
    const float *expect; /* n_items x dim: the rows the backend's formula gives */
    /* A loaded extractor of the test's options with `batch` items a batch (never NULL; a
     * failed load is the test's failure and gives an empty extractor). */
    void *(*open)(const char *model, uint32_t batch);
} tu_kind;

/* One item expected to fail: its row, status and a part of its message. */
typedef struct tu_failure {
    size_t row;
    feat_status status;
    const char *msg;
} tu_failure;

/* Extracts inputs[order[k]] for k < n (order NULL: the standard items in order). */
feat_status tu_extract(const tu_kind *k, void *ex, const size_t *order, size_t n, feat_result **out);
const char *tu_last_error(const tu_kind *k, const void *ex);
void tu_free(const tu_kind *k, void *ex);

/* Row `row` of r is FEAT_OK with want's bits. */
int tu_row_ok(const tu_kind *k, const char *what, const feat_result *r, size_t row, const float *want);
/* Row `row` of r failed with status want, a message containing msg_part, and all NaN. */
int tu_row_failed(const feat_result *r, size_t row, feat_status want, const char *msg_part);
/* tu_extract succeeds and every row is the expected one of its item. */
int tu_extract_ok(const tu_kind *k, const char *what, void *ex, const size_t *order, size_t n);

/* One load on an extractor: model and vocabulary (text; NULL: the side-car's) by their
 * names in the scratch folder, the tap spec, the status wanted and a part of the message
 * (NULL: not checked). */
typedef struct tu_load_case {
    const char *model, *vocab, *taps;
    feat_status want;
    const char *msg;
} tu_load_case;

/* A new extractor without a model. */
void *tu_new(const tu_kind *k);
/* Runs the n loads on ex in turn: 1 when each gives its status and message, and each that
 * failed, but for FEAT_E_STATE (refused: the model loaded before stays), left ex without a
 * model. */
int tu_loads_ok(const tu_kind *k, void *ex, const tu_load_case *cases, size_t n);

/* On one new extractor: an extract call before any load (FEAT_E_STATE); loads that fail
 * for either kind (no file, not a test model, a warm-up run that fails: model_text with
 * fail_batch 1), then the n cases of the test, which must all fail; then m.pt (the test's
 * model) with taps, whose rows are exact; then a second load, refused. 1 when all holds. */
int tu_failed_loads_ok(const tu_kind *k, const char *model_text, const char *sidecar, const char *taps,
                       const tu_load_case *cases, size_t n);

/* With thread budgets 1 and 3, an extractor of model extracts list (n inputs): 1 when the
 * rows in fails failed as said and every other row r is exact for item item_of[r]. */
int tu_mixed_ok(const tu_kind *k, const char *model, uint32_t batch, const char *const *list, size_t n,
                const size_t *item_of, const tu_failure *fails, size_t n_fails);
/* With thread budgets 1 and 3, extract calls on an extractor of model with a canceller
 * running (a cancel every millisecond; one cancel 1, 10, 40 ms in): 1 when each failed with
 * FEAT_E_CANCELLED, no result and a message saying so, or (but the first) completed with
 * every row exact, and a call after them is exact. */
int tu_cancel_ok(const tu_kind *k, const char *model, uint32_t batch);
/* Eight clones of an extractor of model (budget 2), each on its own thread, extract twice at
 * once while the original is already freed (the model outlives it): 1 when every result
 * equals the original's serial one bit for bit. */
int tu_clones_ok(const tu_kind *k, const char *model, uint32_t batch);

#endif
