/* SPDX-License-Identifier: MIT */
/* preprocess_dump: writes the preprocessed float32 tensor (3 x crop_h x crop_w, CHW, native
 * endianness) of image files, through the public feat_image_preprocess_file(), so the Python
 * parity test can compare it with Pillow/torchvision without libtorch.
 *
 *   preprocess_dump [options] IN OUT [IN OUT ...]
 *     --preset torchvision|keras-vgg16   --resize N   --crop W H
 *     --interp nearest|bilinear|bicubic|lanczos      --mean A B C   --std A B C
 *     --exif   --fast   --max-pixels N
 *
 * For a file that fails it prints "ERROR <IN> <STATUS_NAME> <message>" on stdout, writes no
 * OUT, and the exit status is 3; usage errors exit 2. */
#include "feat/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "preprocess_dump: %s: %s\n", what, feat_last_error());
    return 2;
}

int main(int argc, char **argv)
{
    feat_image_options *o;
    if (feat_image_options_new(&o) != FEAT_OK)
        return die("options");
    int i = 1;
    float mean[3], std[3];
    int has_mean = 0, has_std = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        feat_status st = FEAT_OK;
        if (!strcmp(a, "--preset") && i + 1 < argc) {
            const char *v = argv[++i];
            st = feat_image_options_set_preset(o, !strcmp(v, "keras-vgg16")   ? FEAT_PRESET_KERAS_VGG16
                                                  : !strcmp(v, "torchvision") ? FEAT_PRESET_TORCHVISION
                                                                              : (feat_image_preset)99);
        } else if (!strcmp(a, "--resize") && i + 1 < argc) {
            st = feat_image_options_set_resize(o, (uint32_t)strtoul(argv[++i], NULL, 10));
        } else if (!strcmp(a, "--crop") && i + 2 < argc) {
            uint32_t w = (uint32_t)strtoul(argv[i + 1], NULL, 10), h = (uint32_t)strtoul(argv[i + 2], NULL, 10);
            i += 2;
            st = feat_image_options_set_crop(o, w, h);
        } else if (!strcmp(a, "--interp") && i + 1 < argc) {
            const char *v = argv[++i];
            feat_interpolation k = !strcmp(v, "nearest")    ? FEAT_INTERP_NEAREST
                                   : !strcmp(v, "bilinear") ? FEAT_INTERP_BILINEAR
                                   : !strcmp(v, "bicubic")  ? FEAT_INTERP_BICUBIC
                                   : !strcmp(v, "lanczos")  ? FEAT_INTERP_LANCZOS
                                                            : (feat_interpolation)99;
            st = feat_image_options_set_interpolation(o, k);
        } else if ((!strcmp(a, "--mean") || !strcmp(a, "--std")) && i + 3 < argc) {
            float *dst = a[2] == 'm' ? mean : std;
            for (int c = 0; c < 3; c++)
                dst[c] = strtof(argv[i + 1 + c], NULL);
            i += 3;
            if (a[2] == 'm')
                has_mean = 1;
            else
                has_std = 1;
        } else if (!strcmp(a, "--exif")) {
            st = feat_image_options_set_exif_orientation(o, 1);
        } else if (!strcmp(a, "--fast")) {
            st = feat_image_options_set_decode_mode(o, FEAT_DECODE_FAST);
        } else if (!strcmp(a, "--max-pixels") && i + 1 < argc) {
            st = feat_image_options_set_max_pixels(o, strtoull(argv[++i], NULL, 10));
        } else {
            fprintf(stderr, "preprocess_dump: unknown option %s\n", a);
            return 2;
        }
        if (st != FEAT_OK)
            return die(a);
    }
    if ((has_mean || has_std) &&
        feat_image_options_set_mean_std(o, has_mean ? mean : NULL, has_std ? std : NULL) != FEAT_OK)
        return die("--mean/--std");
    if (i >= argc || (argc - i) % 2) {
        fprintf(stderr, "usage: preprocess_dump [options] IN OUT [IN OUT ...]\n");
        return 2;
    }
    size_t need = 0;
    /* A zero-sized query reports the size needed. */
    if (feat_image_preprocess_encoded(o, "", 0, NULL, 0, &need) != FEAT_E_BUFFER_TOO_SMALL || need == 0)
        return die("size query");
    float *buf = malloc(need * sizeof *buf);
    if (!buf)
        return 2;
    int rc = 0;
    for (; i + 1 < argc; i += 2) {
        feat_status st = feat_image_preprocess_file(o, argv[i], buf, need, NULL);
        if (st != FEAT_OK) {
            printf("ERROR %s %s %s\n", argv[i], feat_status_name(st), feat_last_error());
            rc = 3;
            continue;
        }
        FILE *f = fopen(argv[i + 1], "wb");
        if (!f || fwrite(buf, sizeof *buf, need, f) != need || fclose(f) != 0) {
            fprintf(stderr, "preprocess_dump: cannot write %s\n", argv[i + 1]);
            free(buf);
            return 2;
        }
    }
    free(buf);
    feat_image_options_free(o);
    return rc;
}
