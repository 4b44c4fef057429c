/* SPDX-License-Identifier: MIT */
/* feat preprocess: the model input tensors of image files, as the extractor would make them. */
#include "cli.h"

#include "core/npy.h"

#include <stdlib.h>

#define DEFAULT_CROP 224

static const cli_option options[] = {
    CLI_IMAGE_PREPROCESSING,
    CLI_REQUIRED(CLI_OUTPUT, "where the tensors go"),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

/* Appends the tensor of each file to w (NaN for files that fail); returns how many failed,
 * or -1 when w could not be written. */
static long preprocess_files(const feat_image_options *o, char **files, int n, uint32_t crop, feat_npy_writer *w)
{
    size_t need = 3 * (size_t)crop * crop;
    float *buf = malloc(need * sizeof *buf);
    if (!buf)
        return -1;
    long failed = 0;
    feat_error err = {0};
    for (int i = 0; i < n && failed >= 0; i++) {
        if (feat_image_preprocess_file(o, files[i], buf, need, NULL) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            failed++;
            for (size_t k = 0; k < need; k++)
                buf[k] = __builtin_nanf("");
        }
        if (feat_npy_append(w, buf, 1, &err) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", err.msg);
            failed = -1;
        }
    }
    free(buf);
    return failed;
}

/* Writes the tensors of files into -o; returns the exit status. */
static int run(char **files, int n, cli_common *c, void *unused)
{
    (void)unused;
    /* Every preset produces crop x crop (224 unless --crop says otherwise). */
    uint32_t crop = c->crop ? c->crop : DEFAULT_CROP;
    size_t inner[3] = {3, crop, crop};
    feat_error err = {0};
    feat_npy_writer *w;
    if (feat_npy_open_shape(c->output, inner, 3, &w, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return 1;
    }
    long failed = preprocess_files(c->opts, files, n, crop, w);
    if (failed < 0) {
        feat_npy_abort(w);
        return 1;
    }
    if (feat_npy_close(w, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return 1;
    }
    return failed == n ? 1 : 0;
}

static const cli_command command = {
    .usage = "preprocess [options] -o OUT.npy FILES...",
    .about = "Writes the model input tensors, float32 (N, 3, crop, crop); NaN for files that fail.\n",
    .options = options,
    .operands = CLI_SOME_OPERANDS,
    .type = &cli_image_options,
    .run = run};

int cmd_preprocess(int argc, char **argv) { return cli_main(&command, argc, argv, NULL); }
