/* SPDX-License-Identifier: MIT */
/* Internal error slot shared by every libfeat object.
 *
 * Each public object embeds a feat_error; a failing call records its status and a one-line
 * message there (and, for calls without an object, in the per-thread slot). The message is
 * what bindings turn into exceptions, so it says what failed and why, with the offending
 * value, in one line, without a trailing period. */
#ifndef FEAT_CORE_ERROR_H
#define FEAT_CORE_ERROR_H

#include "feat/common.h"

#include <stdarg.h>

FEAT_BEGIN_DECLS

#define FEAT_ERROR_MSG_MAX 512

typedef struct feat_error {
    feat_status code;
    char msg[FEAT_ERROR_MSG_MAX];
} feat_error;

/* Records code + printf-style message in *err (which may be NULL) and returns code, so
 * callers can write `return feat_error_set(err, FEAT_E_DECODE, "...", ...);`. */
feat_status feat_error_set(feat_error *err, feat_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
feat_status feat_error_vset(feat_error *err, feat_status code, const char *fmt, va_list ap);

/* Prefixes the existing message with "prefix: " (e.g. the item's path) and keeps the code. */
void feat_error_prefix(feat_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void feat_error_clear(feat_error *err);
void feat_error_copy(feat_error *dst, const feat_error *src);

/* Per-thread slot behind feat_last_error(). */
feat_error *feat_error_tls(void);

/* Sets the thread slot as well as *err; for constructors and handle-less helpers. */
feat_status feat_error_set_tls(feat_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

FEAT_END_DECLS

#endif
