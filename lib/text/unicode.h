/* SPDX-License-Identifier: MIT */
/* Character classes of Hugging Face's fast BERT tokenizer on top of utf8proc 2.8.
 *
 * HF's Rust code classifies with frozen tables (general categories of UCD 8.0 from the
 * unicode_categories 0.1.1 crate, NFD of UCD 9.0); utf8proc carries UCD 15.0. These helpers
 * apply the generated corrections (unicode_fast_tables.h) so each answer is the one HF gives.
 * All functions are pure and thread-safe. */
#ifndef FEAT_TEXT_UNICODE_H
#define FEAT_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct feat_cp_range {
    uint32_t lo, hi; /* inclusive */
} feat_cp_range;

/* Longest canonical decomposition (UCD 15: 4 code points) with room to spare. */
#define FEAT_UC_NFD_MAX 8

/* clean_text: deleted (Cc/Cf of UCD 8 minus \t\n\r, plus 6 private-use endpoints, U+0000, U+FFFD). */
int feat_uc_is_dropped(uint32_t cp);
/* Rust char::is_whitespace (White_Space property). */
int feat_uc_is_whitespace(uint32_t cp);
/* BertPreTokenizer punctuation: ASCII punctuation or P* of UCD 8. */
int feat_uc_is_punct(uint32_t cp);
/* handle_chinese_chars ranges, including HF's 0x2B920 typo (Ext. E head not isolated). */
int feat_uc_is_cjk(uint32_t cp);
/* Mn of UCD 8 (deleted by strip_accents). */
int feat_uc_is_mn(uint32_t cp);
/* Canonical combining class as HF's UCD 9 NFD sees it (0 for marks added later). */
int feat_uc_ccc(uint32_t cp);
/* Canonical (full, recursive) decomposition of UCD 9 into out; returns the count (>= 1). */
size_t feat_uc_nfd(uint32_t cp, uint32_t out[FEAT_UC_NFD_MAX]);
/* Rust char::to_lowercase() when it yields one code point; U+0130 is handled by the caller. */
uint32_t feat_uc_lower(uint32_t cp);

/* Decodes one UTF-8 sequence at s[0..n) (n >= 1). Returns the bytes consumed: the sequence
 * length, or for ill-formed input the length of the maximal subpart (Unicode §3.9, >= 1),
 * with *cp set to FEAT_UC_INVALID. */
#define FEAT_UC_INVALID 0xFFFFFFFFu
size_t feat_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* Encodes cp (valid scalar value) into out[0..4); returns the byte count. */
size_t feat_utf8_encode(uint32_t cp, uint8_t out[4]);

#endif
