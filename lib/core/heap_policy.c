/* SPDX-License-Identifier: MIT */
#include "core/heap_policy.h"

#include <stdlib.h>
#if defined(__GLIBC__)
#  include <malloc.h>
#endif

void feat_keep_freed_memory(void)
{
#if defined(__GLIBC__)
    if (getenv("MALLOC_MMAP_MAX_") || getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_"))
        return;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}
