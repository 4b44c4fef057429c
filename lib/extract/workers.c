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

size_t feat_workers_run(size_t n, int32_t max_share, void (*fn)(void *ctx, size_t worker), void *ctx)
{
    int32_t budget = feat_shim_threads();
    if (n < 1)
        n = 1;
    worker_arg *args = calloc(n, sizeof *args);
    pthread_t *tids = calloc(n, sizeof *tids);
    char *started = calloc(n, 1);
    if (!args || !tids || !started)
        n = 1; /* no room to track threads: the caller's worker does everything */
    int32_t share = budget > (int32_t)n ? budget / (int32_t)n : 1;
    if (max_share > 0 && share > max_share)
        share = max_share;
    size_t ran = 1;
    for (size_t w = 1; w < n; w++) {
        args[w] = (worker_arg){fn, ctx, w, share};
        if (pthread_create(&tids[w], NULL, worker_main, &args[w]) == 0) {
            started[w] = 1;
            ran++;
        }
    }
    worker_arg self = {fn, ctx, 0, share};
    worker_main(&self);
    for (size_t w = 1; w < n; w++)
        if (started[w])
            pthread_join(tids[w], NULL);
    free(args);
    free(tids);
    free(started);
    return ran;
}
