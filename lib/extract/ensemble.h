/* SPDX-License-Identifier: MIT */
/* The part the image and the text ensemble share: the member list, and one call's result,
 * into which each member's result is taken in member order (rows side by side; an item that
 * fails for a member is a failed row with that member's status and named message, unless an
 * earlier member already failed it). Private to lib/extract. */
#ifndef FEAT_EXTRACT_ENSEMBLE_H
#define FEAT_EXTRACT_ENSEMBLE_H

#include "core/error.h"
#include "core/result.h"

#include <stddef.h>

#define FEAT_ENSEMBLE_MAX 64       /* members */
#define FEAT_ENSEMBLE_NAME_MAX 256 /* bytes of a member's name kept for messages */

typedef struct feat_ensemble_member {
    void *ex; /* borrowed extractor */
    char name[FEAT_ENSEMBLE_NAME_MAX];
    size_t first; /* its first column in the ensemble's row */
    size_t dim;
    size_t group; /* image: its preprocessing group */
} feat_ensemble_member;

typedef struct feat_ensemble {
    feat_error err;
    feat_ensemble_member m[FEAT_ENSEMBLE_MAX];
    size_t n, dim;
} feat_ensemble;

/* Allocates an ensemble struct of `size` bytes whose first member is a feat_ensemble. */
feat_status feat_ensemble_new(size_t size, void **out, const char *api);
/* Appends a member of width dim (loaded: whether ex has a model). */
feat_status feat_ensemble_add(feat_ensemble *e, void *ex, int loaded, size_t dim, const char *name);

/* One call: its result and which items have failed so far. */
typedef struct feat_ensemble_call {
    feat_ensemble *e;
    feat_result *r;
    unsigned char *failed;
} feat_ensemble_call;

/* The start of an extract call (e not NULL): out checked, error cleared, members present,
 * the result allocated (every row "not computed"). */
feat_status feat_ensemble_begin(feat_ensemble *e, size_t n, feat_ensemble_call *call, feat_result **out);
/* Item i failed for member k before it ran (*why); kept unless an earlier member failed it. */
void feat_ensemble_fail_item(feat_ensemble_call *call, size_t k, size_t i, const feat_error *why);
/* Takes member k's result mr for items first .. first + n_items(mr) - 1 of the call: copies
 * the rows of items that succeeded into member k's columns, fails the others. Items marked in
 * skip (may be NULL; indexed from first) are left alone: the caller has failed them. */
void feat_ensemble_take(feat_ensemble_call *call, size_t k, const feat_result *mr, size_t first,
                        const unsigned char *skip);
/* A member's call failed as a whole (status st, message msg): the ensemble's call fails. */
feat_status feat_ensemble_member_failed(feat_ensemble_call *call, size_t k, feat_status st, const char *msg);
/* The end: on success every item not failed is marked done and *out = the result; on failure
 * the result is freed. */
feat_status feat_ensemble_finish(feat_ensemble_call *call, feat_status st, feat_result **out);

#endif
