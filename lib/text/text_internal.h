/* SPDX-License-Identifier: MIT */
/* Internal interface of the text component, for the text extractor (lib/extract) and tests.
 *
 * Thread rules: a loaded feat_tokenizer is read-only. Any number of threads may call
 * feat_tok_encode() on the same tokenizer at once as long as each passes its own scratch,
 * output and error objects; nothing here writes to the tokenizer.
 *
 * Typical extractor use (one scratch + one output per worker, reused for every text):
 *
 *   feat_tok_scratch *s; feat_tok_scratch_new(&s);
 *   feat_tok_output out = {0};
 *   feat_tok_params p;  feat_tok_params_from_tokenizer(tok, &p);   // max_length, truncation
 *   p.windows = opts->window_stride != 0; p.stride = opts->window_stride;
 *   for each text: st = feat_tok_encode(tok, s, text, len, NULL, 0, &p, &out, &item_err);
 *       -> out.n_windows rows; row w = tokens [out.win_start[w], out.win_start[w+1])
 *   feat_tok_output_free(&out); feat_tok_scratch_free(s);
 */
#ifndef FEAT_TEXT_INTERNAL_H
#define FEAT_TEXT_INTERNAL_H

#include "core/error.h"
#include "feat/text.h"
#include "text/text_options.h"

#include <stddef.h>
#include <stdint.h>

/* Hard limits (FEAT_E_LIMIT when exceeded). */
#define FEAT_VOCAB_MAX_FILE_BYTES (256u << 20) /* vocab.txt size */
#define FEAT_VOCAB_MAX_LINE_BYTES 1024u        /* one token */
#define FEAT_VOCAB_MAX_TOKENS (1u << 24)       /* lines (ids) */
#define FEAT_TEXT_MAX_BYTES (1u << 30)         /* one input text (offsets are 32-bit inside) */
#define FEAT_WORDPIECE_MAX_CHARS 100u          /* longer words become one [UNK], as in HF */

/* Ids of the special tokens of a loaded tokenizer. cls, sep and unk always exist (load fails
 * otherwise); pad is the id of [PAD], or 0 when the vocabulary has none (HF's pad_id default);
 * mask is -1 when the vocabulary has no [MASK]. */
typedef struct feat_tok_special {
    int32_t cls, sep, pad, unk, mask;
} feat_tok_special;

void feat_tokenizer_special_ids(const feat_tokenizer *tok, feat_tok_special *out);

/* Effective normalizer settings of a loaded tokenizer (after resolving the defaults). */
typedef struct feat_tok_config {
    int lowercase;                /* 1/0 */
    int strip_accents;            /* 1/0 */
    int handle_cjk;               /* spaces around CJK ideographs (BERT's handle_chinese_chars) */
    uint32_t max_length;          /* resolved: never 0 */
    feat_truncation truncation;   /* resolved: never DEFAULT */
    feat_utf8_policy utf8_policy; /* resolved: ERROR or REPLACE */
} feat_tok_config;

void feat_tokenizer_config(const feat_tokenizer *tok, feat_tok_config *out);

/* Per-call parameters of feat_tok_encode. */
typedef struct feat_tok_params {
    uint32_t max_length;        /* tokens per row including [CLS]/[SEP]; >= 2 (>= 3 for pairs) */
    feat_truncation truncation; /* for a single text only LONGEST_FIRST/ONLY_FIRST/NONE matter */
    int windows;                /* 1: split a long single text into overlapping windows instead
                                   of truncating (HF return_overflowing_tokens + stride) */
    uint32_t stride;            /* windows: content tokens shared by consecutive windows;
                                   must be < max_length - 2 */
    int want_offsets;           /* 1: fill offsets_bytes / offsets_chars */
} feat_tok_params;

/* Fills @p out from the tokenizer's configuration (max_length, truncation; no windows,
 * offsets off). */
void feat_tok_params_from_tokenizer(const feat_tokenizer *tok, feat_tok_params *out);

/* Caller-owned, reusable output. Zero-initialise it once ({0}); feat_tok_encode grows the
 * arrays with realloc only when a text needs more room than any before, so steady-state
 * encoding allocates nothing. Release with feat_tok_output_free. */
typedef struct feat_tok_output {
    size_t n_windows;               /* rows produced (1 unless params.windows and the text is long) */
    size_t n_tokens;                /* tokens over all rows */
    size_t *win_start;              /* n_windows + 1 entries: row w = tokens [win_start[w], win_start[w+1]) */
    int32_t *ids;                   /* n_tokens each */
    int32_t *type_ids;              /* 0 for [CLS] A [SEP], 1 for B [SEP] */
    int32_t *attention_mask;        /* 1 everywhere (padding is the caller's) */
    int32_t *sequence_ids;          /* 0 (A), 1 (B), -1 for [CLS]/[SEP] */
    int64_t *offsets_bytes;         /* 2 * n_tokens when want_offsets: [start, end) into the item's own text */
    int64_t *offsets_chars;         /* same in code points (an invalid sequence replaced by U+FFFD counts 1) */
    size_t n_truncated;             /* content tokens dropped by truncation (0 with windows) */
    size_t cap_tokens, cap_windows; /* allocated capacities (internal) */
} feat_tok_output;

void feat_tok_output_free(feat_tok_output *out);

/* Per-thread working memory for feat_tok_encode (normalised text, word pieces). */
typedef struct feat_tok_scratch feat_tok_scratch;
feat_status feat_tok_scratch_new(feat_tok_scratch **out);
void feat_tok_scratch_free(feat_tok_scratch *s);

/*
 * Encodes text_a (and text_b when non-NULL) into out as [CLS] A [SEP] (B [SEP]), exactly as
 * Hugging Face's fast BERT tokenizer with the same vocabulary and normalizer settings.
 *  - Lengths are byte counts; (size_t)-1 means NUL-terminated. With an explicit length an
 *    embedded NUL is a control character and is removed, as HF removes '\0'.
 *  - Invalid UTF-8: FEAT_E_DECODE (message names the byte offset) unless the tokenizer's
 *    utf8 policy is REPLACE (each maximal ill-formed subsequence then counts as one U+FFFD,
 *    which BERT's clean_text removes).
 *  - Truncation: params->truncation with budget max_length - 2 (single) / - 3 (pair); NONE
 *    and an over-long input -> FEAT_E_LIMIT; ONLY_FIRST/ONLY_SECOND that cannot reach the
 *    budget -> FEAT_E_LIMIT (HF's SequenceTooShort); ONLY_SECOND without text_b when
 *    truncation is needed -> FEAT_E_INVALID_ARGUMENT (HF's SecondSequenceNotProvided).
 *  - Windows (params->windows, single text only): content windows of max_length - 2 tokens
 *    starting every max_length - 2 - stride tokens until one reaches the end, each wrapped
 *    in [CLS] ... [SEP]; identical to HF's encoding + encoding.overflowing.
 * Errors are written to @p err (may be NULL) only; the tokenizer is not touched.
 * Returns FEAT_OK, FEAT_E_INVALID_ARGUMENT, FEAT_E_STATE (not loaded), FEAT_E_DECODE,
 * FEAT_E_LIMIT, FEAT_E_NOMEM.
 */
feat_status feat_tok_encode(const feat_tokenizer *tok, feat_tok_scratch *scratch, const char *text_a, size_t len_a,
                            const char *text_b, size_t len_b, const feat_tok_params *params, feat_tok_output *out,
                            feat_error *err);

#endif
