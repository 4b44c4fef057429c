/* SPDX-License-Identifier: MIT */
/* Unit tests of tokenizer.json loading (lib/text/tokenizer_json.c): the settings read from the
 * file and every refusal, on a small WordPiece tokenizer.json written here. Parity with
 * Hugging Face on real files is tests/model/test_tokenizer_json.py. */
#include "../check.h"

#include "core/error.h"
#include "text/text_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/feat_tokjson_test_XXXXXX";

/* What `tokenizers` writes for a BERT tokenizer (TemplateProcessing, as BertTokenizerFast
 * saves it), on a 16-token vocabulary. */
static const char BASE[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
    "\"added_tokens\":[{\"id\":0,\"content\":\"[PAD]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
    "\"normalized\":false,\"special\":true},{\"id\":1,\"content\":\"[UNK]\",\"single_word\":false,\"lstrip\":false,"
    "\"rstrip\":false,\"normalized\":false,\"special\":true},{\"id\":2,\"content\":\"[CLS]\",\"special\":true},"
    "{\"id\":3,\"content\":\"[SEP]\",\"special\":true},{\"id\":4,\"content\":\"[MASK]\",\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
    "\"strip_accents\":null,\"lowercase\":true},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\","
    "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
    "\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],"
    "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},"
    "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":100,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"[MASK]\":4,"
    "\"hello\":5,\"world\":6,\"##s\":7,\"un\":8,\"##want\":9,\"##ed\":10,\",\":11,\"!\":12,\"@@s\":13,"
    "\"<x>\":14,\"\xce\xa9x\":15}}}";

/* BASE with the first occurrence of each find[i] replaced by repl[i] (n pairs), written to
 * NAME.json in the test folder. */
static const char *write_variant(const char *name, const char *const *find, const char *const *repl, int n)
{
    static char path[256];
    char *s = strdup(BASE);
    for (int i = 0; i < n; i++) {
        char *at = strstr(s, find[i]);
        if (!at) {
            fprintf(stderr, "variant %s: '%s' not in BASE\n", name, find[i]);
            abort();
        }
        size_t fl = strlen(find[i]), rl = strlen(repl[i]), sl = strlen(s);
        char *t = malloc(sl - fl + rl + 1);
        memcpy(t, s, (size_t)(at - s));
        memcpy(t + (at - s), repl[i], rl);
        memcpy(t + (at - s) + rl, at + fl, sl - (size_t)(at - s) - fl + 1);
        free(s);
        s = t;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(s, 1, strlen(s), f);
    fclose(f);
    free(s);
    return path;
}

static feat_tokenizer *load(const char *path, const feat_text_options *o, feat_status *st)
{
    feat_tokenizer *t = NULL;
    CHECK_EQ_INT(feat_tokenizer_new(&t), FEAT_OK);
    *st = feat_tokenizer_load(t, path, o);
    return t;
}

/* Encodes @p text and compares the ids with want[0..n). */
static void check_ids(const feat_tokenizer *t, const char *text, const int32_t *want, size_t n)
{
    feat_encoding *e = NULL;
    CHECK_EQ_INT(feat_tokenizer_encode(t, text, (size_t)-1, NULL, 0, &e), FEAT_OK);
    if (!e)
        return;
    CHECK_EQ_INT(feat_encoding_len(e), n);
    for (size_t i = 0; i < n && i < feat_encoding_len(e); i++)
        CHECK_EQ_INT(feat_encoding_ids(e)[i], want[i]);
    feat_encoding_free(e);
}

static void test_reads_settings(void)
{
    feat_status st;
    feat_tokenizer *t = load(write_variant("base.json", NULL, NULL, 0), NULL, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    CHECK_EQ_INT(feat_tokenizer_vocab_size(t), 16);
    /* lowercase from the file; "<x>" is not an added token here, so it is split. */
    check_ids(t, "Hello, worlds! <x>", (const int32_t[]){2, 5, 11, 6, 7, 12, 1, 1, 1, 3}, 10);
    feat_tok_config c;
    feat_tokenizer_config(t, &c);
    CHECK(c.lowercase && c.strip_accents && c.handle_cjk);
    CHECK_EQ_INT(c.max_length, 512); /* no truncation section: libfeat's default */
    feat_tokenizer_free(t);

    /* Added tokens are matched in the raw text, also when they do not start with '[' or are
     * not ASCII; offsets count code points. */
    const char *f1[] = {"{\"id\":4,\"content\":\"[MASK]\",\"special\":true}"};
    const char *r1[] = {"{\"id\":4,\"content\":\"[MASK]\",\"special\":true},{\"id\":14,\"content\":\"<x>\"},"
                        "{\"id\":15,\"content\":\"\xce\xa9x\"}"};
    t = load(write_variant("added.json", f1, r1, 1), NULL, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    check_ids(t, "hello<x>\xce\xa9xworld", (const int32_t[]){2, 5, 14, 15, 6, 3}, 6);
    feat_encoding *e = NULL;
    CHECK_EQ_INT(feat_tokenizer_encode(t, "\xc3\xa9\xce\xa9xun", (size_t)-1, NULL, 0, &e), FEAT_OK);
    if (e) {
        CHECK_EQ_INT(feat_encoding_len(e), 5); /* [CLS] [UNK](é) Ωx un [SEP] */
        CHECK_EQ_INT(feat_encoding_offsets_chars(e)[4], 1);
        CHECK_EQ_INT(feat_encoding_offsets_chars(e)[5], 3);
        CHECK_EQ_INT(feat_encoding_offsets_bytes(e)[4], 2);
        CHECK_EQ_INT(feat_encoding_offsets_bytes(e)[5], 5);
    }
    feat_encoding_free(e);
    feat_tokenizer_free(t);

    /* The model's prefix, unk token and word length; the file's truncation. */
    const char *f2[] = {"\"continuing_subword_prefix\":\"##\"", "\"max_input_chars_per_word\":100",
                        "\"truncation\":null"};
    const char *r2[] = {"\"continuing_subword_prefix\":\"@@\"", "\"max_input_chars_per_word\":6",
                        "\"truncation\":{\"direction\":\"Right\",\"max_length\":8,\"strategy\":\"OnlyFirst\","
                        "\"stride\":0}"};
    t = load(write_variant("model.json", f2, r2, 3), NULL, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    /* "helloss" has 7 characters: one [UNK] although hello @@s @@s would match. */
    check_ids(t, "worlds hellos helloss", (const int32_t[]){2, 6, 13, 5, 13, 1, 3}, 7);
    feat_tokenizer_config(t, &c);
    CHECK_EQ_INT(c.max_length, 8);
    CHECK_EQ_INT(c.truncation, FEAT_TRUNCATE_ONLY_FIRST);
    feat_tokenizer_free(t);
    /* Options set explicitly win over the truncation section. */
    feat_text_options *o;
    CHECK_EQ_INT(feat_text_options_new(&o), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_max_length(o, 9), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_truncation(o, FEAT_TRUNCATE_NONE), FEAT_OK);
    t = load(write_variant("model.json", f2, r2, 3), o, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    feat_tokenizer_config(t, &c);
    CHECK_EQ_INT(c.max_length, 9);
    CHECK_EQ_INT(c.truncation, FEAT_TRUNCATE_NONE);
    feat_tokenizer_free(t);
    feat_text_options_free(o);
}

/* BertProcessing (what BertWordPieceTokenizer saves), a cased normalizer, another unk token. */
static void test_bert_processing_and_cased(void)
{
    const char *find[] = {"\"lowercase\":true",
                          "{\"id\":1,\"content\":\"[UNK]\",\"single_word\":false,"
                          "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
                          "\"special\":true},",
                          "\"unk_token\":\"[UNK]\"", "\"[UNK]\":1", NULL};
    const char *repl[] = {"\"lowercase\":false", "", "\"unk_token\":\"<unk>\"", "\"<unk>\":1", NULL};
    /* Replace the whole TemplateProcessing by BertProcessing. */
    const char *tp_start = strstr(BASE, "\"post_processor\":");
    const char *tp_end = strstr(BASE, ",\"decoder\"");
    char *tp = strndup(tp_start, (size_t)(tp_end - tp_start));
    find[4] = tp;
    repl[4] = "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",3],\"cls\":[\"[CLS]\",2]}";
    feat_status st;
    feat_tokenizer *t = load(write_variant("bertproc.json", find, repl, 5), NULL, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    check_ids(t, "Hello hello", (const int32_t[]){2, 1, 5, 3}, 4);
    feat_tok_special sp;
    feat_tokenizer_special_ids(t, &sp);
    CHECK_EQ_INT(sp.unk, 1);
    CHECK_EQ_INT(sp.cls, 2);
    CHECK_EQ_INT(sp.sep, 3);
    feat_tok_config c;
    feat_tokenizer_config(t, &c);
    CHECK(!c.lowercase && !c.strip_accents && c.handle_cjk);
    feat_tokenizer_free(t);

    /* Explicit options that agree load; one that contradicts the file is refused. */
    feat_text_options *o;
    CHECK_EQ_INT(feat_text_options_new(&o), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_lowercase(o, FEAT_TRISTATE_OFF), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_strip_accents(o, FEAT_TRISTATE_OFF), FEAT_OK);
    t = load(write_variant("bertproc.json", find, repl, 5), o, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    feat_tokenizer_free(t);
    CHECK_EQ_INT(feat_text_options_set_lowercase(o, FEAT_TRISTATE_ON), FEAT_OK);
    t = load(write_variant("bertproc.json", find, repl, 5), o, &st);
    CHECK_EQ_INT(st, FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "lowercase is set on, but tokenizer.json");
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "has normalizer lowercase false");
    feat_tokenizer_free(t);
    CHECK_EQ_INT(feat_text_options_set_lowercase(o, FEAT_TRISTATE_DEFAULT), FEAT_OK);
    CHECK_EQ_INT(feat_text_options_set_strip_accents(o, FEAT_TRISTATE_ON), FEAT_OK);
    t = load(write_variant("bertproc.json", find, repl, 5), o, &st);
    CHECK_EQ_INT(st, FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "strip_accents is set on");
    feat_tokenizer_free(t);
    feat_text_options_free(o);
    free(tp);
}

typedef struct refusal {
    const char *name, *find, *repl;
    feat_status status;
    const char *message;
} refusal;

static const refusal REFUSALS[] = {
    {"bpe", "\"model\":{\"type\":\"WordPiece\"", "\"model\":{\"type\":\"BPE\"", FEAT_E_UNSUPPORTED,
     "model type 'BPE' is not supported (libfeat reproduces WordPiece (BERT) tokenizers only)"},
    {"unigram", "\"model\":{\"type\":\"WordPiece\"", "\"model\":{\"type\":\"Unigram\"", FEAT_E_UNSUPPORTED,
     "model type 'Unigram'"},
    {"no-model", "\"model\":{", "\"mode\":{", FEAT_E_DECODE, "no \"model\" object"},
    {"normalizer-seq", "\"normalizer\":{\"type\":\"BertNormalizer\"",
     "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"BertNormalizer\"},{\"type\":\"Replace\"}]},"
     "\"unused\":{\"type\":\"x\"",
     FEAT_E_UNSUPPORTED, "normalizer Sequence [BertNormalizer, Replace] is not supported"},
    {"normalizer-null",
     "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
     "\"strip_accents\":null,\"lowercase\":true}",
     "\"normalizer\":null", FEAT_E_UNSUPPORTED, "it has no normalizer"},
    {"normalizer-nfc", "\"type\":\"BertNormalizer\"", "\"type\":\"NFC\"", FEAT_E_UNSUPPORTED,
     "normalizer type 'NFC' is not supported"},
    {"clean-text", "\"clean_text\":true", "\"clean_text\":false", FEAT_E_UNSUPPORTED, "clean_text false"},
    {"normalizer-member", "\"clean_text\":true", "\"clean_text\":true,\"foo\":1", FEAT_E_UNSUPPORTED,
     "normalizer has the member 'foo'"},
    {"lowercase-type", "\"lowercase\":true", "\"lowercase\":1", FEAT_E_DECODE, "normalizer.lowercase is not true"},
    {"pre-whitespace", "{\"type\":\"BertPreTokenizer\"}", "{\"type\":\"Whitespace\"}", FEAT_E_UNSUPPORTED,
     "pre_tokenizer type 'Whitespace'"},
    {"pre-seq", "{\"type\":\"BertPreTokenizer\"}",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"BertPreTokenizer\"},{\"type\":\"Digits\"}]}",
     FEAT_E_UNSUPPORTED, "pre_tokenizer Sequence [BertPreTokenizer, Digits]"},
    {"post-roberta", "\"type\":\"TemplateProcessing\"", "\"type\":\"RobertaProcessing\"", FEAT_E_UNSUPPORTED,
     "post_processor type 'RobertaProcessing'"},
    {"post-null", "\"post_processor\":{", "\"post_processor\":null,\"unused\":{", FEAT_E_UNSUPPORTED,
     "it has no post_processor"},
    {"template-pair", "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}", "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}}",
     FEAT_E_UNSUPPORTED, "pair 'S:[CLS]:0 Q:A:0 S:[SEP]:0 Q:B:0 S:[SEP]:1' is not BERT's"},
    {"template-id", "\"ids\":[2]", "\"ids\":[7]", FEAT_E_UNSUPPORTED,
     "post_processor special token '[CLS]' has id 7, but model.vocab gives it 2"},
    {"template-two", "\"ids\":[2],\"tokens\":[\"[CLS]\"]", "\"ids\":[2,3],\"tokens\":[\"[CLS]\",\"[SEP]\"]",
     FEAT_E_UNSUPPORTED, "'[CLS]' is not one token"},
    {"added-normalized", "\"normalized\":false", "\"normalized\":true", FEAT_E_UNSUPPORTED,
     "added token '[PAD]' has normalized true"},
    {"added-lstrip", "\"lstrip\":false", "\"lstrip\":true", FEAT_E_UNSUPPORTED, "added token '[PAD]' has lstrip true"},
    {"added-missing", "{\"id\":2,\"content\":\"[CLS]\"",
     "{\"id\":16,\"content\":\"<new>\"},{\"id\":2,\"content\":\"[CLS]\"", FEAT_E_NOT_FOUND,
     "added token '<new>' is not in model.vocab"},
    {"added-id", "{\"id\":2,\"content\":\"[CLS]\"", "{\"id\":5,\"content\":\"[CLS]\"", FEAT_E_UNSUPPORTED,
     "added token '[CLS]' has id 5, but model.vocab gives it 2"},
    {"unk-missing", "\"unk_token\":\"[UNK]\"", "\"unk_token\":\"<unk>\"", FEAT_E_NOT_FOUND,
     "model.unk_token '<unk>' is not in model.vocab"},
    {"model-member", "\"max_input_chars_per_word\":100", "\"max_input_chars_per_word\":100,\"dropout\":null",
     FEAT_E_UNSUPPORTED, "model has the member 'dropout'"},
    {"max-chars", "\"max_input_chars_per_word\":100", "\"max_input_chars_per_word\":-1", FEAT_E_DECODE,
     "model.max_input_chars_per_word is not an integer"},
    {"vocab-gap", "\"!\":12", "\"!\":99", FEAT_E_DECODE, "model.vocab['!'] is not an id in 0..15"},
    {"vocab-dup-id", "\"!\":12", "\"!\":11", FEAT_E_DECODE, "model.vocab gives id 11 to both ',' and '!'"},
    {"vocab-dup-token", "\"!\":12", "\",\":12", FEAT_E_DECODE, "model.vocab has the token ',' twice"},
    {"vocab-nul", "\"!\":12", "\"!\\u0000\":12", FEAT_E_DECODE, "\\u0000 in a string"},
    {"trunc-left", "\"truncation\":null", "\"truncation\":{\"direction\":\"Left\",\"max_length\":8}",
     FEAT_E_UNSUPPORTED, "truncation direction 'Left'"},
    {"trunc-strategy", "\"truncation\":null", "\"truncation\":{\"max_length\":8,\"strategy\":\"Middle\"}",
     FEAT_E_UNSUPPORTED, "truncation strategy 'Middle'"},
    {"trunc-length", "\"truncation\":null", "\"truncation\":{\"max_length\":1}", FEAT_E_DECODE,
     "truncation.max_length is not an integer in 2..2147483647"},
    {"pad-token", "\"padding\":null", "\"padding\":{\"pad_id\":0,\"pad_token\":\"<pad>\"}", FEAT_E_NOT_FOUND,
     "padding.pad_token '<pad>' is not in model.vocab"},
    {"pad-id", "\"padding\":null", "\"padding\":{\"pad_id\":3,\"pad_token\":\"[PAD]\"}", FEAT_E_UNSUPPORTED,
     "padding.pad_token '[PAD]' has id 3, but model.vocab gives it 0"},
    {"top-member", "\"version\":\"1.0\"", "\"version\":\"1.0\",\"extra\":1", FEAT_E_UNSUPPORTED,
     "it has the member 'extra'"},
    {"not-utf8", "\"hello\":5", "\"hell\xff\":5", FEAT_E_DECODE, "not UTF-8: invalid byte 0xFF"},
    {"not-json", "\"version\":\"1.0\",", "\"version\":\"1.0\",,", FEAT_E_DECODE, "invalid JSON at byte"},
    {"not-object", "{\"version\"", "[{\"version\"", FEAT_E_DECODE, "invalid JSON"},
};

static void test_refusals(void)
{
    for (size_t i = 0; i < sizeof REFUSALS / sizeof *REFUSALS; i++) {
        const refusal *r = &REFUSALS[i];
        char name[64];
        snprintf(name, sizeof name, "%s.json", r->name);
        const char *path = write_variant(name, &r->find, &r->repl, 1);
        feat_status st;
        feat_tokenizer *t = load(path, NULL, &st);
        if (st != r->status)
            fprintf(stderr, "case %s: %s\n", r->name, feat_tokenizer_last_error(t));
        CHECK_EQ_INT(st, r->status);
        CHECK_STR_HAS(feat_tokenizer_last_error(t), r->message);
        CHECK_STR_HAS(feat_tokenizer_last_error(t), name); /* the message names the file */
        CHECK_EQ_INT(feat_tokenizer_vocab_size(t), 0);
        feat_tokenizer_free(t);
    }
}

/* A tokenizer.json under another name is read as a vocab.txt, whose line limit then says why. */
static void test_json_named_txt(void)
{
    const char *path = write_variant("tokenizer.txt", NULL, NULL, 0);
    feat_status st;
    feat_tokenizer *t = load(path, NULL, &st);
    CHECK_EQ_INT(st, FEAT_E_LIMIT);
    CHECK_STR_HAS(feat_tokenizer_last_error(t), "it looks like JSON: a tokenizer.json is read as one only when its "
                                                "name ends in .json");
    feat_tokenizer_free(t);
    t = load(write_variant("UPPER.JSON", NULL, NULL, 0), NULL, &st);
    CHECK_EQ_INT(st, FEAT_OK);
    feat_tokenizer_free(t);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_reads_settings();
    test_bert_processing_and_cased();
    test_refusals();
    test_json_named_txt();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report("test_tokenizer_json");
}
