/* Process-wide settings and the default thread count. */
#include "core/error.h"
#include "shim/shim.h"

#include <stdlib.h>
#include <unistd.h>

feat_status feat_global_set_threads(int32_t n)
{
    if (n < 0 || n > 1024)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "thread count %d out of range 0..1024", (int)n);
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores < 1 ? 1 : cores > 8 ? 8 : (int32_t)cores;
    }
    return feat_shim_set_threads(n, feat_error_tls());
}

int32_t feat_global_threads(void) { return feat_shim_threads(); }
