/* SPDX-License-Identifier: MIT */
/* The image extractor end to end on the test backend (shim/shim_test.c): rows in order and
 * bit-exact for every decode-worker count, batch size and thread budget; per-item and
 * per-batch errors; cancellation from another thread; clones on 8 threads; failed loads
 * followed by a good one; bfloat16 reaching the backend. Expected rows come from the
 * backend's documented formula applied to feat_image_preprocess_file's tensor of each file.
 * argv[1]: the folder of the fuzz corpus (tests/fuzz/corpus), for two stock files. */
#include "../check.h"
#include "extract_util.h"

#include "feat/feat.h"

#include <png.h>
#include <stdlib.h>

#define N_GEN 9               /* generated PNGs */
#define N_ITEMS (N_GEN + 2)   /* plus baseline.jpg and rgb.png from the corpus */
#define CROP 16               /* the side-car's crop and resize */
#define PER (3 * CROP * CROP) /* floats of one input tensor */
#define DIM (4 + 8 + 5)       /* features.0:gmp + features.1:flatten + classifier */
#define TAPS "features.0:gmp,features.1:flatten,classifier"

static const char *model_text = "libfeat-test-model  # an image model\n"
                                "input image\n"
                                "module features\n"
                                "module features.0 4 3 3\n"
                                "module features.1 2 2 2\n"
                                "module classifier 5\n";
static const char *sidecar = "{\"format\": \"libfeat-model\", \"family\": \"test\", \"input\": \"image\","
                             " \"default_taps\": \"features.1\", \"layouts\": {\"\": \"nchw\"},"
                             " \"image\": {\"preset\": \"torchvision\", \"resize\": 16, \"crop\": 16}}";

static char paths[N_ITEMS][PATH_MAX];
static const char *items[N_ITEMS];
static float expect[N_ITEMS][DIM];
static char model[PATH_MAX];

/* A w x h RGB PNG whose pattern depends on seed. */
static void write_png(const char *name, int w, int h, int seed)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            px[(size_t)y * w * 3 + x] = (unsigned char)((x * (seed + 3) + y * (11 - seed) + seed * 37) & 255);
    png_image img = {
        .version = PNG_IMAGE_VERSION, .width = (png_uint_32)w, .height = (png_uint_32)h, .format = PNG_FORMAT_RGB};
    png_alloc_size_t n = 0;
    if (!png_image_write_to_memory(&img, NULL, &n, 0, px, 0, NULL)) {
        fprintf(stderr, "cannot encode %s: %s\n", name, img.message);
        exit(2);
    }
    void *png = malloc(n);
    png_image_write_to_memory(&img, png, &n, 0, px, 0, NULL);
    tu_write(name, png, n);
    free(png);
    free(px);
}

/* The row the backend's formula gives for the file at path (taps as in TAPS). */
static void expected_row(const char *path, float *row)
{
    float x[PER];
    feat_image_options *o;
    feat_image_options_new(&o);
    feat_image_options_set_resize(o, CROP);
    feat_image_options_set_crop(o, CROP, CROP);
    CHECK_EQ_INT(feat_image_preprocess_file(o, path, x, PER, NULL), FEAT_OK);
    feat_image_options_free(o);
    double key = 0;
    for (size_t k = 0; k < PER; k++)
        key += x[k];
    for (size_t c = 0; c < 4; c++) /* gmp over 3x3: the largest, the last position */
        row[c] = tu_value(key, 0, c * 9 + 8);
    for (size_t e = 0; e < 8; e++)
        row[4 + e] = tu_value(key, 1, e);
    for (size_t e = 0; e < 5; e++)
        row[12 + e] = tu_value(key, 2, e);
}

static void setup(const char *corpus)
{
    char name[32];
    for (int i = 0, g = 0; i < N_ITEMS; i++) {
        if (i == 2) {
            snprintf(paths[i], PATH_MAX, "%s/jpeg/baseline.jpg", corpus);
        } else if (i == N_ITEMS - 1) {
            snprintf(paths[i], PATH_MAX, "%s/png/rgb.png", corpus);
        } else {
            snprintf(name, sizeof name, "gen%d.png", g);
            write_png(name, 17 + 5 * g, 40 - 3 * g, g);
            tu_path(paths[i], name);
            g++;
        }
        items[i] = paths[i];
        expected_row(paths[i], expect[i]);
    }
    /* Rows can only show which item they belong to if no two items share one. */
    for (int i = 0; i < N_ITEMS; i++)
        for (int j = 0; j < i; j++)
            CHECK(memcmp(expect[i], expect[j], sizeof expect[i]) != 0);
    tu_write_model("m", model_text, sidecar);
    tu_path(model, "m.pt");
}

static feat_image_extractor *open_ex(const char *path, const char *taps, uint32_t batch, uint32_t decode,
                                     feat_precision precision, feat_status want)
{
    feat_image_options *o;
    feat_image_extractor *ex;
    feat_image_options_new(&o);
    feat_image_options_set_taps(o, taps);
    feat_image_options_set_batch_size(o, batch);
    feat_image_options_set_decode_threads(o, decode);
    feat_image_options_set_precision(o, precision);
    feat_image_extractor_new(&ex);
    feat_status st = feat_image_extractor_load(ex, path, o);
    feat_image_options_free(o);
    CHECK_EQ_INT(st, want);
    if (st != FEAT_OK && want == FEAT_OK)
        fprintf(stderr, "load %s: %s\n", path, feat_image_extractor_last_error(ex));
    return ex;
}

static void *open_default(const char *path, uint32_t batch)
{
    return open_ex(path, TAPS, batch, 2, FEAT_PRECISION_DEFAULT, FEAT_OK);
}

static tu_kind kind = {0, items, N_ITEMS, DIM, &expect[0][0], open_default};

static size_t twice[2 * N_ITEMS];

static void test_workers_and_batches(void)
{
    static const int32_t budgets[] = {1, 3};
    static const uint32_t decode[] = {1, 2, 4}, batch[] = {1, 3, 8};
    for (size_t b = 0; b < 2; b++)
        for (size_t d = 0; d < 3; d++)
            for (size_t s = 0; s < 3; s++) {
                CHECK_EQ_INT(feat_global_set_threads(budgets[b]), FEAT_OK);
                char what[96];
                snprintf(what, sizeof what, "budget %d, decode threads %u, batch %u", (int)budgets[b], decode[d],
                         batch[s]);
                feat_image_extractor *ex = open_ex(model, TAPS, batch[s], decode[d], FEAT_PRECISION_DEFAULT, FEAT_OK);
                CHECK_EQ_INT(feat_image_extractor_dim(ex), DIM);
                CHECK(tu_extract_ok(&kind, what, ex, NULL, N_ITEMS));
                /* Twice the list: more batches than workers, items repeated far apart. */
                CHECK(tu_extract_ok(&kind, what, ex, twice, 2 * N_ITEMS));
                feat_image_extractor_free(ex);
            }
    CHECK_EQ_INT(feat_global_set_threads(0), FEAT_OK);
}

static void test_taps_and_encoded(void)
{
    feat_image_extractor *ex = open_ex(model, TAPS, 3, 2, FEAT_PRECISION_DEFAULT, FEAT_OK);
    CHECK_EQ_INT(feat_image_extractor_n_taps(ex), 3);
    CHECK(strcmp(feat_image_extractor_tap(ex, 0), "features.0:gmp") == 0);
    CHECK(strcmp(feat_image_extractor_tap(ex, 1), "features.1:flatten") == 0);
    CHECK(strcmp(feat_image_extractor_tap(ex, 2), "classifier:flatten") == 0);
    /* The pooled length of each tap: the column blocks of the concatenated row. */
    CHECK_EQ_INT(feat_image_extractor_tap_dim(ex, 0), 4);
    CHECK_EQ_INT(feat_image_extractor_tap_dim(ex, 1), 8);
    CHECK_EQ_INT(feat_image_extractor_tap_dim(ex, 2), 5);
    CHECK_EQ_INT(feat_image_extractor_tap_dim(ex, 3), 0);
    CHECK_EQ_INT(feat_image_extractor_tap_dim(NULL, 0), 0);
    /* Reversed order, from encoded bytes. */
    void *data[N_ITEMS];
    size_t sizes[N_ITEMS];
    for (size_t i = 0; i < N_ITEMS; i++) {
        FILE *f = fopen(items[N_ITEMS - 1 - i], "rb");
        data[i] = malloc(1 << 16);
        sizes[i] = f ? fread(data[i], 1, 1 << 16, f) : 0;
        if (f)
            fclose(f);
    }
    feat_result *r = NULL;
    CHECK_EQ_INT(feat_image_extractor_extract_encoded(ex, (const void *const *)data, sizes, N_ITEMS, &r), FEAT_OK);
    for (size_t i = 0; i < N_ITEMS && r; i++)
        CHECK(tu_row_ok(&kind, "encoded", r, i, expect[N_ITEMS - 1 - i]));
    feat_result_free(r);
    for (size_t i = 0; i < N_ITEMS; i++)
        free(data[i]);
    feat_image_extractor_free(ex);
}

#define NONE ((size_t)-1)

static void test_item_errors(void)
{
    static const char junk[] = "\x89PNG\r\n\x1a\nnot really a png, just its signature and some bytes";
    tu_write("corrupt.png", junk, sizeof junk - 1);
    char corrupt[PATH_MAX], missing[PATH_MAX];
    tu_path(corrupt, "corrupt.png");
    tu_path(missing, "missing.png");
    const char *list[] = {items[0], corrupt, items[1], missing, NULL, items[2], items[3]};
    static const size_t item_of[] = {0, NONE, 1, NONE, NONE, 2, 3};
    static const tu_failure fails[] = {{1, FEAT_E_DECODE, "corrupt.png"},
                                       {3, FEAT_E_NOT_FOUND, "missing.png"},
                                       {4, FEAT_E_INVALID_ARGUMENT, "item 4: path is NULL"}};
    CHECK(tu_mixed_ok(&kind, model, 3, list, 7, item_of, fails, 3));
}

/* A run of 2 items fails: with batches of 3, the last two of 11 items. */
static void test_batch_errors(void)
{
    char p[PATH_MAX];
    tu_write_variant(p, "fail2", model_text, "fail_batch 2 FEAT_E_BACKEND", sidecar);
    static const size_t item_of[N_ITEMS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, NONE, NONE};
    static const tu_failure fails[] = {{9, FEAT_E_BACKEND, "fails batches of 2"},
                                       {10, FEAT_E_BACKEND, "fails batches of 2"}};
    CHECK(tu_mixed_ok(&kind, p, 3, items, N_ITEMS, item_of, fails, 2));
    /* A failure that is not the items' fault fails the whole call, with no result. */
    tu_write_variant(p, "fatal2", model_text, "fail_batch 2 FEAT_E_INTERNAL", sidecar);
    feat_image_extractor *ex = open_ex(p, TAPS, 3, 1, FEAT_PRECISION_DEFAULT, FEAT_OK);
    feat_result *r = (feat_result *)1;
    CHECK_EQ_INT(feat_image_extractor_extract_files(ex, items, N_ITEMS, &r), FEAT_E_INTERNAL);
    CHECK(r == NULL);
    CHECK_STR_HAS(feat_image_extractor_last_error(ex), "fails batches of 2");
    feat_image_extractor_free(ex);
    CHECK_EQ_INT(feat_global_set_threads(0), FEAT_OK);
}

/* A call cancelled from another thread fails with FEAT_E_CANCELLED and no result, or, when
 * the cancel came too late, completes with every row exact; the extractor works afterwards. */
static void test_cancel(void)
{
    char p[PATH_MAX];
    tu_write_variant(p, "slow", model_text, "delay_ms 3", sidecar);
    CHECK(tu_cancel_ok(&kind, p, 1));
    CHECK(tu_cancel_ok(&kind, p, 3));
}

/* Failed loads leave the extractor empty and reusable (and leak nothing: ASan); the load
 * that succeeds after them gives exact rows; a second model is refused. */
static void test_failed_loads(void)
{
    tu_write_model("text_sidecar", model_text, "{\"format\": \"libfeat-model\", \"input\": \"text\"}");
    /* gap / gmp need the layout: a side-car without one refuses them, and a wrong entry too */
    tu_write_model("no_layout", model_text, "{\"format\": \"libfeat-model\", \"input\": \"image\"}");
    tu_write_model("bad_layout", model_text,
                   "{\"format\": \"libfeat-model\", \"layouts\": {\"\": \"nchw\", \"features.*\": \"tokens\"}}");
    tu_write_model("bad_layout_key", model_text, "{\"format\": \"libfeat-model\", \"layouts\": {\"a..b\": \"nchw\"}}");
    tu_write_model("bad_layout_value", model_text, "{\"format\": \"libfeat-model\", \"layouts\": {\"\": \"NCHW\"}}");
    static const tu_load_case cases[] = {
        {"text_sidecar.pt", NULL, TAPS, FEAT_E_MODEL, "not an image model"},
        {"no_layout.pt", NULL, TAPS, FEAT_E_MODEL, "tap 'features.0:gmp': the layout of its [1, 4, 3, 3] output"},
        {"no_layout.pt", NULL, "features.0:gap", FEAT_E_MODEL, "\"layouts\" entry for 'features.0'"},
        {"bad_layout.pt", NULL, TAPS, FEAT_E_MODEL, "declares layout 'tokens'"},
        {"bad_layout_key.pt", NULL, TAPS, FEAT_E_MODEL, "layouts key 'a..b'"},
        {"bad_layout_value.pt", NULL, TAPS, FEAT_E_MODEL, "must be \"nchw\""},
        {"m.pt", NULL, "features.9:gmp", FEAT_E_NOT_FOUND, "features.9"},
        {"m.pt", NULL, "features:gmp", FEAT_E_MODEL, "container"},
        {"m.pt", NULL, "classifier:gmp", FEAT_E_INVALID_ARGUMENT, "gmp needs a feature map"},
    };
    CHECK(tu_failed_loads_ok(&kind, model_text, sidecar, TAPS, cases, sizeof cases / sizeof cases[0]));
    /* No taps given: the side-car's default_taps (features.1, 8 values). */
    static const tu_load_case default_taps = {"m.pt", NULL, NULL, FEAT_OK, NULL};
    feat_image_extractor *ex = tu_new(&kind);
    CHECK(tu_loads_ok(&kind, ex, &default_taps, 1));
    CHECK_EQ_INT(feat_image_extractor_dim(ex), 8);
    feat_image_extractor_free(ex);
}

/* bfloat16 reaches the backend: every value is the expected one rounded to bfloat16. */
static void test_bf16(void)
{
    feat_image_extractor *ex = open_ex(model, TAPS, 3, 1, FEAT_PRECISION_BF16, FEAT_OK);
    feat_result *r = NULL;
    CHECK_EQ_INT(feat_image_extractor_extract_files(ex, items, N_ITEMS, &r), FEAT_OK);
    for (size_t i = 0; i < N_ITEMS && r; i++) {
        float want[DIM];
        for (size_t k = 0; k < DIM; k++)
            want[k] = tu_bf16(expect[i][k]);
        CHECK(tu_row_ok(&kind, "bf16", r, i, want));
    }
    feat_result_free(r);
    feat_image_extractor_free(ex);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < 2 * N_ITEMS; i++)
        twice[i] = i % N_ITEMS;
    setup(argv[1]);
    test_workers_and_batches();
    test_taps_and_encoded();
    test_item_errors();
    test_batch_errors();
    test_cancel();
    /* Clones on 8 threads at once (batches of 3 on 2 workers each) give the serial rows. */
    CHECK(tu_clones_ok(&kind, model, 3));
    test_failed_loads();
    test_bf16();
    tu_cleanup();
    return check_report("extract_image");
}
