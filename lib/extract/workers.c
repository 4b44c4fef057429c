/* SPDX-License-Identifier: MIT */
#include "workers.h"

#include "shim/shim.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct worker_arg {
    void (*fn)(void *ctx, size_t worker);
    void *ctx;
    size_t index;
    int32_t share;
} worker_arg;

struct feat_thread_group {
    worker_arg *args;
    pthread_t *tids;
    char *started;
    size_t n;
};

static void *worker_main(void *p)
{
    worker_arg *a = p;
    feat_shim_set_thread_share(a->share);
    a->fn(a->ctx, a->index);
    feat_shim_set_thread_share(0);
    return NULL;
}

size_t feat_workers_for(size_t n_batches)
{
    int32_t budget = feat_shim_threads();
    size_t n = budget > 0 ? (size_t)budget : 1;
    return n_batches < n ? (n_batches ? n_batches : 1) : n;
}

feat_thread_group *feat_threads_start(size_t first, size_t n, int32_t share, void (*fn)(void *ctx, size_t worker),
                                      void *ctx, size_t *started)
{
    *started = 0;
    feat_thread_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->args = calloc(n ? n : 1, sizeof *g->args);
    g->tids = calloc(n ? n : 1, sizeof *g->tids);
    g->started = calloc(n ? n : 1, 1);
    if (g->args && g->tids && g->started)
        g->n = n;
    for (size_t i = 0; i < g->n; i++) {
        g->args[i] = (worker_arg){fn, ctx, first + i, share};
        if (pthread_create(&g->tids[i], NULL, worker_main, &g->args[i]) == 0) {
            g->started[i] = 1;
            ++*started;
        }
    }
    return g;
}

void feat_threads_join(feat_thread_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        if (g->started[i])
            pthread_join(g->tids[i], NULL);
    free(g->args);
    free(g->tids);
    free(g->started);
    free(g);
}

size_t feat_workers_run(size_t n, int32_t max_share, void (*fn)(void *ctx, size_t worker), void *ctx)
{
    int32_t budget = feat_shim_threads();
    if (n < 1)
        n = 1;
    int32_t share = budget > (int32_t)n ? budget / (int32_t)n : 1;
    if (max_share > 0 && share > max_share)
        share = max_share;
    size_t started;
    /* Without room to track threads none start: the caller's worker does everything. */
    feat_thread_group *g = feat_threads_start(1, n - 1, share, fn, ctx, &started);
    worker_arg self = {fn, ctx, 0, share};
    worker_main(&self);
    feat_threads_join(g);
    return started + 1;
}
