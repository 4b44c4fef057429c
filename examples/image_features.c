/* SPDX-License-Identifier: MIT */
/* The seed's first example from C: features of a folder's images with VGG16, one row each.
 *
 *   image_features MODEL.pt TAPS IMAGE...      e.g. vgg16.pt 'features.30:gap' a.jpg b.png
 *
 * Prints, per image, its status and the first values of its feature row. */
#include <feat/feat.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.pt TAPS IMAGE...\n", argv[0]);
        return 2;
    }
    feat_image_options *opts;
    feat_image_extractor *ex;
    feat_result *res;
    if (feat_image_options_new(&opts) != FEAT_OK || feat_image_options_set_taps(opts, argv[2]) != FEAT_OK) {
        fprintf(stderr, "options: %s\n", feat_last_error());
        return 1;
    }
    if (feat_image_extractor_new(&ex) != FEAT_OK) {
        fprintf(stderr, "%s\n", feat_last_error());
        return 1;
    }
    if (feat_image_extractor_load(ex, argv[1], opts) != FEAT_OK) {
        fprintf(stderr, "load: %s\n", feat_image_extractor_last_error(ex));
        feat_image_extractor_free(ex);
        feat_image_options_free(opts);
        return 1;
    }
    feat_image_options_free(opts); /* the extractor keeps its own copy */
    size_t n = (size_t)(argc - 3);
    if (feat_image_extractor_extract_files(ex, (const char *const *)argv + 3, n, &res) != FEAT_OK) {
        fprintf(stderr, "extract: %s\n", feat_image_extractor_last_error(ex));
        feat_image_extractor_free(ex);
        return 1;
    }
    size_t dim = feat_result_dim(res);
    const float *rows = feat_result_data(res);
    printf("%zu images, %zu features each (taps: %s)\n", n, dim, feat_image_extractor_tap(ex, 0));
    for (size_t i = 0; i < n; i++) {
        if (feat_result_item_status(res, i) != FEAT_OK) {
            printf("%s\n", feat_result_item_error(res, i)); /* the message names the file */
            continue;
        }
        const float *row = rows + i * dim;
        printf("%s: %.4f %.4f %.4f ...\n", argv[3 + i], row[0], dim > 1 ? row[1] : 0.0f, dim > 2 ? row[2] : 0.0f);
    }
    feat_result_free(res); /* any order: the result does not need the extractor */
    feat_image_extractor_free(ex);
    return 0;
}
