/* SPDX-License-Identifier: MIT */
/* What the image ensemble (image_ensemble.c) uses of the image extractor besides its public
 * API: the resolved preprocessing, and extraction from tensors already preprocessed with it,
 * batched and run exactly as the extractor's own extract calls are. */
#ifndef FEAT_EXTRACT_IMAGE_EXTRACTOR_H
#define FEAT_EXTRACT_IMAGE_EXTRACTOR_H

#include "feat/image.h"
#include "image/image_internal.h"

/* The preprocessing a loaded extractor applies (borrowed); NULL before a load. */
const feat_preprocess *feat_image_extractor_preprocessing(const feat_image_extractor *ex);

/* As feat_image_extractor_extract_files from n tensors (feat_preprocess_tensor_count floats
 * each, item i at i * that count). An item with skip[i] set takes no place in its batch, as a
 * file that failed to decode would not; its row stays "not computed" (FEAT_E_INTERNAL) for
 * the caller to fill in. */
feat_status feat_image_extractor_extract_tensors(feat_image_extractor *ex, const float *tensors,
                                                 const unsigned char *skip, size_t n, feat_result **out);

#endif
