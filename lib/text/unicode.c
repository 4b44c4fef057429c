/* SPDX-License-Identifier: MIT */
#include "text/unicode.h"

#include <utf8proc.h>

#include "text/unicode_fast_tables.h"

#define IN_TABLE(t, cp) in_ranges((t), sizeof(t) / sizeof((t)[0]), (cp))

static int in_ranges(const feat_cp_range *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].lo)
            hi = mid;
        else if (cp > t[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int feat_uc_is_dropped(uint32_t cp)
{
    if (cp == 0 || cp == 0xFFFD)
        return 1;
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return 0;
    if (cp > 0x10FFFF)
        return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF)
        return !IN_TABLE(fast_ctrl_remove, cp);
    /* Measured with tokenizers 0.19.1: every private-use code point (Co, 137,468 of them) is
     * removed, not only the 6 range endpoints in the Co table of the unicode_categories crate
     * that HF's is_control reads (docs/tokenizer.md).
     * The private-use ranges are the same in UCD 8 and 15. */
    return c == UTF8PROC_CATEGORY_CO;
}

int feat_uc_is_whitespace(uint32_t cp)
{
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int feat_uc_is_punct(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
               (cp >= 0x7B && cp <= 0x7E);
    if (cp > 0x10FFFF)
        return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO)
        return !IN_TABLE(fast_punct_remove, cp);
    return IN_TABLE(fast_punct_add, cp);
}

int feat_uc_is_cjk(uint32_t cp)
{
    /* Exactly the ranges of tokenizers' bert.rs, typo included: 0x2B920 (not 0x2B820). */
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int feat_uc_is_mn(uint32_t cp)
{
    if (cp < 0x300 || cp > 0x10FFFF)
        return 0;
    if (utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN)
        return !IN_TABLE(fast_mn_remove, cp);
    return IN_TABLE(fast_mn_add, cp);
}

int feat_uc_ccc(uint32_t cp)
{
    if (cp < 0x300 || cp > 0x10FFFF)
        return 0;
    int ccc = utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
    if (ccc && IN_TABLE(fast_ccc_zero, cp))
        return 0;
    return ccc;
}

size_t feat_uc_nfd(uint32_t cp, uint32_t out[FEAT_UC_NFD_MAX])
{
    if (cp < 0xC0 || cp > 0x10FFFF || IN_TABLE(fast_nfd_suppress, cp)) {
        out[0] = cp;
        return 1;
    }
    utf8proc_int32_t buf[FEAT_UC_NFD_MAX];
    int last_boundclass = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)cp, buf, FEAT_UC_NFD_MAX, UTF8PROC_DECOMPOSE, &last_boundclass);
    if (n < 1 || n > FEAT_UC_NFD_MAX) {
        /* Cannot happen for canonical decompositions (at most 4); keep the code point. */
        out[0] = cp;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)buf[i];
    return (size_t)n;
}

uint32_t feat_uc_lower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp > 0x10FFFF)
        return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

size_t feat_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    /* Table 3-7 of the Unicode standard: lead byte -> length and range of the second byte. */
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        c = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        c = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        c = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        *cp = FEAT_UC_INVALID;
        return 1;
    }
    /* The maximal subpart ends at the first byte that cannot continue the sequence. */
    for (size_t i = 1; i < len; i++) {
        if (i >= n) {
            *cp = FEAT_UC_INVALID;
            return i;
        }
        uint8_t b = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) {
            *cp = FEAT_UC_INVALID;
            return i;
        }
        c = (c << 6) | (b & 0x3F);
    }
    *cp = c;
    return len;
}

size_t feat_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
