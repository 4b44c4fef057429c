/* SPDX-License-Identifier: MIT */
/* The text extractor end to end on the test backend (shim/shim_test.c): rows in order and
 * bit-exact for several batch sizes and thread budgets (length buckets, padding, truncation);
 * per-item errors; cancellation from another thread; clones on 8 threads; failed loads
 * followed by a good one. Expected rows come from the backend's documented formula applied
 * to the token ids of feat_tokenizer_encode with the same vocabulary and settings. */
#include "../check.h"
#include "extract_util.h"

#include "feat/feat.h"

#include <stdlib.h>
#include <string.h>

#define N_TEXTS 12
#define HID 8         /* hidden size of every module */
#define DIM (4 * HID) /* cls + max + mean + pooler */
#define MAX_LEN 16    /* the side-car's max_length */
#define TAPS "encoder.layer.-1:cls,encoder.layer.0:max,embeddings:mean,pooler"

static const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\na\ncat\ndog\nsat\non\nmat\nran\nbig\nred\n##s\n"
                           "fast\n.\n";
static const char *model_text = "libfeat-test-model\n"
                                "input text\n"
                                "module embeddings seq 8\n"
                                "module encoder\n"
                                "module encoder.layer\n"
                                "module encoder.layer.0 seq 8\n"
                                "module encoder.layer.1 seq 8\n"
                                "module pooler 8\n";
static const char *sidecar = "{\"format\": \"libfeat-model\", \"family\": \"test\", \"input\": \"text\","
                             " \"default_taps\": \"encoder.layer.-1:cls\","
                             " \"text\": {\"vocab\": \"vocab.txt\", \"lowercase\": true, \"max_length\": 16}}";

/* Lengths from 3 to 16 tokens (the last one truncated), so batches mix lengths and pad. */
static const char *texts[N_TEXTS] = {"the cat sat",
                                     "a dog ran fast",
                                     "The big red cats sat on the mat.",
                                     "dog",
                                     "cats",
                                     "a cat",
                                     "the dog sat on a mat",
                                     "red",
                                     "fast cats ran",
                                     "big dogs",
                                     "on the mat",
                                     "the cat sat on the mat . a dog ran on the mat . the big red dog sat"};
static float expect[N_TEXTS][DIM];
static char model[PATH_MAX];

/* The row of a sequence of n ids: taps in TAPS order, values by the backend's formula. Every
 * value is a multiple of 1/64 below 2^12 and the sums below 2^17, so the float mean pooling
 * sums exactly, in any order, as this double sum does. */
static void expected_row(const int32_t *ids, size_t n, float *row)
{
    double key = 0;
    for (size_t p = 0; p < n; p++)
        key += (double)ids[p] * (double)(p + 1);
    for (size_t j = 0; j < HID; j++) {
        double sum = 0;
        for (size_t p = 0; p < n; p++)
            sum += tu_value(key, 2, p * HID + j);
        row[j] = tu_value(key, 0, j);                       /* cls: position 0 */
        row[HID + j] = tu_value(key, 1, (n - 1) * HID + j); /* max: the last real position */
        row[2 * HID + j] = (float)sum / (float)n;
        row[3 * HID + j] = tu_value(key, 3, j);
    }
}

static void setup(void)
{
    tu_write("vocab.txt", vocab, (size_t)-1);
    tu_write_model("m", model_text, sidecar);
    tu_path(model, "m.pt");
    char vp[PATH_MAX];
    tu_path(vp, "vocab.txt");
    feat_text_options *o;
    feat_tokenizer *tok;
    feat_text_options_new(&o);
    feat_text_options_set_lowercase(o, FEAT_TRISTATE_ON);
    feat_text_options_set_max_length(o, MAX_LEN);
    feat_tokenizer_new(&tok);
    CHECK_EQ_INT(feat_tokenizer_load(tok, vp, o), FEAT_OK);
    for (size_t i = 0; i < N_TEXTS; i++) {
        feat_encoding *enc = NULL;
        CHECK_EQ_INT(feat_tokenizer_encode(tok, texts[i], (size_t)-1, NULL, 0, &enc), FEAT_OK);
        expected_row(feat_encoding_ids(enc), feat_encoding_len(enc), expect[i]);
        CHECK(feat_encoding_len(enc) <= MAX_LEN);
        feat_encoding_free(enc);
    }
    feat_tokenizer_free(tok);
    feat_text_options_free(o);
    for (size_t i = 0; i < N_TEXTS; i++)
        for (size_t j = 0; j < i; j++)
            CHECK(memcmp(expect[i], expect[j], sizeof expect[i]) != 0);
}

static feat_text_extractor *open_ex(const char *path, const char *taps, uint32_t batch, feat_status want)
{
    feat_text_options *o;
    feat_text_extractor *ex;
    feat_text_options_new(&o);
    feat_text_options_set_taps(o, taps);
    feat_text_options_set_batch_size(o, batch);
    feat_text_extractor_new(&ex);
    feat_status st = feat_text_extractor_load(ex, path, NULL, o);
    feat_text_options_free(o);
    CHECK_EQ_INT(st, want);
    if (st != want)
        fprintf(stderr, "load %s: %s\n", path, feat_text_extractor_last_error(ex));
    return ex;
}

static void *open_default(const char *path, uint32_t batch) { return open_ex(path, TAPS, batch, FEAT_OK); }

static tu_kind kind = {1, texts, N_TEXTS, DIM, &expect[0][0], open_default};

static size_t shuffled[3 * N_TEXTS];

static void test_batches(void)
{
    static const uint32_t batch[] = {1, 2, 3, 16};
    for (int32_t budget = 1; budget <= 3; budget += 2)
        for (size_t s = 0; s < 4; s++) {
            CHECK_EQ_INT(feat_global_set_threads(budget), FEAT_OK);
            char what[64];
            snprintf(what, sizeof what, "budget %d, batch %u", (int)budget, batch[s]);
            feat_text_extractor *ex = open_ex(model, TAPS, batch[s], FEAT_OK);
            CHECK_EQ_INT(feat_text_extractor_dim(ex), DIM);
            CHECK(tu_extract_ok(&kind, what, ex, NULL, N_TEXTS));
            CHECK(tu_extract_ok(&kind, what, ex, shuffled, 3 * N_TEXTS));
            feat_text_extractor_free(ex);
        }
    CHECK_EQ_INT(feat_global_set_threads(0), FEAT_OK);
}

#define NONE ((size_t)-1)

/* Invalid UTF-8 and a NULL text fail alone, among good texts. */
static void test_item_errors(void)
{
    const char *list[] = {texts[0], "caf\xc3 truncated UTF-8", texts[1], NULL, texts[2], texts[3]};
    static const size_t item_of[] = {0, NONE, 1, NONE, 2, 3};
    static const tu_failure fails[] = {{1, FEAT_E_DECODE, "item 1"},
                                       {3, FEAT_E_INVALID_ARGUMENT, "item 3: text is NULL"}};
    CHECK(tu_mixed_ok(&kind, model, 2, list, 6, item_of, fails, 2));
}

/* As for images: FEAT_E_CANCELLED with no result, or every row exact; usable afterwards. */
static void test_cancel(void)
{
    char p[PATH_MAX];
    tu_write_variant(p, "slow", model_text, "delay_ms 3", sidecar);
    CHECK(tu_cancel_ok(&kind, p, 1));
}

/* Failed loads at every stage leave the extractor empty and reusable, leaking nothing
 * (ASan); the load after them gives exact rows; a second model is refused. */
static void test_failed_loads(void)
{
    tu_write_model("image_sidecar", model_text, "{\"format\": \"libfeat-model\", \"input\": \"image\"}");
    tu_write_model("no_vocab", model_text, "{\"format\": \"libfeat-model\", \"input\": \"text\"}");
    static const tu_load_case cases[] = {
        {"image_sidecar.pt", "vocab.txt", TAPS, FEAT_E_MODEL, "not a text model"},
        {"no_vocab.pt", NULL, TAPS, FEAT_E_INVALID_ARGUMENT, "no vocabulary"},
        {"m.pt", "no_such_vocab.txt", TAPS, FEAT_E_NOT_FOUND, "no_such_vocab.txt"},
        {"m.pt", NULL, "encoder.layer.0:gap", FEAT_E_INVALID_ARGUMENT, "gap needs a feature map"},
        {"m.pt", NULL, "encoder.layer.2", FEAT_E_NOT_FOUND, "encoder.layer.2"},
    };
    CHECK(tu_failed_loads_ok(&kind, model_text, sidecar, TAPS, cases, sizeof cases / sizeof cases[0]));
}

/* The argument checks of the extractor's and the ensemble's extract calls: one rule, one
 * message each, before any model work (the extractor and ensemble here are not loaded). */
static void expect_arg_error(feat_status st, const char *msg, const char *want)
{
    CHECK_EQ_INT(st, FEAT_E_INVALID_ARGUMENT);
    CHECK(strstr(msg, want) != NULL);
    if (!strstr(msg, want))
        fprintf(stderr, "message '%s', expected '%s'\n", msg, want);
}

static void test_argument_checks(void)
{
    const char *one[] = {"a cat"};
    feat_result *r = NULL;
    feat_text_extractor *ex;
    feat_text_ensemble *ens;
    CHECK_EQ_INT(feat_text_extractor_new(&ex), FEAT_OK);
    CHECK_EQ_INT(feat_text_ensemble_new(&ens), FEAT_OK);
    expect_arg_error(feat_text_extractor_extract(NULL, one, NULL, 1, &r), feat_last_error(), "extractor is NULL");
    expect_arg_error(feat_text_extractor_extract(ex, NULL, NULL, 1, &r), feat_text_extractor_last_error(ex),
                     "texts is NULL");
    expect_arg_error(feat_text_extractor_extract_pairs(ex, NULL, NULL, one, NULL, 1, &r),
                     feat_text_extractor_last_error(ex), "texts_a is NULL");
    expect_arg_error(feat_text_extractor_extract_pairs(ex, one, NULL, NULL, NULL, 1, &r),
                     feat_text_extractor_last_error(ex), "texts_b is NULL");
    expect_arg_error(feat_text_ensemble_extract(NULL, one, NULL, 1, &r), feat_last_error(), "ensemble is NULL");
    expect_arg_error(feat_text_ensemble_extract(ens, NULL, NULL, 1, &r), feat_text_ensemble_last_error(ens),
                     "texts is NULL");
    expect_arg_error(feat_text_ensemble_extract_pairs(ens, NULL, NULL, one, NULL, 1, &r),
                     feat_text_ensemble_last_error(ens), "texts_a is NULL");
    expect_arg_error(feat_text_ensemble_extract_pairs(ens, one, NULL, NULL, NULL, 1, &r),
                     feat_text_ensemble_last_error(ens), "texts_b is NULL");
    CHECK(r == NULL);
    feat_text_ensemble_free(ens);
    feat_text_extractor_free(ex);
}

int main(void)
{
    for (size_t i = 0; i < 3 * N_TEXTS; i++)
        shuffled[i] = (i * 7 + 3) % N_TEXTS; /* repeats, out of order */
    setup();
    test_argument_checks();
    test_batches();
    test_item_errors();
    test_cancel();
    /* Clones on 8 threads at once, sharing the model and the tokenizer, give the serial rows. */
    CHECK(tu_clones_ok(&kind, model, 3));
    test_failed_loads();
    tu_cleanup();
    return check_report("extract_text");
}
