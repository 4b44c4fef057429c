/* SPDX-License-Identifier: MIT */
/* The skeleton of the image and text ensembles (extract/ensemble.h). */
#include "extract/ensemble.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

feat_status feat_ensemble_new(size_t size, void **out, const char *api)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s_new: out is NULL", api);
    *out = calloc(1, size);
    if (!*out)
        return feat_error_set_tls(FEAT_E_NOMEM, "out of memory allocating an ensemble");
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

feat_status feat_ensemble_add(feat_ensemble *e, void *ex, int loaded, size_t dim, const char *name)
{
    feat_error_clear(&e->err);
    if (!ex)
        return feat_error_set(&e->err, FEAT_E_INVALID_ARGUMENT, "extractor is NULL");
    if (!loaded)
        return feat_error_set(&e->err, FEAT_E_STATE, "member %zu has no model loaded: load it before adding it", e->n);
    if (e->n == FEAT_ENSEMBLE_MAX)
        return feat_error_set(&e->err, FEAT_E_LIMIT, "an ensemble has at most %d members", FEAT_ENSEMBLE_MAX);
    feat_ensemble_member *m = &e->m[e->n];
    *m = (feat_ensemble_member){.ex = ex, .first = e->dim, .dim = dim};
    if (name && name[0])
        snprintf(m->name, sizeof m->name, "%s", name);
    else
        snprintf(m->name, sizeof m->name, "member %zu", e->n);
    e->dim += dim;
    e->n++;
    return FEAT_OK;
}

feat_status feat_ensemble_begin(feat_ensemble *e, size_t n, feat_ensemble_call *call, feat_result **out)
{
    *call = (feat_ensemble_call){.e = e};
    if (!out)
        return feat_error_set(&e->err, FEAT_E_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    feat_error_clear(&e->err);
    if (!e->n)
        return feat_error_set(&e->err, FEAT_E_STATE, "the ensemble has no members: add loaded extractors first");
    feat_status st = feat_result_alloc(n, e->dim, &call->r, &e->err);
    if (st != FEAT_OK)
        return st;
    call->failed = calloc(n ? n : 1, 1);
    if (!call->failed)
        return feat_error_set(&e->err, FEAT_E_NOMEM, "out of memory for %zu items", n);
    return FEAT_OK;
}

void feat_ensemble_fail_item(feat_ensemble_call *call, size_t k, size_t i, const feat_error *why)
{
    if (call->failed[i])
        return;
    feat_error e = *why;
    feat_error_prefix(&e, "%s", call->e->m[k].name);
    feat_result_set_error(call->r, i, &e);
    call->failed[i] = 1;
}

void feat_ensemble_take(feat_ensemble_call *call, size_t k, const feat_result *mr, size_t first,
                        const unsigned char *skip)
{
    const feat_ensemble_member *m = &call->e->m[k];
    for (size_t j = 0; j < mr->n_items; j++) {
        size_t i = first + j;
        if ((skip && skip[j]) || call->failed[i])
            continue;
        if (mr->status[j] != FEAT_OK) {
            feat_error e = {.code = mr->status[j]};
            snprintf(e.msg, sizeof e.msg, "%s", feat_result_item_error(mr, j));
            feat_ensemble_fail_item(call, k, i, &e);
            continue;
        }
        memcpy(feat_result_row(call->r, i) + m->first, mr->data + j * mr->dim, m->dim * sizeof(float));
    }
}

feat_status feat_ensemble_member_failed(feat_ensemble_call *call, size_t k, feat_status st, const char *msg)
{
    return feat_error_set(&call->e->err, st, "%s: %s", call->e->m[k].name, msg);
}

feat_status feat_ensemble_finish(feat_ensemble_call *call, feat_status st, feat_result **out)
{
    if (st == FEAT_OK)
        for (size_t i = 0; i < call->r->n_items; i++)
            if (!call->failed[i])
                feat_result_set_ok(call->r, i);
    free(call->failed);
    if (st != FEAT_OK) {
        feat_result_free(call->r);
        return st;
    }
    *out = call->r;
    return FEAT_OK;
}
