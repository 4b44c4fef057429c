/* SPDX-License-Identifier: MIT */
/**
 * @file feat/feat.h
 * @brief libfeat: deep-learning features from images and text, through a stable C ABI.
 *
 * Include this umbrella header. The API is described in docs/api.md; conventions (statuses,
 * messages, ownership, threads) in feat/common.h.
 */
#ifndef FEAT_FEAT_H
#define FEAT_FEAT_H

#include "feat/common.h"
#include "feat/result.h"
#include "feat/image.h"
#include "feat/text.h"
#include "feat/model.h"
#include "feat/finetune.h"

#endif /* FEAT_FEAT_H */
