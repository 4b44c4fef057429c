/* SPDX-License-Identifier: MIT */
/* Tap spec grammar, resolution against a module list, pooling arithmetic. */
#include "../check.h"
#include "taps/taps.h"

#include <math.h>

static const char *const bert_paths[] = {
    "embeddings",      "embeddings.word_embeddings", "encoder",         "encoder.layer",
    "encoder.layer.0", "encoder.layer.0.attention",  "encoder.layer.1", "encoder.layer.1.attention",
    "encoder.layer.2", "encoder.layer.2.attention",  "encoder.layer.3", "encoder.layer.3.attention",
    "pooler"};
static const feat_module_list bert = {sizeof bert_paths / sizeof *bert_paths, bert_paths};

static const char *const vgg_paths[] = {"features",   "features.0", "features.1", "features.2",
                                        "features.3", "avgpool",    "classifier", "classifier.0"};
static const feat_module_list vgg = {sizeof vgg_paths / sizeof *vgg_paths, vgg_paths};

static void test_parse(void)
{
    feat_tap_list l;
    feat_error e = {0};
    CHECK_EQ_INT(feat_taps_parse("features.29:gap, features.22:gmp", &l, &e), FEAT_OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK(strcmp(l.taps[0].path, "features.29") == 0);
    CHECK_EQ_INT(l.taps[0].pool, FEAT_POOL_GAP);
    CHECK(strcmp(l.taps[1].path, "features.22") == 0);
    CHECK_EQ_INT(l.taps[1].pool, FEAT_POOL_GMP);
    CHECK_EQ_INT(l.taps[1].call, -1);

    CHECK_EQ_INT(feat_taps_parse("layer4.2.relu@1", &l, &e), FEAT_OK);
    CHECK_EQ_INT(l.taps[0].call, 1);
    CHECK_EQ_INT(l.taps[0].pool, FEAT_POOL_AUTO);
    CHECK_EQ_INT(feat_taps_parse("encoder.layer.-4..-1:cls", &l, &e), FEAT_OK);
    CHECK(strcmp(l.taps[0].path, "encoder.layer.-4..-1") == 0);

    static const char *const bad[] = {"",
                                      "   ",
                                      ",",
                                      "features.29,",
                                      "features..29",
                                      "features.29:avg",
                                      "features.:gap",
                                      ".features",
                                      "features.2x",
                                      "a.1..2.3..4",
                                      "layer@",
                                      "layer@-1",
                                      "layer@x",
                                      ":gap",
                                      "features.29:"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        feat_error_clear(&e);
        feat_status st = feat_taps_parse(bad[i], &l, &e);
        CHECK(st == FEAT_E_INVALID_ARGUMENT);
        CHECK(e.msg[0] != '\0');
        if (st == FEAT_OK)
            fprintf(stderr, "  accepted bad spec '%s'\n", bad[i]);
    }
    CHECK_EQ_INT(feat_taps_parse(NULL, &l, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS((feat_taps_parse("x:avg", &l, &e), e.msg), "unknown pooling 'avg'");
    CHECK_STR_HAS((feat_taps_parse("", &l, &e), e.msg), "empty");

    /* Absurd specs: a huge one and too many taps are limits, not crashes. */
    static char huge[70000];
    memset(huge, 'a', sizeof huge - 1);
    CHECK_EQ_INT(feat_taps_parse(huge, &l, &e), FEAT_E_LIMIT);
    char many[4096] = "";
    for (int i = 0; i < 100; i++)
        strcat(many, i ? ",a" : "a");
    CHECK_EQ_INT(feat_taps_parse(many, &l, &e), FEAT_E_LIMIT);
}

static void test_resolve(void)
{
    feat_tap_list in, out;
    feat_error e = {0};
    CHECK_EQ_INT(feat_taps_parse("encoder.layer.-1:mean,encoder.layer.0", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &bert, &out, &e), FEAT_OK);
    CHECK_EQ_INT(out.n, 2);
    CHECK(strcmp(out.taps[0].path, "encoder.layer.3") == 0);
    CHECK_EQ_INT(out.taps[0].pool, FEAT_POOL_MEAN);
    CHECK(strcmp(out.taps[1].path, "encoder.layer.0") == 0);

    CHECK_EQ_INT(feat_taps_parse("encoder.layer.-3..-1:cls", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &bert, &out, &e), FEAT_OK);
    CHECK_EQ_INT(out.n, 3);
    CHECK(strcmp(out.taps[0].path, "encoder.layer.1") == 0);
    CHECK(strcmp(out.taps[2].path, "encoder.layer.3") == 0);
    CHECK_EQ_INT(out.taps[2].pool, FEAT_POOL_CLS);

    /* A range with a suffix: one tap per block. */
    CHECK_EQ_INT(feat_taps_parse("encoder.layer.0..1.attention", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &bert, &out, &e), FEAT_OK);
    CHECK_EQ_INT(out.n, 2);
    CHECK(strcmp(out.taps[1].path, "encoder.layer.1.attention") == 0);

    CHECK_EQ_INT(feat_taps_parse("features.-1", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &vgg, &out, &e), FEAT_OK);
    CHECK(strcmp(out.taps[0].path, "features.3") == 0);

    /* Unknown paths name their closest matches. */
    CHECK_EQ_INT(feat_taps_parse("feature.3", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &vgg, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "no layer 'feature.3'");
    CHECK_STR_HAS(e.msg, "'features.3'");
    CHECK_EQ_INT(feat_taps_parse("features.9", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &vgg, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_EQ_INT(feat_taps_parse("encoder.layer.-5", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &bert, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "has 4 children");
    CHECK_EQ_INT(feat_taps_parse("encoder.layer.2..1", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &bert, &out, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_taps_parse("pooler.-1", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &bert, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "no numbered children");
}

/* torchvision's ViT names its blocks encoder_layer_N, DenseNet denselayerN from 1: an index
 * is the number in the name; a negative one counts from the last. */
static const char *const named_paths[] = {"encoder",
                                          "encoder.layers",
                                          "encoder.layers.encoder_layer_0",
                                          "encoder.layers.encoder_layer_1",
                                          "encoder.layers.encoder_layer_2",
                                          "encoder.ln",
                                          "features",
                                          "features.conv0",
                                          "features.denseblock1",
                                          "features.denseblock1.denselayer1",
                                          "features.denseblock1.denselayer2",
                                          "features.denseblock1.denselayer3",
                                          "features.transition1",
                                          "features.denseblock2",
                                          "features.denseblock2.denselayer1"};
static const feat_module_list named = {sizeof named_paths / sizeof *named_paths, named_paths};

static void check_resolves(const char *spec, const char *const *want, size_t n_want)
{
    feat_tap_list in, out;
    feat_error e = {0};
    CHECK_EQ_INT(feat_taps_parse(spec, &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_OK);
    CHECK_EQ_INT(out.n, n_want);
    for (size_t i = 0; i < n_want && i < out.n; i++)
        CHECK(strcmp(out.taps[i].path, want[i]) == 0);
}

static void test_resolve_named_children(void)
{
    check_resolves("encoder.layers.1", (const char *[]){"encoder.layers.encoder_layer_1"}, 1);
    check_resolves("encoder.layers.-1", (const char *[]){"encoder.layers.encoder_layer_2"}, 1);
    check_resolves("encoder.layers.0..-2",
                   (const char *[]){"encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"}, 2);
    check_resolves("features.denseblock1.1", (const char *[]){"features.denseblock1.denselayer1"}, 1);
    check_resolves("features.denseblock1.-1", (const char *[]){"features.denseblock1.denselayer3"}, 1);
    check_resolves("features.denseblock1.2..3",
                   (const char *[]){"features.denseblock1.denselayer2", "features.denseblock1.denselayer3"}, 2);
    check_resolves("encoder.layers.encoder_layer_2", (const char *[]){"encoder.layers.encoder_layer_2"}, 1);

    feat_tap_list in, out;
    feat_error e = {0};
    /* DenseNet's features mixes conv0, denseblock1, transition1...: no numbering there. */
    CHECK_EQ_INT(feat_taps_parse("features.-1", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "no numbered children");
    /* 0 is not a denselayer number: no layer, and the close ones are named. */
    CHECK_EQ_INT(feat_taps_parse("features.denseblock1.0", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "closest: 'features.denseblock1'");
    CHECK_EQ_INT(feat_taps_parse("encoder.layers.-4", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "has 3 children");
    CHECK_EQ_INT(feat_taps_parse("encoder.layers.0..5", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "has children 0..2");
    /* A typo before a negative index names the close paths of what was meant. */
    CHECK_EQ_INT(feat_taps_parse("encoder.layr.-1", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "no layer 'encoder.layr' (from 'encoder.layr.-1')");
    CHECK_STR_HAS(e.msg, "closest: 'encoder.layers'");
    CHECK_EQ_INT(feat_taps_parse("encoder.layr.0..1", &in, &e), FEAT_OK);
    CHECK_EQ_INT(feat_taps_resolve(&in, &named, &out, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "'encoder.layers'");
}

static void test_pool(void)
{
    feat_error e = {0};
    const feat_layout N = FEAT_LAYOUT_NCHW, T = FEAT_LAYOUT_TOKENS;
    /* [2, 2, 1, 3] feature map */
    const float fm[] = {1, 2, 3, -1, -2, -3, /* item 0 */ 4, 5, 6, 0, 0, 9 /* item 1 */};
    feat_tensor_shape s4 = {4, {2, 2, 1, 3}};
    feat_pool p = FEAT_POOL_AUTO;
    size_t dim;
    CHECK_EQ_INT(feat_pool_check("x", &p, N, &s4, &dim, &e), FEAT_OK);
    CHECK_EQ_INT(p, FEAT_POOL_FLATTEN);
    CHECK_EQ_INT(dim, 6);
    float out[6];
    feat_pool_apply(FEAT_POOL_FLATTEN, N, fm, &s4, 1, NULL, out);
    CHECK(out[0] == 4 && out[5] == 9);
    p = FEAT_POOL_GAP;
    CHECK_EQ_INT(feat_pool_check("x", &p, N, &s4, &dim, &e), FEAT_OK);
    CHECK_EQ_INT(dim, 2);
    feat_pool_apply(FEAT_POOL_GAP, N, fm, &s4, 0, NULL, out);
    CHECK(out[0] == 2.0f && out[1] == -2.0f);
    feat_pool_apply(FEAT_POOL_GMP, N, fm, &s4, 1, NULL, out);
    CHECK(out[0] == 6.0f && out[1] == 9.0f);
    p = FEAT_POOL_CLS;
    CHECK_EQ_INT(feat_pool_check("x", &p, N, &s4, &dim, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "token sequence");

    /* The same numbers read channels last: [2, 2, 1, 3] is H=2, W=1, C=3 per item. */
    p = FEAT_POOL_GAP;
    CHECK_EQ_INT(feat_pool_check("x", &p, FEAT_LAYOUT_NHWC, &s4, &dim, &e), FEAT_OK);
    CHECK_EQ_INT(dim, 3);
    feat_pool_apply(FEAT_POOL_GAP, FEAT_LAYOUT_NHWC, fm, &s4, 0, NULL, out);
    CHECK(out[0] == 0.0f && out[1] == 0.0f && out[2] == 0.0f);
    feat_pool_apply(FEAT_POOL_GAP, FEAT_LAYOUT_NHWC, fm, &s4, 1, NULL, out);
    CHECK(out[0] == 2.0f && out[1] == 2.5f && out[2] == 7.5f);
    feat_pool_apply(FEAT_POOL_GMP, FEAT_LAYOUT_NHWC, fm, &s4, 0, NULL, out);
    CHECK(out[0] == 1.0f && out[1] == 2.0f && out[2] == 3.0f);
    /* Unknown layout: gap and gmp are refused, flatten is not (it keeps every value). */
    p = FEAT_POOL_GMP;
    CHECK_EQ_INT(feat_pool_check("features.3", &p, FEAT_LAYOUT_UNKNOWN, &s4, &dim, &e), FEAT_E_MODEL);
    CHECK_STR_HAS(e.msg, "tap 'features.3:gmp': the layout of its [2, 2, 1, 3] output is unknown");
    CHECK_STR_HAS(e.msg, "\"layouts\"");
    p = FEAT_POOL_FLATTEN;
    CHECK_EQ_INT(feat_pool_check("x", &p, FEAT_LAYOUT_UNKNOWN, &s4, &dim, &e), FEAT_OK);
    p = FEAT_POOL_GAP;
    CHECK_EQ_INT(feat_pool_check("x", &p, T, &s4, &dim, &e), FEAT_E_MODEL);
    CHECK_STR_HAS(e.msg, "layout 'tokens'");

    /* [1, 3, 2] token sequence with the last token padded */
    const float seq[] = {1, 10, 3, 30, 100, 1000};
    const int64_t mask[] = {1, 1, 0};
    feat_tensor_shape s3 = {3, {1, 3, 2}};
    p = FEAT_POOL_AUTO;
    CHECK_EQ_INT(feat_pool_check("x", &p, T, &s3, &dim, &e), FEAT_OK);
    CHECK_EQ_INT(p, FEAT_POOL_CLS);
    CHECK_EQ_INT(dim, 2);
    feat_pool_apply(FEAT_POOL_CLS, T, seq, &s3, 0, mask, out);
    CHECK(out[0] == 1 && out[1] == 10);
    feat_pool_apply(FEAT_POOL_MEAN, T, seq, &s3, 0, mask, out);
    CHECK(out[0] == 2 && out[1] == 20);
    feat_pool_apply(FEAT_POOL_MAX, T, seq, &s3, 0, mask, out);
    CHECK(out[0] == 3 && out[1] == 30);
    feat_pool_apply(FEAT_POOL_MEAN, T, seq, &s3, 0, NULL, out);
    CHECK(fabsf(out[0] - 104.0f / 3) < 1e-5f);
    /* A class token at 0: mean and max take the patch tokens 1.. only. */
    feat_pool_apply(FEAT_POOL_MEAN, FEAT_LAYOUT_CLS_TOKENS, seq, &s3, 0, NULL, out);
    CHECK(out[0] == 51.5f && out[1] == 515.0f);
    feat_pool_apply(FEAT_POOL_MAX, FEAT_LAYOUT_CLS_TOKENS, seq, &s3, 0, NULL, out);
    CHECK(out[0] == 100.0f && out[1] == 1000.0f);
    feat_pool_apply(FEAT_POOL_CLS, FEAT_LAYOUT_CLS_TOKENS, seq, &s3, 0, NULL, out);
    CHECK(out[0] == 1.0f && out[1] == 10.0f);
    p = FEAT_POOL_FLATTEN; /* an image transformer's sequence has a fixed length */
    CHECK_EQ_INT(feat_pool_check("x", &p, FEAT_LAYOUT_CLS_TOKENS, &s3, &dim, &e), FEAT_OK);
    CHECK_EQ_INT(dim, 6);
    feat_tensor_shape s1 = {3, {1, 1, 2}};
    p = FEAT_POOL_MEAN;
    CHECK_EQ_INT(feat_pool_check("x", &p, FEAT_LAYOUT_CLS_TOKENS, &s1, &dim, &e), FEAT_E_MODEL);
    p = FEAT_POOL_MEAN;
    CHECK_EQ_INT(feat_pool_check("x", &p, FEAT_LAYOUT_UNKNOWN, &s3, &dim, &e), FEAT_E_MODEL);
    CHECK_STR_HAS(e.msg, "class token");
    p = FEAT_POOL_CLS;
    CHECK_EQ_INT(feat_pool_check("x", &p, FEAT_LAYOUT_NHWC, &s3, &dim, &e), FEAT_E_MODEL);
    p = FEAT_POOL_GAP;
    CHECK_EQ_INT(feat_pool_check("x", &p, T, &s3, &dim, &e), FEAT_E_INVALID_ARGUMENT);
    p = FEAT_POOL_FLATTEN;
    CHECK_EQ_INT(feat_pool_check("x", &p, T, &s3, &dim, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "varies");
    feat_layout l;
    CHECK(feat_layout_parse("cls-tokens", &l) && l == FEAT_LAYOUT_CLS_TOKENS);
    CHECK(!feat_layout_parse("NCHW", &l) && !feat_layout_parse("unknown", &l));
    CHECK_STR_HAS(feat_layout_name(FEAT_LAYOUT_NHWC), "nhwc");
}

int main(void)
{
    test_parse();
    test_resolve();
    test_resolve_named_children();
    test_pool();
    return check_report("test_taps");
}
