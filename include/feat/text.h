/* SPDX-License-Identifier: MIT */
/**
 * @file feat/text.h
 * @brief Text: the BERT WordPiece tokenizer and the text feature extractor.
 *
 * @code
 *   feat_text_options *o; feat_text_extractor *ex; feat_result *r;
 *   feat_text_options_new(&o);
 *   feat_text_options_set_taps(o, "encoder.layer.-1:mean");
 *   feat_text_extractor_new(&ex);
 *   feat_text_extractor_load(ex, "minilm.pt", "vocab.txt", o);
 *   const char *texts[] = {"A man is eating food.", "A man rides a horse."};
 *   feat_text_extractor_extract(ex, texts, NULL, 2, &r);   // NULL lengths: NUL-terminated
 * @endcode
 */
#ifndef FEAT_TEXT_H
#define FEAT_TEXT_H

#include "feat/common.h"
#include "feat/result.h"

FEAT_BEGIN_DECLS

/** A yes/no setting that can also be left to the model's configuration. */
typedef enum feat_tristate { FEAT_TRISTATE_DEFAULT = 0, FEAT_TRISTATE_ON = 1, FEAT_TRISTATE_OFF = 2 } feat_tristate;

/** Truncation strategies, as in Hugging Face tokenizers. */
typedef enum feat_truncation {
    FEAT_TRUNCATE_DEFAULT = 0, /**< LONGEST_FIRST */
    FEAT_TRUNCATE_LONGEST_FIRST = 1,
    FEAT_TRUNCATE_ONLY_FIRST = 2,
    FEAT_TRUNCATE_ONLY_SECOND = 3,
    FEAT_TRUNCATE_NONE = 4 /**< over-long input is an error (tokenizer) */
} feat_truncation;

/** How the windows of a long text are combined into one row (extractor only). */
typedef enum feat_window_pooling {
    FEAT_WINDOW_DEFAULT = 0, /**< MEAN */
    FEAT_WINDOW_MEAN = 1,
    FEAT_WINDOW_MAX = 2,
    FEAT_WINDOW_FIRST = 3
} feat_window_pooling;

/** What to do with invalid UTF-8 input. */
typedef enum feat_utf8_policy {
    FEAT_UTF8_DEFAULT = 0, /**< ERROR */
    FEAT_UTF8_ERROR = 1,   /**< the item fails with FEAT_E_DECODE */
    FEAT_UTF8_REPLACE = 2  /**< each invalid sequence becomes U+FFFD */
} feat_utf8_policy;

typedef struct feat_text_options feat_text_options;
typedef struct feat_tokenizer feat_tokenizer;
typedef struct feat_encoding feat_encoding;
typedef struct feat_text_extractor feat_text_extractor;

/* ---- options (shared by the tokenizer and the extractor) --------------------------------
 * Thread-safety: an options object must not be used by two threads at once. */

FEAT_API feat_status feat_text_options_new(feat_text_options **out);
FEAT_API void feat_text_options_free(feat_text_options *opts);
/** Lowercase before WordPiece. Default: the model side-car's `lowercase` (tools/export_models.py
 *  writes it from the model's tokenizer.json, else its tokenizer_config.json), else the loaded
 *  tokenizer.json's normalizer, else ON. With a tokenizer.json a setting that contradicts its
 *  normalizer fails the load (FEAT_E_INVALID_ARGUMENT). */
FEAT_API feat_status feat_text_options_set_lowercase(feat_text_options *opts, feat_tristate lowercase);
/** Strip accents (NFD, drop marks). Default: follows lowercase, as in BERT (a tokenizer.json:
 *  its normalizer's, which a setting must agree with, as for lowercase). */
FEAT_API feat_status feat_text_options_set_strip_accents(feat_text_options *opts, feat_tristate strip);
/** Tokens per sequence including [CLS]/[SEP]. Default: the model's (512 for BERT), else a
 *  loaded tokenizer.json's truncation.max_length, else 512. */
FEAT_API feat_status feat_text_options_set_max_length(feat_text_options *opts, uint32_t max_length);
FEAT_API feat_status feat_text_options_set_truncation(feat_text_options *opts, feat_truncation strategy);
/**
 * Sliding windows for long texts (extractor): when non-zero, a text longer than max_length is
 * split into windows overlapping by @p stride tokens and their features are combined with the
 * window pooling; when 0 (default) long texts are truncated to max_length.
 */
FEAT_API feat_status feat_text_options_set_window_stride(feat_text_options *opts, uint32_t stride);
FEAT_API feat_status feat_text_options_set_window_pooling(feat_text_options *opts, feat_window_pooling pooling);
FEAT_API feat_status feat_text_options_set_utf8_policy(feat_text_options *opts, feat_utf8_policy policy);
/** Tap spec, e.g. "encoder.layer.-1:mean". NULL or "" = the model default ([CLS] of the last layer). */
FEAT_API feat_status feat_text_options_set_taps(feat_text_options *opts, const char *spec);
FEAT_API feat_status feat_text_options_set_fusion(feat_text_options *opts, feat_fusion fusion);
/** Sequences per forward pass, bucketed by length (default 16, the fastest measured on CPU; docs/performance.md). */
FEAT_API feat_status feat_text_options_set_batch_size(feat_text_options *opts, uint32_t batch_size);
/** "cpu" (default) or "cuda:N". */
FEAT_API feat_status feat_text_options_set_device(feat_text_options *opts, const char *device);
/** Inference precision (::feat_precision); default float32. FEAT_E_INVALID_ARGUMENT for values
 *  outside the enumeration. BF16 is opt-in: see ::feat_precision for its cost. */
FEAT_API feat_status feat_text_options_set_precision(feat_text_options *opts, feat_precision precision);

/* ---- tokenizer ---------------------------------------------------------------------------
 * Thread-safety: a loaded tokenizer is read-only; several threads may encode with it at once.
 * Loading must not race with encoding. */

FEAT_API feat_status feat_tokenizer_new(feat_tokenizer **out);
FEAT_API void feat_tokenizer_free(feat_tokenizer *tok);
FEAT_API const char *feat_tokenizer_last_error(const feat_tokenizer *tok);
/**
 * Loads a WordPiece vocabulary: a vocab.txt (one token per line), or a Hugging Face
 * tokenizer.json when @p vocab_path ends in ".json" (any case). @p opts copied (NULL = defaults).
 * A tokenizer.json brings its normalizer, special tokens and truncation (docs/tokenizer.md,
 * "tokenizer.json"): lowercase / strip_accents set in @p opts must agree with its normalizer
 * (else FEAT_E_INVALID_ARGUMENT), max_length / truncation set in @p opts win over its
 * truncation section. A model other than WordPiece, or a normalizer, pre-tokenizer or
 * post-processor other than BERT's, is FEAT_E_UNSUPPORTED naming it.
 */
FEAT_API feat_status feat_tokenizer_load(feat_tokenizer *tok, const char *vocab_path, const feat_text_options *opts);
FEAT_API size_t feat_tokenizer_vocab_size(const feat_tokenizer *tok);
/** Id of @p token, or -1 when absent. */
FEAT_API int32_t feat_tokenizer_token_to_id(const feat_tokenizer *tok, const char *token);
/** Token string of @p id (borrowed, lives as long as @p tok), NULL when out of range. */
FEAT_API const char *feat_tokenizer_id_to_token(const feat_tokenizer *tok, int32_t id);

/**
 * Encodes one text (or a pair when @p text_b is not NULL) as [CLS] A [SEP] (B [SEP]),
 * truncated to max_length with the configured strategy.
 * @param len_a, len_b  byte lengths, or (size_t)-1 for NUL-terminated strings
 * @return FEAT_OK, FEAT_E_DECODE (invalid UTF-8 under FEAT_UTF8_ERROR), FEAT_E_STATE (not loaded),
 *         FEAT_E_INVALID_ARGUMENT, FEAT_E_NOMEM. Errors are kept on @p tok (per-thread when
 *         several threads share it: read them with feat_last_error()).
 */
FEAT_API feat_status feat_tokenizer_encode(const feat_tokenizer *tok, const char *text_a, size_t len_a,
                                           const char *text_b, size_t len_b, feat_encoding **out);

FEAT_API void feat_encoding_free(feat_encoding *enc);
/** Number of tokens, special tokens included. */
FEAT_API size_t feat_encoding_len(const feat_encoding *enc);
/** Arrays of feat_encoding_len() values; borrowed until feat_encoding_free(). */
FEAT_API const int32_t *feat_encoding_ids(const feat_encoding *enc);
FEAT_API const int32_t *feat_encoding_type_ids(const feat_encoding *enc);
FEAT_API const int32_t *feat_encoding_attention_mask(const feat_encoding *enc);
/** Which sequence a token came from: 0 (A), 1 (B), -1 for special tokens. */
FEAT_API const int32_t *feat_encoding_sequence_ids(const feat_encoding *enc);
/** Offsets of each token in its source text, [start, end) pairs (2*len values); special
 *  tokens get (0, 0). Bytes, or Unicode code points. */
FEAT_API const int64_t *feat_encoding_offsets_bytes(const feat_encoding *enc);
FEAT_API const int64_t *feat_encoding_offsets_chars(const feat_encoding *enc);
/** Number of tokens removed by truncation (0 when everything fit). */
FEAT_API size_t feat_encoding_n_truncated(const feat_encoding *enc);

/* ---- extractor ---------------------------------------------------------------------------
 * Thread-safety: as feat_image_extractor (one thread at a time; clone per thread). */

FEAT_API feat_status feat_text_extractor_new(feat_text_extractor **out);
FEAT_API void feat_text_extractor_free(feat_text_extractor *ex);
FEAT_API const char *feat_text_extractor_last_error(const feat_text_extractor *ex);
/** Loads the model and the vocabulary, a vocab.txt or tokenizer.json as for feat_tokenizer_load
 *  (NULL = the side-car's vocab next to the model). */
FEAT_API feat_status feat_text_extractor_load(feat_text_extractor *ex, const char *model_path, const char *vocab_path,
                                              const feat_text_options *opts);
FEAT_API feat_status feat_text_extractor_clone(const feat_text_extractor *ex, feat_text_extractor **out);
FEAT_API size_t feat_text_extractor_dim(const feat_text_extractor *ex);
FEAT_API size_t feat_text_extractor_n_taps(const feat_text_extractor *ex);
FEAT_API const char *feat_text_extractor_tap(const feat_text_extractor *ex, size_t i);
/** Pooled length of tap @p i (known after load; 0 before or when out of range); as
 *  feat_image_extractor_tap_dim. */
FEAT_API size_t feat_text_extractor_tap_dim(const feat_text_extractor *ex, size_t i);
/** The extractor's tokenizer (borrowed, lives as long as @p ex). */
FEAT_API const feat_tokenizer *feat_text_extractor_tokenizer(const feat_text_extractor *ex);

/**
 * Extracts one row per text. @p lens may be NULL (all NUL-terminated) or give byte lengths
 * ((size_t)-1 for a NUL-terminated entry). Invalid UTF-8 fails only its own item.
 */
FEAT_API feat_status feat_text_extractor_extract(feat_text_extractor *ex, const char *const *texts, const size_t *lens,
                                                 size_t n, feat_result **out);
/** As _extract, for sentence pairs (token type ids 0 and 1). */
FEAT_API feat_status feat_text_extractor_extract_pairs(feat_text_extractor *ex, const char *const *texts_a,
                                                       const size_t *lens_a, const char *const *texts_b,
                                                       const size_t *lens_b, size_t n, feat_result **out);
FEAT_API void feat_text_extractor_cancel(feat_text_extractor *ex);

/* ---- ensemble ----------------------------------------------------------------------------
 * Several loaded text extractors (each with its own vocabulary and options) on the same
 * texts: one row per text, the members' rows side by side in the order added, as
 * feat_image_ensemble (image.h) with the same rules for failed rows, names and threads. Each
 * member tokenizes with its own tokenizer; there is nothing to share between them but the
 * call, so a row equals the concatenation of the members' own rows bit for bit. */

typedef struct feat_text_ensemble feat_text_ensemble;

FEAT_API feat_status feat_text_ensemble_new(feat_text_ensemble **out);
FEAT_API void feat_text_ensemble_free(feat_text_ensemble *ens);
FEAT_API const char *feat_text_ensemble_last_error(const feat_text_ensemble *ens);
/** Adds a loaded extractor (borrowed) as the next member, named @p name (copied; NULL or ""
 *  = "member K") in item messages. FEAT_E_STATE when @p ex has no model, FEAT_E_LIMIT past 64. */
FEAT_API feat_status feat_text_ensemble_add(feat_text_ensemble *ens, feat_text_extractor *ex, const char *name);
FEAT_API size_t feat_text_ensemble_n_members(const feat_text_ensemble *ens);
/** Sum of the members' dims (0 without members). */
FEAT_API size_t feat_text_ensemble_dim(const feat_text_ensemble *ens);
/** As feat_text_extractor_extract, with every member (FEAT_E_STATE without members). */
FEAT_API feat_status feat_text_ensemble_extract(feat_text_ensemble *ens, const char *const *texts, const size_t *lens,
                                                size_t n, feat_result **out);
/** As feat_text_extractor_extract_pairs, with every member. */
FEAT_API feat_status feat_text_ensemble_extract_pairs(feat_text_ensemble *ens, const char *const *texts_a,
                                                      const size_t *lens_a, const char *const *texts_b,
                                                      const size_t *lens_b, size_t n, feat_result **out);

FEAT_END_DECLS

#endif /* FEAT_TEXT_H */
