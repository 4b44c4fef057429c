/* SPDX-License-Identifier: MIT */
/* Internal constructor side of feat_result (include/feat/result.h). */
#ifndef FEAT_CORE_RESULT_H
#define FEAT_CORE_RESULT_H

#include "core/error.h"
#include "feat/result.h"

struct feat_result {
    size_t n_items;
    size_t dim;
    float *data;         /* n_items * dim; failed rows are NaN */
    feat_status *status; /* n_items */
    char **errors;       /* n_items, NULL where the item succeeded */
};

/* Allocates a result with every row NaN and every status FEAT_E_INTERNAL ("not computed"),
 * so a row that nobody filled can never pass for features. */
feat_status feat_result_alloc(size_t n_items, size_t dim, feat_result **out, feat_error *err);

/* Row pointer for writing item i. */
float *feat_result_row(feat_result *r, size_t i);

/* Marks item i as done (FEAT_OK). */
void feat_result_set_ok(feat_result *r, size_t i);

/* Marks item i as failed with the error's code and message; its row becomes NaN again. */
void feat_result_set_error(feat_result *r, size_t i, const feat_error *e);

#endif
