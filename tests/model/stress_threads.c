/* SPDX-License-Identifier: MIT */
/* Concurrency stress: T threads, each with its own clone of one loaded extractor (image or
 * text), extract the same inputs R times; every result must equal a serial run bit for bit.
 *
 *   stress_threads image MODEL SPEC THREADS ROUNDS FILE...
 *   stress_threads text MODEL SPEC THREADS ROUNDS LINES_FILE
 * Prints "ok: ..." or "mismatch: ..." and exits 0 / 1. */
#include "feat/feat.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    int text;
    feat_image_extractor *img;
    feat_text_extractor *txt;
    const char *const *inputs;
    size_t n;
    int rounds;
    const float *want;
    size_t dim;
    int mismatches;
    char error[512];
} job;

static feat_status run_once(job *j, feat_result **r)
{
    return j->text ? feat_text_extractor_extract(j->txt, j->inputs, NULL, j->n, r)
                   : feat_image_extractor_extract_files(j->img, j->inputs, j->n, r);
}

static void *worker(void *arg)
{
    job *j = arg;
    for (int k = 0; k < j->rounds; k++) {
        feat_result *r;
        if (run_once(j, &r) != FEAT_OK) {
            snprintf(j->error, sizeof j->error, "%s",
                     j->text ? feat_text_extractor_last_error(j->txt) : feat_image_extractor_last_error(j->img));
            return NULL;
        }
        if (memcmp(feat_result_data(r), j->want, j->n * j->dim * sizeof(float)) != 0)
            j->mismatches++;
        feat_result_free(r);
    }
    return NULL;
}

static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char **v = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    *n = 0;
    while (f && (len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[len - 1] = '\0';
        v = realloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = strdup(line);
    }
    free(line);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: stress_threads image|text MODEL SPEC THREADS ROUNDS INPUTS...\n");
        return 2;
    }
    job base = {.text = strcmp(argv[1], "text") == 0};
    int threads = atoi(argv[4]);
    base.rounds = atoi(argv[5]);
    if (base.text) {
        base.inputs = (const char *const *)read_lines(argv[6], &base.n);
        feat_text_options *o;
        feat_text_options_new(&o);
        feat_text_options_set_taps(o, argv[3]);
        feat_text_options_set_batch_size(o, 8);
        feat_text_extractor_new(&base.txt);
        if (feat_text_extractor_load(base.txt, argv[2], NULL, o) != FEAT_OK) {
            fprintf(stderr, "%s\n", feat_text_extractor_last_error(base.txt));
            return 1;
        }
        feat_text_options_free(o);
    } else {
        base.inputs = (const char *const *)(argv + 6);
        base.n = (size_t)(argc - 6);
        feat_image_options *o;
        feat_image_options_new(&o);
        feat_image_options_set_taps(o, argv[3]);
        feat_image_options_set_batch_size(o, 2);
        feat_image_extractor_new(&base.img);
        if (feat_image_extractor_load(base.img, argv[2], o) != FEAT_OK) {
            fprintf(stderr, "%s\n", feat_image_extractor_last_error(base.img));
            return 1;
        }
        feat_image_options_free(o);
    }
    feat_result *serial;
    if (run_once(&base, &serial) != FEAT_OK || feat_result_n_failed(serial)) {
        fprintf(stderr, "serial run failed\n");
        return 1;
    }
    base.want = feat_result_data(serial);
    base.dim = feat_result_dim(serial);
    job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    for (int t = 0; t < threads; t++) {
        jobs[t] = base;
        feat_status st = base.text ? feat_text_extractor_clone(base.txt, &jobs[t].txt)
                                   : feat_image_extractor_clone(base.img, &jobs[t].img);
        if (st != FEAT_OK) {
            fprintf(stderr, "clone: %s\n", feat_last_error());
            return 1;
        }
    }
    /* The clones outlive the extractor they were cloned from: free it now. */
    feat_text_extractor_free(base.txt);
    feat_image_extractor_free(base.img);
    for (int t = 0; t < threads; t++)
        pthread_create(&tid[t], NULL, worker, &jobs[t]);
    int bad = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].error[0]) {
            printf("error in thread %d: %s\n", t, jobs[t].error);
            bad = 1;
        }
        bad |= jobs[t].mismatches != 0;
        feat_text_extractor_free(jobs[t].txt);
        feat_image_extractor_free(jobs[t].img);
    }
    printf("%s: %d threads x %d rounds x %zu items, %d mismatching results\n", bad ? "mismatch" : "ok", threads,
           base.rounds, base.n, bad);
    feat_result_free(serial);
    free(jobs);
    free(tid);
    return bad;
}
