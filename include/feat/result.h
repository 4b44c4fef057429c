/* SPDX-License-Identifier: MIT */
/**
 * @file feat/result.h
 * @brief Results of an extraction: one feature row per input item, with per-item status.
 *
 * A result owns its memory until feat_result_free(). It stays valid after the extractor that
 * made it is freed, so finalizers may run in any order.
 *
 * Thread-safety: a result is immutable once returned; several threads may read it at once.
 */
#ifndef FEAT_RESULT_H
#define FEAT_RESULT_H

#include "feat/common.h"

FEAT_BEGIN_DECLS

typedef struct feat_result feat_result;

/** Frees a result. NULL is a no-op. */
FEAT_API void feat_result_free(feat_result *result);

/** Number of items (rows), equal to the number of inputs given to the extract call. */
FEAT_API size_t feat_result_n_items(const feat_result *result);

/** Number of float32 values per row (the fused feature dimension). */
FEAT_API size_t feat_result_dim(const feat_result *result);

/** Number of items whose status is not FEAT_OK. */
FEAT_API size_t feat_result_n_failed(const feat_result *result);

/** Status of item @p item (FEAT_OK when its row holds features), FEAT_E_INVALID_ARGUMENT
 *  when @p item is out of range. */
FEAT_API feat_status feat_result_item_status(const feat_result *result, size_t item);

/** Message for a failed item ("" when it succeeded or is out of range). Never NULL.
 *  Borrowed: valid until feat_result_free(). */
FEAT_API const char *feat_result_item_error(const feat_result *result, size_t item);

/**
 * The feature matrix, row-major, n_items x dim float32. Rows of failed items are all NaN, so
 * they can never be mistaken for features. Borrowed: valid until feat_result_free().
 * NULL only when the result has no items.
 */
FEAT_API const float *feat_result_data(const feat_result *result);

/**
 * Copies the feature matrix into a caller buffer.
 *
 * @param dst        [out] n_items*dim floats
 * @param dst_count  capacity of @p dst in floats
 * @param needed_out [out] optional; receives n_items*dim
 * @return FEAT_OK, or FEAT_E_BUFFER_TOO_SMALL (nothing copied) when dst_count is short.
 */
FEAT_API feat_status feat_result_copy_to(const feat_result *result, float *dst, size_t dst_count, size_t *needed_out);

FEAT_END_DECLS

#endif /* FEAT_RESULT_H */
