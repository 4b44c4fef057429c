/* SPDX-License-Identifier: MIT */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local feat_error tls_error;

feat_error *feat_error_tls(void) { return &tls_error; }

feat_status feat_error_vset(feat_error *err, feat_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

feat_status feat_error_set(feat_error *err, feat_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    feat_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

feat_status feat_error_set_tls(feat_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    feat_error_vset(&tls_error, code, fmt, ap);
    va_end(ap);
    return code;
}

void feat_error_prefix(feat_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char old[FEAT_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* The prefix (a path) wins over the tail of the old message when both do not fit. */
    if (n >= 0 && (size_t)n < sizeof err->msg - 2) {
        size_t used = (size_t)n;
        err->msg[used++] = ':';
        err->msg[used++] = ' ';
        size_t room = sizeof err->msg - used - 1;
        size_t len = strlen(old);
        memcpy(err->msg + used, old, len < room ? len : room);
        err->msg[used + (len < room ? len : room)] = '\0';
    }
}

void feat_error_clear(feat_error *err)
{
    if (err) {
        err->code = FEAT_OK;
        err->msg[0] = '\0';
    }
}

void feat_error_copy(feat_error *dst, const feat_error *src)
{
    if (dst && src && dst != src)
        memcpy(dst, src, sizeof *dst);
}
