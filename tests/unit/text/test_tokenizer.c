/* SPDX-License-Identifier: MIT */
/* Unit tests of the text component: error paths and invariants that need no reference
 * tokenizer (the parity with Hugging Face is test_tokenizer_parity.py). Uses a small
 * vocabulary written to a temporary directory. */
#include "../check.h"

#include "core/error.h"
#include "text/text_internal.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/feat_text_test_XXXXXX";

static const char *write_file(const char *name, const char *data, size_t n)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        abort();
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

#define VOCAB_TEXT "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\nun\n##want\n##ed\n,\n!\nhello\r\n"

static feat_tokenizer *load(const char *path, const feat_text_options *o, feat_status *st)
{
    feat_tokenizer *t = NULL;
    CHECK_EQ_INT(feat_tokenizer_new(&t), FEAT_OK);
    *st = feat_tokenizer_load(t, path, o);
    return t;
}

static void test_vocab_errors(void)
{
    feat_status st;
    feat_tokenizer *t = load("/nonexistent/vocab.txt", NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "/nonexistent/vocab.txt");
    feat_tokenizer_free(t);

    t = load(write_file("empty.txt", "", 0), NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_DECODE);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "empty");
    feat_tokenizer_free(t);

    t = load(write_file("nul.txt", "[UNK]\n\0x\n", 9), NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_DECODE);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "NUL byte at offset 6 (line 2)");
    feat_tokenizer_free(t);

    t = load(write_file("latin1.txt", "[UNK]\ncaf\xe9\n", 11), NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_DECODE);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "invalid byte 0xE9");
    feat_tokenizer_free(t);

    char longline[FEAT_VOCAB_MAX_LINE_BYTES + 10];
    memset(longline, 'a', sizeof longline);
    t = load(write_file("long.txt", longline, sizeof longline), NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_LIMIT);
    feat_tokenizer_free(t);

    t = load(write_file("nounk.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n", 24), NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "has no [UNK] token");
    feat_encoding *e = NULL;
    CHECK_EQ_INT(feat_tokenizer_encode(t, "hello", (size_t)-1, NULL, 0, &e), FEAT_E_STATE);
    CHECK(e == NULL);
    feat_tokenizer_free(t);

    CHECK_EQ_INT(feat_tokenizer_load(NULL, "x", NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_tokenizer_new(NULL), FEAT_E_INVALID_ARGUMENT);
    feat_tokenizer_free(NULL);
    feat_encoding_free(NULL);
}

static void test_vocab_lookup(const char *path)
{
    feat_status st;
    feat_tokenizer *t = load(path, NULL, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    CHECK_EQ_INT(feat_tokenizer_vocab_size(t), 14);
    /* "hello\r" on the last line trims to "hello": the last line wins, as in HF. */
    CHECK_EQ_INT(feat_tokenizer_token_to_id(t, "hello"), 13);
    CHECK(feat_tokenizer_id_to_token(t, 5) == NULL);
    CHECK(strcmp(feat_tokenizer_id_to_token(t, 13), "hello") == 0);
    CHECK(strcmp(feat_tokenizer_id_to_token(t, 7), "##s") == 0);
    CHECK(feat_tokenizer_id_to_token(t, 14) == NULL);
    CHECK(feat_tokenizer_id_to_token(t, -1) == NULL);
    CHECK_EQ_INT(feat_tokenizer_token_to_id(t, "absent"), -1);
    CHECK_EQ_INT(feat_tokenizer_token_to_id(t, NULL), -1);
    feat_tok_special sp;
    feat_tokenizer_special_ids(t, &sp);
    CHECK_EQ_INT(sp.pad, 0);
    CHECK_EQ_INT(sp.unk, 1);
    CHECK_EQ_INT(sp.cls, 2);
    CHECK_EQ_INT(sp.sep, 3);
    CHECK_EQ_INT(sp.mask, 4);
    feat_tokenizer_free(t);
}

static int ids_are(const feat_encoding *e, const int32_t *want, size_t n)
{
    if (feat_encoding_len(e) != n)
        return 0;
    return memcmp(feat_encoding_ids(e), want, n * sizeof *want) == 0;
}

static void test_encode(const char *path)
{
    feat_status st;
    feat_tokenizer *t = load(path, NULL, &st);
    feat_encoding *e = NULL;
    /* WordPiece pieces, punctuation, specials in text, uppercase folded, an unknown word. */
    CHECK_EQ_INT(feat_tokenizer_encode(t, "HELLO worlds,unwanted! [MASK]xyz", (size_t)-1, NULL, 0, &e), FEAT_OK);
    static const int32_t want1[] = {2, 13, 6, 7, 11, 8, 9, 10, 12, 4, 1, 3};
    CHECK(ids_are(e, want1, 12));
    const int64_t *ob = feat_encoding_offsets_bytes(e);
    CHECK_EQ_INT(ob[2], 0);
    CHECK_EQ_INT(ob[3], 5);
    CHECK_EQ_INT(ob[2 * 9], 23);
    CHECK_EQ_INT(ob[2 * 9 + 1], 29);
    feat_encoding_free(e);

    /* Explicit length: embedded NUL is a control character and is removed (as HF drops \0). */
    CHECK_EQ_INT(feat_tokenizer_encode(t, "hel\0lo", 6, NULL, 0, &e), FEAT_OK);
    static const int32_t want2[] = {2, 13, 3};
    CHECK(ids_are(e, want2, 3));
    feat_encoding_free(e);

    /* Empty and whitespace-only texts: [CLS] [SEP]. */
    CHECK_EQ_INT(feat_tokenizer_encode(t, "", 0, NULL, 0, &e), FEAT_OK);
    CHECK_EQ_INT(feat_encoding_len(e), 2);
    feat_encoding_free(e);
    CHECK_EQ_INT(feat_tokenizer_encode(t, " \t\n\xc2\xa0", (size_t)-1, "", 0, &e), FEAT_OK);
    static const int32_t want3[] = {2, 3, 3};
    CHECK(ids_are(e, want3, 3));
    CHECK_EQ_INT(feat_encoding_type_ids(e)[2], 1);
    CHECK_EQ_INT(feat_encoding_sequence_ids(e)[0], -1);
    feat_encoding_free(e);

    /* Invalid UTF-8: FEAT_E_DECODE with the offset, per call, in the thread slot. */
    CHECK_EQ_INT(feat_tokenizer_encode(t, "ok \xff", (size_t)-1, NULL, 0, &e), FEAT_E_DECODE);
    CHECK(e == NULL);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "offset 3");
    CHECK_STR_HAS(feat_last_error(), "not valid UTF-8");
    CHECK_EQ_INT(feat_tokenizer_encode(t, "hello", (size_t)-1, "\xe2\x82", 2, &e), FEAT_E_DECODE);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "text B");
    CHECK_EQ_INT(feat_tokenizer_encode(t, "hello", (size_t)-1, NULL, 0, &e), FEAT_OK);
    CHECK(strcmp(feat_tokenizer_last_error(t), "") == 0);
    feat_encoding_free(e);

    CHECK_EQ_INT(feat_tokenizer_encode(t, NULL, 0, NULL, 0, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_tokenizer_encode(t, "x", 1, NULL, 0, NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_tokenizer_encode(NULL, "x", 1, NULL, 0, &e), FEAT_E_INVALID_ARGUMENT);
    feat_tokenizer_free(t);

    /* REPLACE policy: invalid bytes become U+FFFD, which clean_text removes. */
    feat_text_options *o;
    feat_text_options_new(&o);
    CHECK_EQ_INT(feat_text_options_set_utf8_policy(o, FEAT_UTF8_REPLACE), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_max_length(o, 6), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_truncation(o, FEAT_TRUNCATE_NONE), FEAT_OK);
    t = load(path, o, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    CHECK_EQ_INT(feat_tokenizer_encode(t, "hel\xfflo", (size_t)-1, NULL, 0, &e), FEAT_OK);
    CHECK(ids_are(e, want2, 3));
    CHECK_EQ_INT(feat_encoding_offsets_chars(e)[3], 6); /* the U+FFFD counts as one char */
    feat_encoding_free(e);
    /* Truncation off and too long: FEAT_E_LIMIT. */
    CHECK_EQ_INT(feat_tokenizer_encode(t, "hello hello hello hello hello", (size_t)-1, NULL, 0, &e), FEAT_E_LIMIT);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "max_length 6");
    feat_tokenizer_free(t);
    feat_text_options_free(o);
}

static void test_options(void)
{
    feat_text_options *o = NULL;
    CHECK_EQ_INT(feat_text_options_new(NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_text_options_new(&o), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_lowercase(o, (feat_tristate)7), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "7");
    CHECK_EQ_INT(feat_text_options_set_max_length(o, 1), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_text_options_set_truncation(o, (feat_truncation)9), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_text_options_set_device(o, "gpu"), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_text_options_set_device(o, "cuda:1"), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_precision(o, (feat_precision)3), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_text_options_set_precision(o, FEAT_PRECISION_BF16), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_taps(o, "encoder.layer.-1:mean"), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_window_stride(o, 16), FEAT_OK);
    /* The tap grammar is checked when set (it used to be checked only at load), and the batch
     * limit is the extractor's. */
    CHECK_EQ_INT(feat_text_options_set_taps(o, "encoder.layer.-1:avg"), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "avg");
    CHECK_EQ_INT(feat_text_options_set_taps(o, "encoder..layer"), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_text_options_set_taps(o, "encoder.layer.-1:mean"), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_batch_size(o, 4097), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "1..4096");
    CHECK_EQ_INT(feat_text_options_set_batch_size(o, 4096), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_fusion(o, (feat_fusion)3), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "fusion: unknown value 3");
    CHECK_EQ_INT(feat_text_options_set_lowercase(NULL, FEAT_TRISTATE_ON), FEAT_E_INVALID_ARGUMENT);
    feat_text_options *c = NULL;
    CHECK_EQ_INT(feat_text_options_copy(o, &c), FEAT_OK);
    CHECK(c && c->model.taps != o->model.taps && strcmp(c->model.taps, "encoder.layer.-1:mean") == 0);
    CHECK(strcmp(c->model.device, "cuda:1") == 0 && c->window_stride == 16);
    feat_text_options_free(c);
    CHECK_EQ_INT(feat_text_options_copy(NULL, &c), FEAT_OK);
    CHECK(c && c->model.taps == NULL && c->max_length == 0);
    feat_text_options_free(c);
    feat_text_options_free(o);
    feat_text_options_free(NULL);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_internal_and_big(const char *path)
{
    feat_status st;
    feat_tokenizer *t = load(path, NULL, &st);
    feat_tok_scratch *s;
    CHECK_EQ_INT(feat_tok_scratch_new(&s), FEAT_OK);
    feat_tok_output out = {0};
    feat_tok_params p;
    feat_tok_params_from_tokenizer(t, &p);
    feat_error err = {0};
    CHECK_EQ_INT(p.max_length, 512);

    /* Windows: 10 content tokens, max_length 6 (4 per window), stride 1 -> starts 0,3,6. */
    p.max_length = 6;
    p.windows = 1;
    p.stride = 1;
    const char *ten = "hello hello hello hello hello hello hello hello hello hello";
    CHECK_EQ_INT(feat_tok_encode(t, s, ten, (size_t)-1, NULL, 0, &p, &out, &err), FEAT_OK);
    CHECK_EQ_INT(out.n_windows, 3);
    CHECK_EQ_INT(out.win_start[1], 6);
    CHECK_EQ_INT(out.win_start[3], 6 + 6 + 6);
    CHECK_EQ_INT(out.ids[6], 2);
    p.stride = 4;
    CHECK_EQ_INT(feat_tok_encode(t, s, ten, (size_t)-1, NULL, 0, &p, &out, &err), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(err.msg, "stride 4");
    p.windows = 0;
    p.max_length = 2;
    CHECK_EQ_INT(feat_tok_encode(t, s, ten, (size_t)-1, "x", 1, &p, &out, &err), FEAT_E_INVALID_ARGUMENT);
    p.max_length = 5;
    p.truncation = FEAT_TRUNCATE_ONLY_SECOND;
    CHECK_EQ_INT(feat_tok_encode(t, s, ten, (size_t)-1, NULL, 0, &p, &out, &err), FEAT_E_INVALID_ARGUMENT);
    p.truncation = FEAT_TRUNCATE_LONGEST_FIRST;
    CHECK_EQ_INT(feat_tok_encode(t, s, ten, (size_t)-1, NULL, 0, &p, &out, &err), FEAT_OK);
    CHECK_EQ_INT(out.n_tokens, 5);
    CHECK_EQ_INT(out.n_truncated, 7);

    /* 10 MB on one line: words, and one giant word (a single [UNK] past 100 chars). */
    size_t big = 10u << 20;
    char *text = malloc(big);
    for (size_t i = 0; i < big; i++)
        text[i] = (i % 6 == 5) ? ' ' : "hello"[i % 6];
    p.max_length = 512;
    p.windows = 1;
    p.stride = 128;
    double t0 = now();
    CHECK_EQ_INT(feat_tok_encode(t, s, text, big, NULL, 0, &p, &out, &err), FEAT_OK);
    double dt = now() - t0;
    CHECK(out.n_windows > 1000);
    CHECK(dt < 5.0);
    printf("10 MB line: %zu windows in %.3f s\n", out.n_windows, dt);
    memset(text, 'x', big);
    p.windows = 0;
    CHECK_EQ_INT(feat_tok_encode(t, s, text, big, NULL, 0, &p, &out, &err), FEAT_OK);
    CHECK_EQ_INT(out.n_tokens, 3);
    CHECK_EQ_INT(out.ids[1], 1);
    CHECK_EQ_INT(out.offsets_bytes ? 1 : 1, 1);
    /* Adversarial: 1 MB of combining marks with alternating classes (sorted in linear time). */
    for (size_t i = 0; i + 4 <= (1u << 20); i += 4)
        memcpy(text + i, (i / 4) % 2 ? "\xcc\x81\xcc\x96" : "\xcc\x96\xcc\x81", 4);
    t0 = now();
    CHECK_EQ_INT(feat_tok_encode(t, s, text, 1u << 20, NULL, 0, &p, &out, &err), FEAT_OK);
    CHECK(now() - t0 < 2.0);
    free(text);
    feat_tok_output_free(&out);
    feat_tok_scratch_free(s);
    feat_tokenizer_free(t);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    static char vocab[256];
    snprintf(vocab, sizeof vocab, "%s", write_file("vocab.txt", VOCAB_TEXT, strlen(VOCAB_TEXT)));
    test_vocab_errors();
    test_vocab_lookup(vocab);
    test_encode(vocab);
    test_options();
    test_internal_and_big(vocab);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report("test_tokenizer");
}
