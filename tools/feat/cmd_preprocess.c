#include "cli.h"

#include "core/npy.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cmd_preprocess(int argc, char **argv)
{
    static const struct option opts[] = {
        {"preset", required_argument, 0, 'p'}, {"resize", required_argument, 0, 'r'},
        {"crop", required_argument, 0, 'c'},   {"interpolation", required_argument, 0, 'i'},
        {"exif", no_argument, 0, 'e'},         {"fast", no_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *output = NULL;
    feat_image_options *o;
    if (feat_image_options_new(&o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    uint32_t crop = 224;
    feat_status st = FEAT_OK;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            st = strcmp(optarg, "torchvision") == 0    ? feat_image_options_set_preset(o, FEAT_PRESET_TORCHVISION)
                 : strcmp(optarg, "keras-vgg16") == 0 ? feat_image_options_set_preset(o, FEAT_PRESET_KERAS_VGG16)
                                                       : (fprintf(stderr, "feat: unknown preset '%s'\n", optarg), -100);
            break;
        case 'r': st = feat_image_options_set_resize(o, (uint32_t)parse_ulong("--resize", optarg, 65535)); break;
        case 'c':
            crop = (uint32_t)parse_ulong("--crop", optarg, 65535);
            st = feat_image_options_set_crop(o, crop, crop);
            if (crop == 0)
                crop = 224;
            break;
        case 'i': {
            static const char *const names[] = {"nearest", "bilinear", "bicubic", "lanczos"};
            int k = 0;
            for (int j = 0; j < 4; j++)
                if (strcmp(optarg, names[j]) == 0)
                    k = j + 1;
            st = k ? feat_image_options_set_interpolation(o, (feat_interpolation)k)
                   : (fprintf(stderr, "feat: unknown interpolation '%s'\n", optarg), -100);
            break;
        }
        case 'e': st = feat_image_options_set_exif_orientation(o, 1); break;
        case 'f': st = feat_image_options_set_decode_mode(o, FEAT_DECODE_FAST); break;
        case 'o': output = optarg; break;
        case 'h':
            printf("usage: feat preprocess [--preset P] [--resize N] [--crop N] [--interpolation I] [--exif]\n"
                   "                       [--fast] -o OUT.npy FILES...\n"
                   "Writes the model input tensors, float32 (N, 3, crop, crop); NaN for files that fail.\n");
            return 0;
        default: return 2;
        }
        if (st == -100)
            return 2;
        if (st != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            return 2;
        }
    }
    if (!output || optind >= argc) {
        fprintf(stderr, "usage: feat preprocess [options] -o OUT.npy FILES...\n");
        return 2;
    }
    /* Every preset produces crop x crop (224 unless --crop says otherwise). */
    size_t need = 3 * (size_t)crop * crop;
    size_t inner[3] = {3, crop, crop};
    feat_error err = {0};
    feat_npy_writer *w;
    if (feat_npy_open_shape(output, inner, 3, &w, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return 1;
    }
    float *buf = malloc(need * sizeof *buf);
    if (!buf) {
        feat_npy_abort(w);
        return 1;
    }
    size_t failed = 0;
    for (int i = optind; i < argc; i++) {
        if (feat_image_preprocess_file(o, argv[i], buf, need, NULL) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            failed++;
            for (size_t k = 0; k < need; k++)
                buf[k] = __builtin_nanf("");
        }
        if (feat_npy_append(w, buf, 1, &err) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", err.msg);
            feat_npy_abort(w);
            free(buf);
            return 1;
        }
    }
    free(buf);
    feat_image_options_free(o);
    if (feat_npy_close(w, &err) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", err.msg);
        return 1;
    }
    return failed == (size_t)(argc - optind) ? 1 : 0;
}
