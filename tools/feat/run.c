/* SPDX-License-Identifier: MIT */
/* The durable run of `feat image` and `feat text`: extract part by part, write each part,
 * stop cleanly on SIGINT/SIGTERM, join the parts at the end (cli.h). */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

int cli_start(const cli_common *c)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (c->threads >= 0 && feat_global_set_threads((int32_t)c->threads) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    return 0;
}

/* Says why each failed item of r (rows [first, first + n)) failed; returns how many did. */
static size_t report_failures(const cli_job *job, const feat_result *r, size_t first, size_t n)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (feat_result_item_status(r, i) == FEAT_OK)
            continue;
        if (job->number_items)
            fprintf(stderr, "feat: %s %zu: %s\n", job->item, first + i + 1, feat_result_item_error(r, i));
        else
            fprintf(stderr, "feat: %s\n", feat_result_item_error(r, i));
        failed++;
    }
    return failed;
}

/* Extracts and writes parts from *done on until all are done or a signal came; returns 0, or
 * 1 when a part could not be extracted or written. */
static int extract_parts(const cli_job *job, size_t part_size, out_writer *w, size_t *done)
{
    size_t failed = 0;
    int rc = 0;
    while (*done < job->n && !interrupted) {
        size_t n = job->n - *done < part_size ? job->n - *done : part_size;
        feat_result *r = out_begin_part(w, job->labels + *done, n) ? NULL : job->extract(job->ctx, *done, n);
        if (!r) {
            rc = 1;
            break;
        }
        failed += report_failures(job, r, *done, n);
        float *rows = job->append ? malloc(n * job->dim * sizeof *rows) : NULL;
        if (rows)
            cli_append_rows(job->append, r, *done, n, job->dim - cli_append_dim(job->append), rows);
        int bad = job->append && !rows ? -1 : out_append(w, r, rows, job->labels + *done, n);
        feat_result_free(r);
        free(rows);
        if (bad) {
            rc = 1;
            break;
        }
        *done += n;
        progress(job->items, *done, job->n, failed, 0);
    }
    progress(job->items, *done, job->n, failed, 1);
    return rc;
}

/* Joins the parts into the output and says what came of the run; returns the exit status. */
static int finish(const cli_job *job, out_writer *w, const char *output)
{
    size_t n_rows, n_failed;
    if (out_finish(w, &n_rows, &n_failed)) {
        fprintf(stderr, "feat: the parts are kept: rerun with --resume to join them once the cause is fixed\n");
        return 1;
    }
    fprintf(stderr, "feat: %zu of %zu %s done, %zu failed; wrote %s\n", n_rows - n_failed, n_rows, job->items, n_failed,
            strcmp(output, "-") == 0 ? "standard output" : output);
    return n_rows == n_failed ? 1 : 0; /* 1: nothing could be processed */
}

int cli_run(const cli_job *job, const cli_common *common)
{
    size_t done = 0;
    out_writer *w = out_open(common->output, job->dim, job->labels, job->n, job->files, common->shard_i,
                             common->shard_n, common->resume, common->rows, &done);
    if (!w)
        return 1;
    out_set_columns(w, job->columns);
    if (done)
        fprintf(stderr, "feat: resuming after %s %zu of %zu\n", job->item, done, job->n);
    int rc = extract_parts(job, common->part_size, w, &done);
    if (!rc && !interrupted)
        return finish(job, w, common->output);
    out_suspend(w);
    if (rc) {
        fprintf(stderr, "feat: stopped after %zu of %zu %s; rerun with --resume to go on after the parts written\n",
                done, job->n, job->items);
        return rc;
    }
    fprintf(stderr, "feat: interrupted after %zu of %zu %s; rerun with --resume to go on\n", done, job->n, job->items);
    return 130;
}
