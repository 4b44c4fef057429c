/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* OpenBLAS picks its kernels from the CPU model when it loads, before main(). Debian 12's
 * 0.3.21 does not know CPUs newer than it (5th-generation Xeon, family 6 model 207, for one)
 * and falls back to "Prescott", its SSE3 kernels: float32 GEMMs, where text models spend their
 * time, run 3x slower (MiniLM on 2 cores: 26 instead of 77 sentences/s). Only the
 * OPENBLAS_CORETYPE environment variable changes the choice, and only before the library
 * loads. The CLI does not set it behind the user's back (re-executing itself would make its
 * results differ in the last bits from a program using the C API or a binding in the same
 * environment); it says what to set. */
void cli_check_blas_core(void)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    const char *(*corename)(void) = NULL;
    *(void **)&corename = dlsym(RTLD_DEFAULT, "openblas_get_corename");
    const char *core = corename ? corename() : NULL;
    if (!core || strcasecmp(core, "Prescott") != 0)
        return;
    __builtin_cpu_init();
    const char *better = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        better = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        better = "Haswell";
    if (better)
        fprintf(stderr,
                "feat: note: OpenBLAS does not recognise this CPU and uses its generic kernels; "
                "set OPENBLAS_CORETYPE=%s for about 3x faster text models (docs/performance.md)\n",
                better);
}
