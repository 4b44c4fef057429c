/* SPDX-License-Identifier: MIT */
/* Process-wide settings and the default thread count. */
#include "core/error.h"
#include "shim/shim.h"

feat_status feat_global_set_threads(int32_t n)
{
    if (n < 0 || n > 1024)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "thread count %d out of range 0..1024", (int)n);
    /* 0 restores the default (online cores, at most 8), chosen inside the backend. */
    return feat_shim_set_threads(n, feat_error_tls());
}

int32_t feat_global_threads(void) { return feat_shim_threads(); }
