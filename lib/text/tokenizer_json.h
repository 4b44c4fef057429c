/* SPDX-License-Identifier: MIT */
/* Reading a Hugging Face tokenizer.json (the file `tokenizers` writes) for a WordPiece
 * tokenizer: what the file says, checked against what lib/text reproduces exactly. Every
 * element libfeat cannot reproduce is refused by name (docs/tokenizer.md, "tokenizer.json"),
 * never ignored. Private to lib/text; tokenizer.c resolves the options against it. */
#ifndef FEAT_TEXT_TOKENIZER_JSON_H
#define FEAT_TEXT_TOKENIZER_JSON_H

#include "core/error.h"
#include "feat/text.h"
#include "text/vocab.h"

#include <stddef.h>
#include <stdint.h>

/* Limits of the file itself (FEAT_E_LIMIT): a 30k-token BERT tokenizer.json is about 0.5 MB
 * and 40k values, a 120k-token multilingual one about 2 MB; a value costs the reader ~80
 * bytes, so the value limit bounds its memory at about 300 MB for a hostile file. */
#define FEAT_TOKJSON_MAX_BYTES (64u << 20)
#define FEAT_TOKJSON_MAX_VALUES (1u << 22)
#define FEAT_TOKJSON_MAX_ADDED 1024u /* added_tokens entries */

typedef struct feat_tokjson {
    feat_vocab vocab;           /* model.vocab, with the model's continuing_subword_prefix */
    int lowercase;              /* normalizer.lowercase */
    int strip_accents;          /* normalizer.strip_accents: 1/0, -1 for null (follows lowercase) */
    int handle_cjk;             /* normalizer.handle_chinese_chars */
    int32_t unk, cls, sep;      /* model.unk_token, the post-processor's [CLS]/[SEP] */
    int32_t pad;                /* padding.pad_id, -1 without a padding section */
    uint32_t max_word_chars;    /* model.max_input_chars_per_word */
    uint32_t max_length;        /* truncation.max_length, 0 without a truncation section */
    feat_truncation truncation; /* truncation.strategy (DEFAULT without a section) */
    size_t n_added;
    int32_t *added; /* ids of added_tokens in file order; their strings are the vocabulary's */
} feat_tokjson;

/* Reads and checks @p path. Errors (one line naming the file and the element): FEAT_E_NOT_FOUND
 * / FEAT_E_IO for the file, FEAT_E_LIMIT, FEAT_E_DECODE (not UTF-8, not JSON, malformed
 * members), FEAT_E_UNSUPPORTED (a model other than WordPiece, a normalizer, pre-tokenizer,
 * post-processor or setting libfeat does not reproduce), FEAT_E_NOT_FOUND (a special token
 * missing from model.vocab), FEAT_E_NOMEM. On failure @p t is empty. */
feat_status feat_tokjson_load(feat_tokjson *t, const char *path, feat_error *err);
void feat_tokjson_free(feat_tokjson *t);

#endif
