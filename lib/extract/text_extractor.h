/* SPDX-License-Identifier: MIT */
/* What the text ensemble (text_ensemble.c) shares with the text extractor besides its public
 * API: the argument checks of an extract call. */
#ifndef FEAT_EXTRACT_TEXT_EXTRACTOR_H
#define FEAT_EXTRACT_TEXT_EXTRACTOR_H

#include "core/error.h"

#include <stddef.h>

/* The argument checks of an extract call over n texts (pairs: texts_a with texts_b) made on obj
 * (the extractor or ensemble, named `what` in the message; errors in err, or the thread slot
 * when obj is NULL). A NULL item is that item's error, not the call's. */
feat_status feat_text_args_check(const void *obj, const char *what, const char *const *texts_a,
                                 const char *const *texts_b, int pairs, size_t n, feat_error *err);

#endif
