/* SPDX-License-Identifier: MIT */
/* Workers that run an extractor's batches side by side, each with a share of the thread budget.
 *
 * On a few cores, two forward passes of one thread each finish sooner than the same two passes
 * run one after the other with two threads each (docs/performance.md, "Thread budget"), and a
 * worker decoding its next images overlaps with the others' forward passes. */
#ifndef FEAT_EXTRACT_WORKERS_H
#define FEAT_EXTRACT_WORKERS_H

#include <stddef.h>
#include <stdint.h>

/* How many workers a call with n_batches batches gets: the thread budget, at most one per batch. */
size_t feat_workers_for(size_t n_batches);

/* Runs fn(ctx, w) for w in 0..n-1, worker 0 on the calling thread and the others on new threads,
 * and returns when all have. Each worker runs with feat_shim_set_thread_share(budget / n, at
 * most max_share unless that is 0), reset afterwards. Workers that cannot be started are
 * skipped, so fn must claim its work dynamically (the caller's worker alone must be able to do
 * all of it). Returns the number that ran. */
size_t feat_workers_run(size_t n, int32_t max_share, void (*fn)(void *ctx, size_t worker), void *ctx);

/* Threads that run beside the caller (the image extractor's decode workers): fn(ctx, first + i)
 * for i in 0..n-1, each on a new thread with feat_shim_set_thread_share(share). Threads that
 * cannot be created are skipped; *started says how many run. feat_threads_join waits for
 * them and frees the group (NULL, returned when nothing could be allocated, is a no-op). */
typedef struct feat_thread_group feat_thread_group;
feat_thread_group *feat_threads_start(size_t first, size_t n, int32_t share, void (*fn)(void *ctx, size_t worker),
                                      void *ctx, size_t *started);
void feat_threads_join(feat_thread_group *g);

#endif /* FEAT_EXTRACT_WORKERS_H */
