/* SPDX-License-Identifier: MIT */
/* Definition of the opaque feat_text_options (shared by the tokenizer and the text extractor).
 *
 * Every field holds exactly what the caller set; 0 / FEAT_*_DEFAULT / NULL mean "default" and
 * are resolved by the consumer (the tokenizer resolves lowercase, strip_accents, max_length
 * and truncation at load time; the extractor resolves the rest), so a copy made before the
 * model is known still means "the model's default". */
#ifndef FEAT_TEXT_OPTIONS_H
#define FEAT_TEXT_OPTIONS_H

#include "core/model_options.h"
#include "feat/text.h"

/* Default max_length when neither the caller nor the model says otherwise (BERT's 512). */
#define FEAT_TEXT_DEFAULT_MAX_LENGTH 512u
/* Default sequences per forward pass. */
#define FEAT_TEXT_DEFAULT_BATCH_SIZE 16u /* measured: docs/performance.md */

struct feat_text_options {
    feat_model_options model;           /* taps, fusion, batch size (0: 16), device, precision */
    feat_tristate lowercase;            /* DEFAULT: ON */
    feat_tristate strip_accents;        /* DEFAULT: follows the effective lowercase */
    uint32_t max_length;                /* 0: FEAT_TEXT_DEFAULT_MAX_LENGTH (or the model's) */
    feat_truncation truncation;         /* DEFAULT: LONGEST_FIRST */
    uint32_t window_stride;             /* 0: no windows, long texts are truncated */
    feat_window_pooling window_pooling; /* DEFAULT: MEAN */
    feat_utf8_policy utf8_policy;       /* DEFAULT: ERROR */
    feat_tristate chinese_chars;        /* DEFAULT: ON (BERT's handle_chinese_chars). No public
                                           setter: the text extractor takes it from the model's
                                           side-car (text.handle_chinese_chars) */
};

/* Deep copy of @p src (NULL: a default-initialised object) into a new object in *out.
 * Returns FEAT_OK or FEAT_E_NOMEM (message in the thread slot); *out is NULL on failure. */
feat_status feat_text_options_copy(const feat_text_options *src, feat_text_options **out);

#endif
