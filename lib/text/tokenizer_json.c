/* SPDX-License-Identifier: MIT */
/* tokenizer.json for WordPiece tokenizers (docs/tokenizer.md, "tokenizer.json"). The
 * defaults of absent members are those of tokenizers 0.19.1's deserializers (BertNormalizer:
 * clean_text, handle_chinese_chars and lowercase true, strip_accents null; WordPiece: unk
 * "[UNK]", prefix "##", 100 characters). Members this file does not know are refused: a
 * setting skipped here would be a silent difference from Hugging Face. */
#include "text/tokenizer_json.h"

#include "core/json.h"
#include "text/text_internal.h"
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

static feat_status unsupported_type(const char *what, const char *type, const char *supported, feat_error *err)
{
    return feat_error_set(err, FEAT_E_UNSUPPORTED, "%s type '%s' is not supported (libfeat reproduces %s only)", what,
                          type, supported);
}

/* Refuses a member of @p o whose name is not in @p known (NULL-terminated). */
static feat_status check_members(const feat_json *o, const char *what, const char *const *known, feat_error *err)
{
    for (const feat_json *c = o->child; c; c = c->next) {
        const char *const *k = known;
        while (*k && strcmp(*k, c->key) != 0)
            k++;
        if (!*k)
            return feat_error_set(err, FEAT_E_UNSUPPORTED, "%s has the member '%s', which libfeat does not reproduce",
                                  what, c->key);
    }
    return FEAT_OK;
}

static feat_status get_bool(const feat_json *o, const char *key, int dflt, int *out, const char *what, feat_error *err)
{
    const feat_json *v = feat_json_get(o, key);
    *out = dflt;
    if (!v)
        return FEAT_OK;
    if (v->type != FEAT_JSON_BOOL)
        return feat_error_set(err, FEAT_E_DECODE, "%s.%s is not true or false", what, key);
    *out = v->num != 0;
    return FEAT_OK;
}

/* An integer in [lo, hi]; an absent member keeps *out. */
static feat_status get_uint(const feat_json *o, const char *key, double lo, double hi, uint32_t *out, const char *what,
                            feat_error *err)
{
    const feat_json *v = feat_json_get(o, key);
    if (!v)
        return FEAT_OK;
    if (v->type != FEAT_JSON_NUMBER || !(v->num >= lo && v->num <= hi) || v->num != (double)(uint32_t)v->num)
        return feat_error_set(err, FEAT_E_DECODE, "%s.%s is not an integer in %.0f..%.0f", what, key, lo, hi);
    *out = (uint32_t)v->num;
    return FEAT_OK;
}

/* The string member @p key, or @p dflt when absent (NULL dflt: required). */
static feat_status get_str(const feat_json *o, const char *key, const char *dflt, const char **out, const char *what,
                           feat_error *err)
{
    const feat_json *v = feat_json_get(o, key);
    *out = dflt;
    if (!v && dflt)
        return FEAT_OK;
    if (!v || v->type != FEAT_JSON_STRING)
        return feat_error_set(err, FEAT_E_DECODE, "%s.%s is %s", what, key, v ? "not a string" : "missing");
    *out = v->str;
    return FEAT_OK;
}

/* Id of @p token in the vocabulary; FEAT_E_NOT_FOUND naming @p role when absent, and when
 * @p want_id >= 0 the file must give the vocabulary's id. */
static feat_status vocab_id(const feat_tokjson *t, const char *token, int64_t want_id, const char *role, int32_t *out,
                            feat_error *err)
{
    int32_t id = feat_vocab_find(&t->vocab, token, strlen(token));
    if (id < 0)
        return feat_error_set(err, FEAT_E_NOT_FOUND, "%s '%s' is not in model.vocab", role, token);
    if (want_id >= 0 && want_id != id)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "%s '%s' has id %lld, but model.vocab gives it %d (libfeat needs them to agree)", role,
                              token, (long long)want_id, (int)id);
    *out = id;
    return FEAT_OK;
}

/* A "Sequence" of one element stands for that element; a longer one is refused, naming its
 * steps, because libfeat runs exactly one BertNormalizer / BertPreTokenizer / BERT
 * post-processor. */
static feat_status unwrap_sequence(const feat_json **o, const char *what, const char *list_key, feat_error *err)
{
    const char *type = feat_json_get_str(*o, "type");
    if (!type || strcmp(type, "Sequence") != 0)
        return FEAT_OK;
    const feat_json *list = feat_json_get(*o, list_key);
    if (!list || list->type != FEAT_JSON_ARRAY)
        return feat_error_set(err, FEAT_E_DECODE, "%s Sequence has no %s array", what, list_key);
    if (list->child && !list->child->next) {
        *o = list->child;
        return FEAT_OK;
    }
    char steps[256] = "";
    size_t used = 0;
    for (const feat_json *c = list->child; c && used < sizeof steps; c = c->next) {
        const char *ct = feat_json_get_str(c, "type");
        int n = snprintf(steps + used, sizeof steps - used, "%s%s", used ? ", " : "", ct ? ct : "?");
        used += n > 0 ? (size_t)n : 0;
    }
    return feat_error_set(err, FEAT_E_UNSUPPORTED, "%s Sequence [%s] is not supported (libfeat reproduces one %s only)",
                          what, steps,
                          strcmp(what, "normalizer") == 0      ? "BertNormalizer"
                          : strcmp(what, "pre_tokenizer") == 0 ? "BertPreTokenizer"
                                                               : "BERT post-processor");
}

static feat_status read_model(feat_tokjson *t, const feat_json *m, feat_error *err)
{
    static const char *const known[] = {"type",  "unk_token", "continuing_subword_prefix", "max_input_chars_per_word",
                                        "vocab", NULL};
    if (!m || m->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_DECODE, "it has no \"model\" object");
    const char *type = feat_json_get_str(m, "type"), *unk, *prefix;
    if (!type)
        return feat_error_set(err, FEAT_E_DECODE, "model has no \"type\"");
    if (strcmp(type, "WordPiece") != 0)
        return unsupported_type("model", type, "WordPiece (BERT) tokenizers", err);
    feat_status st;
    if ((st = check_members(m, "model", known, err)) || (st = get_str(m, "unk_token", "[UNK]", &unk, "model", err)) ||
        (st = get_str(m, "continuing_subword_prefix", "##", &prefix, "model", err)))
        return st;
    t->max_word_chars = FEAT_WORDPIECE_MAX_CHARS;
    if ((st = get_uint(m, "max_input_chars_per_word", 0, FEAT_TEXT_MAX_BYTES, &t->max_word_chars, "model", err)) ||
        (st = feat_vocab_from_json(&t->vocab, feat_json_get(m, "vocab"), err)))
        return st;
    feat_vocab_set_prefix(&t->vocab, prefix);
    return vocab_id(t, unk, -1, "model.unk_token", &t->unk, err);
}

static feat_status read_normalizer(feat_tokjson *t, const feat_json *n, feat_error *err)
{
    static const char *const known[] = {"type",          "clean_text", "handle_chinese_chars",
                                        "strip_accents", "lowercase",  NULL};
    feat_status st;
    if (!n || n->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_UNSUPPORTED, "it has no normalizer (libfeat reproduces BertNormalizer only)");
    if ((st = unwrap_sequence(&n, "normalizer", "normalizers", err)))
        return st;
    const char *type = feat_json_get_str(n, "type");
    if (!type || strcmp(type, "BertNormalizer") != 0)
        return unsupported_type("normalizer", type ? type : "?", "BertNormalizer", err);
    int clean;
    if ((st = check_members(n, "normalizer", known, err)) ||
        (st = get_bool(n, "clean_text", 1, &clean, "normalizer", err)) ||
        (st = get_bool(n, "handle_chinese_chars", 1, &t->handle_cjk, "normalizer", err)) ||
        (st = get_bool(n, "lowercase", 1, &t->lowercase, "normalizer", err)))
        return st;
    if (!clean)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "normalizer BertNormalizer with clean_text false is not supported (libfeat always "
                              "removes control characters)");
    const feat_json *s = feat_json_get(n, "strip_accents");
    t->strip_accents = -1;
    if (s && s->type != FEAT_JSON_NULL && (st = get_bool(n, "strip_accents", -1, &t->strip_accents, "normalizer", err)))
        return st;
    return FEAT_OK;
}

static feat_status read_pre_tokenizer(const feat_json *p, feat_error *err)
{
    static const char *const known[] = {"type", NULL};
    feat_status st;
    if (!p || p->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "it has no pre_tokenizer (libfeat reproduces BertPreTokenizer only)");
    if ((st = unwrap_sequence(&p, "pre_tokenizer", "pretokenizers", err)))
        return st;
    const char *type = feat_json_get_str(p, "type");
    if (!type || strcmp(type, "BertPreTokenizer") != 0)
        return unsupported_type("pre_tokenizer", type ? type : "?", "BertPreTokenizer", err);
    return check_members(p, "pre_tokenizer", known, err);
}

/* BertProcessing's "cls" / "sep": ["[CLS]", 101]. */
static feat_status bert_processing_token(const feat_tokjson *t, const feat_json *p, const char *key, int32_t *out,
                                         feat_error *err)
{
    const feat_json *v = feat_json_get(p, key), *s = v ? v->child : NULL, *id = s ? s->next : NULL;
    if (!v || v->type != FEAT_JSON_ARRAY || !s || s->type != FEAT_JSON_STRING || !id || id->type != FEAT_JSON_NUMBER ||
        id->next || !(id->num >= 0 && id->num <= INT32_MAX) || id->num != (double)(int32_t)id->num)
        return feat_error_set(err, FEAT_E_DECODE, "post_processor.%s is not [token, id]", key);
    char role[40];
    snprintf(role, sizeof role, "post_processor.%s", key);
    return vocab_id(t, s->str, (int64_t)id->num, role, out, err);
}

/* One piece of a TemplateProcessing template: {"SpecialToken": {"id", "type_id"}} or
 * {"Sequence": {"id", "type_id"}}, written here as "S:[CLS]:0" / "Q:A:0". */
static void template_piece(const feat_json *p, char *out, size_t cap)
{
    const feat_json *inner = p && p->type == FEAT_JSON_OBJECT && p->child && !p->child->next ? p->child : NULL;
    const char *kind = inner ? inner->key : "", *id = feat_json_get_str(inner, "id");
    const feat_json *type_id = feat_json_get(inner, "type_id");
    if (!inner || !id || !type_id || type_id->type != FEAT_JSON_NUMBER || inner->child->next->next ||
        (strcmp(kind, "SpecialToken") != 0 && strcmp(kind, "Sequence") != 0)) {
        snprintf(out, cap, "?");
        return;
    }
    snprintf(out, cap, "%c:%s:%g", kind[0] == 'S' && kind[1] == 'p' ? 'S' : 'Q', id, type_id->num);
}

/* The template as one string ("S:[CLS]:0 Q:A:0 S:[SEP]:0"), to compare with BERT's shape. */
static void template_string(const feat_json *tpl, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const feat_json *c = tpl && tpl->type == FEAT_JSON_ARRAY ? tpl->child : NULL; c && used + 1 < cap;
         c = c->next) {
        char piece[96];
        template_piece(c, piece, sizeof piece);
        int n = snprintf(out + used, cap - used, "%s%s", used ? " " : "", piece);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* special_tokens[name] = {"id": name, "ids": [id], "tokens": [token]}: one vocabulary token. */
static feat_status template_special(const feat_tokjson *t, const feat_json *specials, const char *name, int32_t *out,
                                    feat_error *err)
{
    const feat_json *s = feat_json_get(specials, name), *ids = feat_json_get(s, "ids"),
                    *toks = feat_json_get(s, "tokens");
    if (!s || !ids || ids->type != FEAT_JSON_ARRAY || !toks || toks->type != FEAT_JSON_ARRAY)
        return feat_error_set(err, FEAT_E_DECODE, "post_processor.special_tokens has no '%s' with ids and tokens",
                              name);
    const feat_json *id = ids->child, *tok = toks->child;
    if (!id || id->next || !tok || tok->next)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "post_processor special token '%s' is not one token (libfeat reproduces BERT's)", name);
    if (id->type != FEAT_JSON_NUMBER || !(id->num >= 0 && id->num <= INT32_MAX) ||
        id->num != (double)(int32_t)id->num || tok->type != FEAT_JSON_STRING)
        return feat_error_set(err, FEAT_E_DECODE, "post_processor.special_tokens['%s'] is malformed", name);
    return vocab_id(t, tok->str, (int64_t)id->num, "post_processor special token", out, err);
}

static feat_status template_processing(feat_tokjson *t, const feat_json *p, feat_error *err)
{
    static const char *const known[] = {"type", "single", "pair", "special_tokens", NULL};
    feat_status st;
    if ((st = check_members(p, "post_processor", known, err)))
        return st;
    char single[400], pair[400], cls[128] = "", sep[128] = "", want[400];
    template_string(feat_json_get(p, "single"), single, sizeof single);
    template_string(feat_json_get(p, "pair"), pair, sizeof pair);
    /* The names of the two special tokens come from the single template; the rest must be
     * BERT's shape around them. */
    const feat_json *s = feat_json_get(p, "single");
    const feat_json *first = s && s->type == FEAT_JSON_ARRAY ? s->child : NULL;
    const feat_json *last = first && first->next ? first->next->next : NULL;
    const char *c = first && first->child ? feat_json_get_str(first->child, "id") : NULL;
    const char *e = last && last->child ? feat_json_get_str(last->child, "id") : NULL;
    snprintf(cls, sizeof cls, "%s", c ? c : "?");
    snprintf(sep, sizeof sep, "%s", e ? e : "?");
    snprintf(want, sizeof want, "S:%s:0 Q:A:0 S:%s:0", cls, sep);
    int ok = strcmp(single, want) == 0;
    snprintf(want, sizeof want, "S:%s:0 Q:A:0 S:%s:0 Q:B:1 S:%s:1", cls, sep, sep);
    if (!ok || strcmp(pair, want) != 0)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "post_processor TemplateProcessing single '%s' / pair '%s' is not BERT's "
                              "[CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1 (S = special token, Q = sequence, "
                              ":type id)",
                              single, pair);
    const feat_json *specials = feat_json_get(p, "special_tokens");
    if ((st = template_special(t, specials, cls, &t->cls, err)))
        return st;
    return template_special(t, specials, sep, &t->sep, err);
}

static feat_status read_post_processor(feat_tokjson *t, const feat_json *p, feat_error *err)
{
    static const char *const bert_known[] = {"type", "sep", "cls", NULL};
    feat_status st;
    if (!p || p->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "it has no post_processor (libfeat always adds BERT's [CLS] and [SEP])");
    if ((st = unwrap_sequence(&p, "post_processor", "processors", err)))
        return st;
    const char *type = feat_json_get_str(p, "type");
    if (type && strcmp(type, "TemplateProcessing") == 0)
        return template_processing(t, p, err);
    if (!type || strcmp(type, "BertProcessing") != 0)
        return unsupported_type("post_processor", type ? type : "?", "BertProcessing and BERT's TemplateProcessing",
                                err);
    if ((st = check_members(p, "post_processor", bert_known, err)) ||
        (st = bert_processing_token(t, p, "cls", &t->cls, err)))
        return st;
    return bert_processing_token(t, p, "sep", &t->sep, err);
}

/* added_tokens: matched in the raw text before normalization, as HF does for tokens with
 * normalized false; libfeat reproduces that case only, for tokens of the vocabulary. */
static feat_status read_added_tokens(feat_tokjson *t, const feat_json *a, feat_error *err)
{
    static const char *const known[] = {"id",     "content",    "single_word", "lstrip",
                                        "rstrip", "normalized", "special",     NULL};
    static const char *const flags[] = {"single_word", "lstrip", "rstrip", "normalized"};
    if (!a || a->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (a->type != FEAT_JSON_ARRAY)
        return feat_error_set(err, FEAT_E_DECODE, "added_tokens is not an array");
    size_t n = 0;
    for (const feat_json *c = a->child; c; c = c->next)
        n++;
    if (n > FEAT_TOKJSON_MAX_ADDED)
        return feat_error_set(err, FEAT_E_LIMIT, "added_tokens has %zu entries, more than the limit of %u", n,
                              FEAT_TOKJSON_MAX_ADDED);
    t->added = malloc((n ? n : 1) * sizeof *t->added);
    if (!t->added)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory reading added_tokens");
    for (const feat_json *c = a->child; c; c = c->next) {
        const char *content;
        uint32_t id = UINT32_MAX;
        feat_status st;
        if (c->type != FEAT_JSON_OBJECT)
            return feat_error_set(err, FEAT_E_DECODE, "added_tokens[%zu] is not an object", t->n_added);
        if ((st = check_members(c, "added token", known, err)) ||
            (st = get_str(c, "content", NULL, &content, "added token", err)) ||
            (st = get_uint(c, "id", 0, INT32_MAX, &id, "added token", err)))
            return st;
        if (id == UINT32_MAX || !content[0])
            return feat_error_set(err, FEAT_E_DECODE, "added_tokens[%zu] has no id or an empty content", t->n_added);
        for (int k = 0; k < 4; k++) {
            int on;
            if ((st = get_bool(c, flags[k], 0, &on, "added token", err)))
                return st;
            if (on)
                return feat_error_set(err, FEAT_E_UNSUPPORTED,
                                      "added token '%s' has %s true (libfeat reproduces added tokens with "
                                      "single_word, lstrip, rstrip and normalized false only)",
                                      content, flags[k]);
        }
        if ((st = vocab_id(t, content, id, "added token", &t->added[t->n_added], err)))
            return st;
        t->n_added++;
    }
    return FEAT_OK;
}

static feat_status read_truncation(feat_tokjson *t, const feat_json *tr, feat_error *err)
{
    static const char *const known[] = {"direction", "max_length", "strategy", "stride", NULL};
    if (!tr || tr->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (tr->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_DECODE, "truncation is not an object or null");
    const char *dir, *strategy;
    uint32_t stride = 0, max_length = 0;
    feat_status st;
    /* stride matters only for HF's overflowing encodings, which libfeat makes only when asked
     * for windows (feat_text_options_set_window_stride), so it is read and checked only. */
    if ((st = check_members(tr, "truncation", known, err)) ||
        (st = get_str(tr, "direction", "Right", &dir, "truncation", err)) ||
        (st = get_str(tr, "strategy", "LongestFirst", &strategy, "truncation", err)) ||
        (st = get_uint(tr, "max_length", 2, INT32_MAX, &max_length, "truncation", err)) ||
        (st = get_uint(tr, "stride", 0, INT32_MAX, &stride, "truncation", err)))
        return st;
    if (!max_length)
        return feat_error_set(err, FEAT_E_DECODE, "truncation has no max_length");
    if (strcmp(dir, "Right") != 0)
        return feat_error_set(err, FEAT_E_UNSUPPORTED,
                              "truncation direction '%s' is not supported (libfeat truncates on the right)", dir);
    if (strcmp(strategy, "LongestFirst") == 0)
        t->truncation = FEAT_TRUNCATE_LONGEST_FIRST;
    else if (strcmp(strategy, "OnlyFirst") == 0)
        t->truncation = FEAT_TRUNCATE_ONLY_FIRST;
    else if (strcmp(strategy, "OnlySecond") == 0)
        t->truncation = FEAT_TRUNCATE_ONLY_SECOND;
    else
        return feat_error_set(err, FEAT_E_UNSUPPORTED, "truncation strategy '%s' is not supported", strategy);
    t->max_length = max_length;
    return FEAT_OK;
}

/* Only the pad token is used: libfeat's encodings are unpadded and the text extractor pads
 * each batch itself (docs/tokenizer.md), so strategy, direction and multiple are checked for
 * form only. */
static feat_status read_padding(feat_tokjson *t, const feat_json *p, feat_error *err)
{
    static const char *const known[] = {"strategy",  "direction", "pad_to_multiple_of", "pad_id", "pad_type_id",
                                        "pad_token", NULL};
    t->pad = -1;
    if (!p || p->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (p->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_DECODE, "padding is not an object or null");
    const char *token;
    uint32_t id = 0;
    feat_status st;
    if ((st = check_members(p, "padding", known, err)) ||
        (st = get_str(p, "pad_token", "[PAD]", &token, "padding", err)) ||
        (st = get_uint(p, "pad_id", 0, INT32_MAX, &id, "padding", err)))
        return st;
    return vocab_id(t, token, id, "padding.pad_token", &t->pad, err);
}

void feat_tokjson_free(feat_tokjson *t)
{
    if (!t)
        return;
    feat_vocab_free(&t->vocab);
    free(t->added);
    memset(t, 0, sizeof *t);
}

static feat_status check_utf8(const char *data, size_t n, feat_error *err)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = feat_utf8_decode((const uint8_t *)data + i, n - i, &cp);
        if (cp == FEAT_UC_INVALID)
            return feat_error_set(err, FEAT_E_DECODE, "not UTF-8: invalid byte 0x%02X at offset %zu",
                                  (unsigned)(uint8_t)data[i], i);
        i += k;
    }
    return FEAT_OK;
}

static feat_status read_all(feat_tokjson *t, const feat_json *root, feat_error *err)
{
    static const char *const known[] = {"version",       "truncation",     "padding", "added_tokens", "normalizer",
                                        "pre_tokenizer", "post_processor", "decoder", "model",        NULL};
    feat_status st;
    if (root->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_DECODE, "not a JSON object");
    /* The model first: its type is the most useful message for a BPE or Unigram file. The
     * decoder only turns ids back into text, which libfeat does not do, so it is not read. */
    if ((st = read_model(t, feat_json_get(root, "model"), err)) ||
        (st = read_normalizer(t, feat_json_get(root, "normalizer"), err)) ||
        (st = read_pre_tokenizer(feat_json_get(root, "pre_tokenizer"), err)) ||
        (st = read_post_processor(t, feat_json_get(root, "post_processor"), err)) ||
        (st = read_added_tokens(t, feat_json_get(root, "added_tokens"), err)) ||
        (st = read_truncation(t, feat_json_get(root, "truncation"), err)) ||
        (st = read_padding(t, feat_json_get(root, "padding"), err)))
        return st;
    return check_members(root, "it", known, err);
}

feat_status feat_tokjson_load(feat_tokjson *t, const char *path, feat_error *err)
{
    memset(t, 0, sizeof *t);
    char *data = NULL;
    size_t size = 0;
    feat_status st = feat_vocab_read_file(path, FEAT_TOKJSON_MAX_BYTES, &data, &size, err);
    if (st != FEAT_OK)
        return st;
    feat_json *root = NULL;
    if ((st = check_utf8(data, size, err)) == FEAT_OK &&
        (st = feat_json_parse_limited(data, size, FEAT_TOKJSON_MAX_BYTES, FEAT_TOKJSON_MAX_VALUES, &root, err)) ==
            FEAT_OK)
        st = read_all(t, root, err);
    feat_json_free(root);
    free(data);
    if (st != FEAT_OK) {
        feat_error_prefix(err, "tokenizer.json '%s'", path);
        feat_tokjson_free(t);
    }
    return st;
}
