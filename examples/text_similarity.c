/* SPDX-License-Identifier: MIT */
/* The seed's second example from C: BERT features of two sentences and their similarity.
 *
 *   text_similarity MODEL.pt [TAPS] [SENTENCE_A SENTENCE_B]
 *
 * With the default taps this is the seed's [CLS] of the last layer; with all-MiniLM-L6-v2
 * and 'encoder.layer.-1:mean' it is the sentence-transformers embedding. The vocabulary comes
 * from the model's side-car. */
#include <feat/feat.h>

#include <math.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.pt [TAPS] [SENTENCE_A SENTENCE_B]\n", argv[0]);
        return 2;
    }
    const char *taps = argc > 2 ? argv[2] : NULL;
    const char *texts[2] = {"A man is eating food.", "A man is eating a piece of bread."};
    if (argc > 4) {
        texts[0] = argv[3];
        texts[1] = argv[4];
    }
    feat_text_options *opts;
    feat_text_extractor *ex;
    feat_result *res;
    feat_text_options_new(&opts);
    if (taps && feat_text_options_set_taps(opts, taps) != FEAT_OK) {
        fprintf(stderr, "taps: %s\n", feat_last_error());
        return 1;
    }
    feat_text_extractor_new(&ex);
    if (feat_text_extractor_load(ex, argv[1], NULL, opts) != FEAT_OK) {
        fprintf(stderr, "load: %s\n", feat_text_extractor_last_error(ex));
        return 1;
    }
    feat_text_options_free(opts);
    if (feat_text_extractor_extract(ex, texts, NULL, 2, &res) != FEAT_OK || feat_result_n_failed(res)) {
        fprintf(stderr, "extract: %s %s\n", feat_text_extractor_last_error(ex), feat_result_item_error(res, 0));
        return 1;
    }
    size_t dim = feat_result_dim(res);
    const float *a = feat_result_data(res), *b = a + dim;
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < dim; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    printf("%zu features per sentence (%s)\n", dim, feat_text_extractor_tap(ex, 0));
    printf("cosine(\"%s\", \"%s\") = %.4f\n", texts[0], texts[1], dot / sqrt(na * nb));
    feat_result_free(res);
    feat_text_extractor_free(ex);
    return 0;
}
