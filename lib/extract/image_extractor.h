/* SPDX-License-Identifier: MIT */
/* What the image ensemble (image_ensemble.c) uses of the image extractor besides its public
 * API: the resolved preprocessing, and extraction from tensors already preprocessed with it,
 * batched and run exactly as the extractor's own extract calls are. */
#ifndef FEAT_EXTRACT_IMAGE_EXTRACTOR_H
#define FEAT_EXTRACT_IMAGE_EXTRACTOR_H

#include "feat/image.h"
#include "image/image_internal.h"

/* Where item i of an extract call comes from: the public extract calls of the extractor and of
 * the ensemble describe their inputs with it. */
typedef struct feat_image_source {
    enum { FEAT_SRC_FILE, FEAT_SRC_ENCODED, FEAT_SRC_RGB8, FEAT_SRC_TENSOR } kind;
    const char *const *paths;
    const void *const *data;
    const size_t *sizes;
    const uint8_t *const *pixels;
    const uint32_t *widths, *heights;
    const size_t *strides;
    const float *tensors;      /* FEAT_SRC_TENSOR: item i's tensor at i * input_floats */
    const unsigned char *skip; /* FEAT_SRC_TENSOR: 1 where the caller has no tensor for the item */
} feat_image_source;

/* The argument checks of an extract call over n items from src made on obj (the extractor or
 * ensemble, named `what` in the message; errors in err, or the thread slot when obj is NULL). */
feat_status feat_image_source_check(const void *obj, const char *what, const feat_image_source *src, size_t n,
                                    feat_error *err);

/* The preprocessing a loaded extractor applies (borrowed); NULL before a load. */
const feat_preprocess *feat_image_extractor_preprocessing(const feat_image_extractor *ex);

/* As feat_image_extractor_extract_files from n tensors (feat_preprocess_tensor_count floats
 * each, item i at i * that count). An item with skip[i] set takes no place in its batch, as a
 * file that failed to decode would not; its row stays "not computed" (FEAT_E_INTERNAL) for
 * the caller to fill in. */
feat_status feat_image_extractor_extract_tensors(feat_image_extractor *ex, const float *tensors,
                                                 const unsigned char *skip, size_t n, feat_result **out);

#endif
