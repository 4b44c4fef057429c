/* SPDX-License-Identifier: MIT */
/* Benchmark driver: times libfeat through its C API on the same inputs the Python peers get.
 *
 *   bench_model image MODEL SPEC BATCH FILE...    end-to-end: decode + preprocess + forward + pool
 *   bench_model model MODEL SPEC BATCH N          model only: the same tapped, frozen module on
 *                                                 a preprocessed 224x224 batch, N images
 *   bench_model text MODEL SPEC BATCH FILE        one text per line of FILE
 *   bench_model memory MODEL SPEC BATCH TOTAL FILE...
 *                                                 TOTAL images cycling over FILE..., resident
 *                                                 memory sampled every 1000 images
 *
 * Prints one line: "items=N seconds=S load_seconds=L first_seconds=F" (load = model load and
 * warm-up; first = load + first result, the cold start); memory adds rss_warm_mb (after the
 * first 1000 images), rss_end_mb and rss_peak_mb. Environment: BENCH_THREADS=n sets libfeat's
 * thread budget (feat_global_set_threads), BENCH_PRECISION=bf16 the opt-in bfloat16 mode,
 * BENCH_DECODE=fast the opt-in fast JPEG decode, BENCH_DECODE_THREADS=n the decode threads
 * (feat_image_options_set_decode_threads), BENCH_DEVICE=cuda:N the device (default cpu).
 * Like the feat tool, and as docs/api.md advises applications, it keeps freed memory for the
 * next run (feat_keep_freed_memory, core/heap_policy.h). */
#include "core/heap_policy.h"
#include "extract/tapped.h"
#include "feat/feat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_model: %s: %s\n", what, msg);
    return 1;
}

/* Seconds since this process started (kernel start time: the loader mapping libtorch counts,
 * as it does for a user's cold start); 10 ms resolution. */
static double since_process_start(void)
{
    unsigned long long start = 0;
    double uptime = 0;
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        const char *p = strrchr(buf, ')');
        for (int field = 2; p && field < 22; field++) /* starttime is field 22 */
            p = strchr(p + 1, ' ');
        if (p)
            start = strtoull(p + 1, NULL, 10);
    }
    if ((f = fopen("/proc/uptime", "r"))) {
        if (fscanf(f, "%lf", &uptime) != 1)
            uptime = 0;
        fclose(f);
    }
    return uptime - (double)start / (double)sysconf(_SC_CLK_TCK);
}

static feat_precision env_precision(void)
{
    const char *p = getenv("BENCH_PRECISION");
    return p && strcmp(p, "bf16") == 0 ? FEAT_PRECISION_BF16 : FEAT_PRECISION_FP32;
}

static const char *env_device(void)
{
    const char *d = getenv("BENCH_DEVICE");
    return d && *d ? d : "cpu";
}

/* The image options of the environment, or NULL after saying why. */
static feat_image_options *image_options(const char *spec, uint32_t batch)
{
    feat_image_options *o;
    const char *decode = getenv("BENCH_DECODE"), *decode_threads = getenv("BENCH_DECODE_THREADS");
    feat_image_options_new(&o);
    feat_image_options_set_taps(o, spec);
    feat_image_options_set_device(o, env_device());
    feat_image_options_set_batch_size(o, batch);
    feat_image_options_set_precision(o, env_precision());
    if (decode && strcmp(decode, "fast") == 0)
        feat_image_options_set_decode_mode(o, FEAT_DECODE_FAST);
    if (decode_threads) {
        char *end;
        unsigned long n = strtoul(decode_threads, &end, 10);
        if (!*decode_threads || *end || n > UINT32_MAX) {
            die("BENCH_DECODE_THREADS", "not a count");
            feat_image_options_free(o);
            return NULL;
        }
        if (feat_image_options_set_decode_threads(o, (uint32_t)n) != FEAT_OK) {
            die("BENCH_DECODE_THREADS", feat_last_error());
            feat_image_options_free(o);
            return NULL;
        }
    }
    return o;
}

/* An image extractor with the environment's options, or NULL after saying why. */
static feat_image_extractor *open_image_extractor(const char *model, const char *spec, uint32_t batch)
{
    feat_image_options *o = image_options(spec, batch);
    if (!o)
        return NULL;
    feat_image_extractor *ex;
    feat_image_extractor_new(&ex);
    feat_status st = feat_image_extractor_load(ex, model, o);
    feat_image_options_free(o);
    if (st != FEAT_OK) {
        die("load", feat_image_extractor_last_error(ex));
        feat_image_extractor_free(ex);
        return NULL;
    }
    return ex;
}

static double rss_mb(void) /* resident now, from /proc/self/statm */
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static int bench_image(const char *model, const char *spec, uint32_t batch, char **files, int n)
{
    double t0 = now();
    feat_image_extractor *ex = open_image_extractor(model, spec, batch);
    if (!ex)
        return 1;
    double t1 = now();
    feat_result *r;
    if (feat_image_extractor_extract_files(ex, (const char *const *)files, 1, &r) != FEAT_OK)
        return die("extract", feat_image_extractor_last_error(ex));
    double t2 = now(), process_first = since_process_start();
    feat_result_free(r);
    double t3 = now();
    if (feat_image_extractor_extract_files(ex, (const char *const *)files, (size_t)n, &r) != FEAT_OK)
        return die("extract", feat_image_extractor_last_error(ex));
    double t4 = now();
    if (feat_result_n_failed(r))
        return die("extract", feat_result_item_error(r, 0));
    feat_result_free(r);
    feat_image_extractor_free(ex);
    printf("items=%d seconds=%.4f load_seconds=%.4f first_seconds=%.4f process_first_seconds=%.4f\n", n, t4 - t3,
           t1 - t0, t2 - t0, process_first);
    return 0;
}

static int bench_model_only(const char *model, const char *spec, uint32_t batch, int n)
{
    feat_error e = {0};
    feat_tapped t;
    double t0 = now();
    feat_model_options mo = {.taps = (char *)spec,
                             .fusion = FEAT_FUSION_CONCAT,
                             .device = (char *)env_device(),
                             .precision = env_precision()};
    if (feat_tapped_load(&t, model, &mo, &e) != FEAT_OK)
        return die("load", e.msg);
    size_t per = 3 * 224 * 224;
    float *x = calloc(per * batch, sizeof *x);
    for (size_t i = 0; i < per * batch; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    feat_shim_outputs *o;
    for (int w = 0; w < 3; w++) { /* warm-up, as the extractor does at load */
        if (feat_shim_run_image(t.model, x, batch, 3, 224, 224, &o, &e) != FEAT_OK)
            return die("run", e.msg);
        feat_shim_outputs_free(o);
    }
    double t1 = now();
    int done = 0;
    while (done < n) {
        if (feat_shim_run_image(t.model, x, batch, 3, 224, 224, &o, &e) != FEAT_OK)
            return die("run", e.msg);
        feat_shim_outputs_free(o);
        done += (int)batch;
    }
    double t2 = now();
    printf("items=%d seconds=%.4f load_seconds=%.4f first_seconds=%.4f\n", done, t2 - t1, t1 - t0, t1 - t0);
    free(x);
    feat_tapped_release(&t);
    return 0;
}

static int bench_text(const char *model, const char *spec, uint32_t batch, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return die("open", path);
    char **lines = NULL, *line = NULL;
    size_t n = 0, cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[len - 1] = '\0';
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    double t0 = now();
    feat_text_options *o;
    feat_text_extractor *ex;
    feat_text_options_new(&o);
    feat_text_options_set_taps(o, spec);
    feat_text_options_set_batch_size(o, batch);
    feat_text_options_set_precision(o, env_precision());
    feat_text_options_set_device(o, env_device());
    feat_text_extractor_new(&ex);
    if (feat_text_extractor_load(ex, model, NULL, o) != FEAT_OK)
        return die("load", feat_text_extractor_last_error(ex));
    feat_text_options_free(o);
    double t1 = now();
    feat_result *r;
    if (feat_text_extractor_extract(ex, (const char *const *)lines, NULL, 1, &r) != FEAT_OK)
        return die("extract", feat_text_extractor_last_error(ex));
    double t2 = now(), process_first = since_process_start();
    feat_result_free(r);
    double t3 = now();
    if (feat_text_extractor_extract(ex, (const char *const *)lines, NULL, n, &r) != FEAT_OK)
        return die("extract", feat_text_extractor_last_error(ex));
    double t4 = now();
    feat_result_free(r);
    feat_text_extractor_free(ex);
    printf("items=%zu seconds=%.4f load_seconds=%.4f first_seconds=%.4f process_first_seconds=%.4f\n", n, t4 - t3,
           t1 - t0, t2 - t0, process_first);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return 0;
}

static int bench_memory(const char *model, const char *spec, uint32_t batch, long total, char **files, int n)
{
    double t0 = now();
    feat_image_extractor *ex = open_image_extractor(model, spec, batch);
    if (!ex)
        return 1;
    double t1 = now(), warm = 0, last = 0;
    long done = 0, failed = 0, next_sample = 1000;
    while (done < total) {
        size_t k = (size_t)(total - done < n ? total - done : n);
        feat_result *r;
        if (feat_image_extractor_extract_files(ex, (const char *const *)files, k, &r) != FEAT_OK)
            return die("extract", feat_image_extractor_last_error(ex));
        failed += (long)feat_result_n_failed(r); /* bad files are part of the workload */
        feat_result_free(r);
        done += (long)k;
        if (done >= next_sample || done == total) {
            last = rss_mb();
            if (!warm)
                warm = last;
            fprintf(stderr, "bench_model: %ld images, resident %.0f MB\n", done, last);
            next_sample += 1000;
        }
    }
    double t2 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    feat_image_extractor_free(ex);
    printf("items=%ld failed=%ld seconds=%.4f load_seconds=%.4f first_seconds=%.4f rss_warm_mb=%.0f rss_end_mb=%.0f "
           "rss_peak_mb=%.0f\n",
           done, failed, t2 - t1, t1 - t0, t1 - t0, warm, last, (double)ru.ru_maxrss / 1024.0);
    return 0;
}

int main(int argc, char **argv)
{
    feat_keep_freed_memory();
    if (argc < 6)
        return die("usage", "see bench/bench_model.c");
    const char *mode = argv[1], *model = argv[2], *spec = argv[3];
    const char *threads = getenv("BENCH_THREADS");
    if (threads && feat_global_set_threads(atoi(threads)) != FEAT_OK)
        return die("threads", feat_last_error());
    uint32_t batch = (uint32_t)atoi(argv[4]);
    if (strcmp(mode, "image") == 0)
        return bench_image(model, spec, batch, argv + 5, argc - 5);
    if (strcmp(mode, "model") == 0)
        return bench_model_only(model, spec, batch, atoi(argv[5]));
    if (strcmp(mode, "text") == 0)
        return bench_text(model, spec, batch, argv[5]);
    if (strcmp(mode, "memory") == 0 && argc > 6)
        return bench_memory(model, spec, batch, atol(argv[5]), argv + 6, argc - 6);
    return die("usage", "mode is image, model, text or memory");
}
