/* SPDX-License-Identifier: MIT */
/* Test driver: adds the taps of a spec to a model exactly as the extractors do (resolve,
 * graph surgery, freeze, optimize) and writes each tap's raw output for a given input to
 * OUTDIR/tapK.npy, so the parity tests compare them with PyTorch forward hooks.
 *
 *   tap_probe MODEL SPEC OUTDIR image INPUT.f32 B C H W
 *   tap_probe MODEL SPEC OUTDIR text IDS.i64 MASK.i64 TYPES.i64 B S
 *
 * Errors print "error: STATUS: message" and exit 3. */
#include "core/npy.h"
#include "extract/tapped.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_all(const char *path, size_t want)
{
    FILE *f = fopen(path, "rb");
    void *buf = malloc(want ? want : 1);
    if (!f || !buf || fread(buf, 1, want, f) != want) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", want, path);
        exit(2);
    }
    fclose(f);
    return buf;
}

static int fail(const feat_error *e)
{
    printf("error: %s: %s\n", feat_status_name(e->code), e->msg);
    return 3;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: see the comment at the top of tap_probe.c\n");
        return 2;
    }
    const char *model = argv[1], *spec = argv[2], *outdir = argv[3], *kind = argv[4];
    feat_error e = {0};
    feat_tapped t;
    feat_model_options mo = {.taps = (char *)spec, .fusion = FEAT_FUSION_CONCAT, .precision = FEAT_PRECISION_FP32};
    if (feat_tapped_load(&t, model, &mo, &e) != FEAT_OK)
        return fail(&e);
    feat_shim_outputs *o = NULL;
    feat_status st;
    if (strcmp(kind, "image") == 0 && argc == 10) {
        long b = atol(argv[6]), c = atol(argv[7]), h = atol(argv[8]), w = atol(argv[9]);
        float *x = read_all(argv[5], (size_t)(b * c * h * w) * sizeof(float));
        st = feat_shim_run_image(t.model, x, b, c, h, w, &o, &e);
        free(x);
    } else if (strcmp(kind, "text") == 0 && argc == 10) {
        long b = atol(argv[8]), s = atol(argv[9]);
        size_t bytes = (size_t)(b * s) * sizeof(int64_t);
        int64_t *ids = read_all(argv[5], bytes), *mask = read_all(argv[6], bytes), *types = read_all(argv[7], bytes);
        st = feat_shim_run_text(t.model, ids, mask, types, b, s, &o, &e);
        free(ids);
        free(mask);
        free(types);
    } else {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (st != FEAT_OK)
        return fail(&e);
    /* Pooling checks run too, so a spec whose pooling does not fit fails here as in load. */
    if (feat_tapped_probe(&t, o, &e) != FEAT_OK)
        return fail(&e);
    for (size_t i = 0; i < feat_shim_outputs_n(o); i++) {
        int64_t dims[FEAT_SHIM_MAX_DIMS];
        size_t nd = feat_shim_outputs_shape(o, i, dims);
        size_t inner[4], rows = (size_t)dims[0];
        for (size_t k = 1; k < nd && k < 5; k++)
            inner[k - 1] = (size_t)dims[k];
        char path[4096];
        snprintf(path, sizeof path, "%s/tap%zu.npy", outdir, i);
        feat_npy_writer *w;
        if (feat_npy_open_shape(path, inner, nd - 1, &w, &e) != FEAT_OK ||
            feat_npy_append(w, feat_shim_outputs_data(o, i), rows, &e) != FEAT_OK || feat_npy_close(w, &e) != FEAT_OK)
            return fail(&e);
        printf("%s\n", t.tap_names[i]);
    }
    feat_shim_outputs_free(o);
    feat_tapped_release(&t);
    return 0;
}
