/* SPDX-License-Identifier: MIT */
/* The memory policy of the project's own programs (the feat tool, bench_model): keep freed
 * memory for the next batch (docs/api.md, "Memory policy"). The library never calls it: the
 * process's malloc settings belong to the application. */
#ifndef FEAT_CORE_HEAP_POLICY_H
#define FEAT_CORE_HEAP_POLICY_H

/* By default glibc hands the freed top of its heap back to the system after each forward pass,
 * and maps and unmaps every block of 32 MiB or more (a batch's activations) per run; either way
 * the next run faults the pages in again. That cost 9 % of VGG16's throughput at 2 threads and
 * 25 % of EfficientNet-Lite0's at batch 8 (docs/performance.md, "Model-only gap"). So every
 * block comes from the heap, and up to 1 GiB of freed heap is kept; peak memory is unchanged.
 * glibc's own settings in the environment (MALLOC_MMAP_MAX_, MALLOC_MMAP_THRESHOLD_,
 * MALLOC_TRIM_THRESHOLD_) take precedence. Does nothing without glibc. Call it first in main. */
void feat_keep_freed_memory(void);

#endif
