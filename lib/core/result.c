/* SPDX-License-Identifier: MIT */
#include "core/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char not_computed[] = "not computed";

feat_status feat_result_alloc(size_t n_items, size_t dim, feat_result **out, feat_error *err)
{
    *out = NULL;
    if (dim && n_items > SIZE_MAX / sizeof(float) / dim)
        return feat_error_set(err, FEAT_E_LIMIT, "result of %zu x %zu floats overflows size_t", n_items, dim);
    feat_result *r = calloc(1, sizeof *r);
    if (!r)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory allocating a result");
    r->n_items = n_items;
    r->dim = dim;
    if (n_items) {
        r->data = malloc(n_items * dim * sizeof(float) + 1);
        r->status = malloc(n_items * sizeof *r->status);
        r->errors = calloc(n_items, sizeof *r->errors);
        if (!r->data || !r->status || !r->errors) {
            feat_result_free(r);
            return feat_error_set(err, FEAT_E_NOMEM, "out of memory allocating a result of %zu x %zu floats", n_items,
                                  dim);
        }
        for (size_t i = 0; i < n_items * dim; i++)
            r->data[i] = NAN;
        for (size_t i = 0; i < n_items; i++) {
            r->status[i] = FEAT_E_INTERNAL;
            r->errors[i] = (char *)not_computed;
        }
    }
    *out = r;
    return FEAT_OK;
}

float *feat_result_row(feat_result *r, size_t i) { return r->data + i * r->dim; }

static void drop_message(feat_result *r, size_t i)
{
    if (r->errors[i] && r->errors[i] != not_computed)
        free(r->errors[i]);
    r->errors[i] = NULL;
}

void feat_result_set_ok(feat_result *r, size_t i)
{
    drop_message(r, i);
    r->status[i] = FEAT_OK;
}

void feat_result_set_error(feat_result *r, size_t i, const feat_error *e)
{
    drop_message(r, i);
    r->status[i] = e->code ? e->code : FEAT_E_INTERNAL;
    r->errors[i] = strdup(e->msg[0] ? e->msg : feat_status_name(r->status[i]));
    if (!r->errors[i])
        r->errors[i] = (char *)not_computed;
    float *row = feat_result_row(r, i);
    for (size_t k = 0; k < r->dim; k++)
        row[k] = NAN;
}

void feat_result_free(feat_result *r)
{
    if (!r)
        return;
    if (r->errors)
        for (size_t i = 0; i < r->n_items; i++)
            drop_message(r, i);
    free(r->errors);
    free(r->status);
    free(r->data);
    free(r);
}

size_t feat_result_n_items(const feat_result *r) { return r ? r->n_items : 0; }

size_t feat_result_dim(const feat_result *r) { return r ? r->dim : 0; }

size_t feat_result_n_failed(const feat_result *r)
{
    size_t n = 0;
    if (r)
        for (size_t i = 0; i < r->n_items; i++)
            n += r->status[i] != FEAT_OK;
    return n;
}

feat_status feat_result_item_status(const feat_result *r, size_t i)
{
    if (!r || i >= r->n_items)
        return FEAT_E_INVALID_ARGUMENT;
    return r->status[i];
}

const char *feat_result_item_error(const feat_result *r, size_t i)
{
    if (!r || i >= r->n_items || !r->errors[i])
        return "";
    return r->errors[i];
}

const float *feat_result_data(const feat_result *r) { return r && r->n_items ? r->data : NULL; }

feat_status feat_result_copy_to(const feat_result *r, float *dst, size_t dst_count, size_t *needed_out)
{
    if (!r)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_result_copy_to: result is NULL");
    size_t need = r->n_items * r->dim;
    if (needed_out)
        *needed_out = need;
    if (dst_count < need)
        return feat_error_set_tls(FEAT_E_BUFFER_TOO_SMALL, "feat_result_copy_to: buffer holds %zu floats, %zu needed",
                                  dst_count, need);
    if (need && !dst)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_result_copy_to: dst is NULL");
    if (need)
        memcpy(dst, r->data, need * sizeof(float));
    return FEAT_OK;
}
