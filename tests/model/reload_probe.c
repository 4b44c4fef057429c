/* SPDX-License-Identifier: MIT */
/* Test driver: failed loads retried on one extractor, then a load that works.
 *
 *   reload_probe IMAGE_MODEL IMAGE BAD_PATH...
 *
 * Loads each BAD_PATH into one image extractor and into one text extractor (each load must
 * fail), then IMAGE_MODEL into the image extractor, extracts IMAGE and frees both. Under
 * valgrind (tests/model/test_valgrind.py) nothing may leak: a failed load leaves the extractor
 * as new. Prints each failed load's message, then "ok: N failed loads, dim D", and exits 0;
 * else says what went wrong and exits 1. */
#include <feat/feat.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: reload_probe IMAGE_MODEL IMAGE BAD_PATH...\n");
        return 2;
    }
    feat_image_options *io;
    feat_text_options *to;
    feat_image_extractor *ex;
    feat_text_extractor *tx;
    if (feat_image_options_new(&io) != FEAT_OK || feat_text_options_new(&to) != FEAT_OK ||
        feat_image_extractor_new(&ex) != FEAT_OK || feat_text_extractor_new(&tx) != FEAT_OK)
        return 1;
    /* Strings in the options, so that a leaked copy of them shows. */
    feat_image_options_set_taps(io, "0:gap");
    feat_image_options_set_device(io, "cpu");
    feat_text_options_set_taps(to, "0:gap"); /* a module of every model here: text loads fail later */
    int failed = 0;
    for (int i = 3; i < argc; i++) {
        if (feat_image_extractor_load(ex, argv[i], io) == FEAT_OK ||
            feat_text_extractor_load(tx, argv[i], NULL, to) == FEAT_OK) {
            printf("loading %s worked\n", argv[i]);
            return 1;
        }
        printf("image: %s\ntext: %s\n", feat_image_extractor_last_error(ex), feat_text_extractor_last_error(tx));
        failed += 2;
    }
    if (feat_image_extractor_load(ex, argv[1], io) != FEAT_OK) {
        printf("loading %s: %s\n", argv[1], feat_image_extractor_last_error(ex));
        return 1;
    }
    const char *paths[] = {argv[2]};
    feat_result *r = NULL;
    if (feat_image_extractor_extract_files(ex, paths, 1, &r) != FEAT_OK || feat_result_n_failed(r)) {
        printf("extracting %s: %s\n", argv[2], feat_image_extractor_last_error(ex));
        return 1;
    }
    printf("ok: %d failed loads, dim %zu\n", failed, feat_result_dim(r));
    feat_result_free(r);
    feat_image_extractor_free(ex);
    feat_text_extractor_free(tx);
    feat_image_options_free(io);
    feat_text_options_free(to);
    return 0;
}
