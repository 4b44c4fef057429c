/* SPDX-License-Identifier: MIT */
/* feat_text_options: the public setters, one row each, defined by core/model_options.h on the
 * shared option checks (errors go to the thread slot because an options object has no error
 * slot of its own). */
#include "text/text_options.h"

#include "core/model_options.h"
#include "taps/taps.h"

#include <stddef.h>

FEAT_OPTIONS_DEFINE_COMMON(text)
FEAT_OPTIONS_DEFINE_ENUM(text, lowercase, feat_tristate, FEAT_TRISTATE_OFF, "lowercase")
FEAT_OPTIONS_DEFINE_ENUM(text, strip_accents, feat_tristate, FEAT_TRISTATE_OFF, "strip_accents")
/* [CLS] and [SEP] alone need 2; pairs need 3, which the tokenizer checks per call. Token
 * indices are int32 in the outputs, hence the upper bound. */
FEAT_OPTIONS_DEFINE_RANGE(text, max_length, uint32_t, 2, INT32_MAX, "max_length")
FEAT_OPTIONS_DEFINE_ENUM(text, truncation, feat_truncation, FEAT_TRUNCATE_NONE, "truncation")
/* The stride must also be below max_length - 2; the extractor checks that when both are known. */
FEAT_OPTIONS_DEFINE_RANGE(text, window_stride, uint32_t, 1, INT32_MAX, "window stride")
FEAT_OPTIONS_DEFINE_ENUM(text, window_pooling, feat_window_pooling, FEAT_WINDOW_FIRST, "window pooling")
FEAT_OPTIONS_DEFINE_ENUM(text, utf8_policy, feat_utf8_policy, FEAT_UTF8_REPLACE, "utf8 policy")
