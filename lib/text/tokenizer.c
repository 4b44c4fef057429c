/* SPDX-License-Identifier: MIT */
/* BERT tokenizer: BertNormalizer + BertPreTokenizer + WordPiece + BERT post-processing, with
 * the exact semantics of Hugging Face tokenizers' fast implementation (docs/tokenizer.md).
 *
 * Pipeline per sequence, all in caller scratch (no allocation once the scratch is warm):
 *   1. normalize(): one pass over the UTF-8 bytes. Special tokens of the vocabulary found in
 *      the raw text become markers; everything else goes through clean_text, CJK spacing,
 *      NFD + Mn removal (strip_accents) and lowercase, into a stream of code points, each
 *      tagged with the index of the original character it came from (for offsets).
 *   2. tokenize_stream(): splits the stream on spaces and punctuation and runs WordPiece on
 *      each word with the vocabulary trie.
 *   3. feat_tok_encode(): truncation or windows, then put_special() / put_range() write
 *      [CLS]/[SEP], type ids, masks and offsets. */
#include "text/text_internal.h"
#include "text/tokenizer_json.h"
#include "text/unicode.h"
#include "text/vocab.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_SPECIAL_NAMES 5
static const char *const special_names[N_SPECIAL_NAMES] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* Markers for special tokens in the normalized stream: above any code point. */
#define MARK_BASE 0x110000u

/* A token matched in the raw text before normalization (HF's added tokens with normalized
 * false): its bytes (the vocabulary's string), length in bytes and code points, id. */
typedef struct special_match {
    const char *str;
    uint32_t len, chars;
    int32_t id;
} special_match;

struct feat_tokenizer {
    feat_error err; /* load errors (written only by non-const calls) */
    int loaded;
    feat_text_options *opts; /* copy of the options given to load */
    feat_tok_config cfg;
    feat_vocab vocab;
    feat_tok_special special;
    uint32_t max_word_chars; /* longer words are one [UNK] (WordPiece max_input_chars_per_word) */
    /* Tokens matched in raw text: for vocab.txt those of the 5 names present in the
     * vocabulary, as HF's BertWordPieceTokenizer adds only those; for tokenizer.json its
     * added_tokens. match_first[b]: some token starts with byte b. */
    size_t n_match;
    special_match *match;
    uint8_t match_first[256];
};

typedef struct seq_buf {
    uint32_t *obyte; /* original char index -> byte offset; n_chars + 1 entries */
    size_t obyte_cap, n_chars;
    uint32_t *ncp, *nsrc; /* normalized stream: code point (or marker), original char index */
    uint8_t *nins;        /* strip_accents: 1 when the entry is a non-first part of an NFD */
    size_t ncap, nlen;
    uint32_t *rtmp; /* sort_run() work space: 2 * rcap */
    uint8_t *rtmp8;
    size_t rcap;
    int sort_failed;
    int32_t *tid;            /* tokens of the sequence (before [CLS]/[SEP]) */
    uint32_t *tstart, *tend; /* original char range of each token */
    size_t tcap, nt;
} seq_buf;

struct feat_tok_scratch {
    seq_buf seq[2];
};

/* ---- byte classes for the ASCII fast path ---------------------------------------------- */
enum { A_DROP = 0, A_SPACE = 1, A_WORD = 2, A_PUNCT = 3 };
static const uint8_t ascii_class[128] = {
    /* 0x00-0x1F: controls are dropped except \t \n \r, which are whitespace */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* ' ' ! " # $ % & ' ( ) * + , - . / 0-9 : ; < = > ? */
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
    /* @ A-Z [ \ ] ^ _ */
    3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
    /* ` a-z { | } ~ DEL(dropped: Cc) */
    3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 0};

static inline int is_punct(uint32_t cp) { return cp < 0x80 ? ascii_class[cp] == A_PUNCT : feat_uc_is_punct(cp); }

/* ---- scratch ----------------------------------------------------------------------------- */

feat_status feat_tok_scratch_new(feat_tok_scratch **out)
{
    if (!out)
        return FEAT_E_INVALID_ARGUMENT;
    *out = calloc(1, sizeof **out);
    return *out ? FEAT_OK : FEAT_E_NOMEM;
}

void feat_tok_scratch_free(feat_tok_scratch *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2; i++) {
        free(s->seq[i].obyte);
        free(s->seq[i].ncp);
        free(s->seq[i].nsrc);
        free(s->seq[i].nins);
        free(s->seq[i].rtmp);
        free(s->seq[i].rtmp8);
        free(s->seq[i].tid);
        free(s->seq[i].tstart);
        free(s->seq[i].tend);
    }
    free(s);
}

static int grow_u32(uint32_t **p, size_t need)
{
    uint32_t *q = realloc(*p, need * sizeof **p);
    if (!q)
        return 0;
    *p = q;
    return 1;
}

static int reserve_stream(seq_buf *b, size_t need)
{
    if (need <= b->ncap)
        return 1;
    size_t cap = b->ncap ? b->ncap : 64;
    while (cap < need)
        cap *= 2;
    if (!grow_u32(&b->ncp, cap) || !grow_u32(&b->nsrc, cap))
        return 0;
    uint8_t *f = realloc(b->nins, cap);
    if (!f)
        return 0;
    b->nins = f;
    b->ncap = cap;
    return 1;
}

static int reserve_tokens(seq_buf *b, size_t need)
{
    if (need <= b->tcap)
        return 1;
    size_t cap = b->tcap ? b->tcap : 64;
    while (cap < need)
        cap *= 2;
    int32_t *t = realloc(b->tid, cap * sizeof *t);
    if (!t)
        return 0;
    b->tid = t;
    if (!grow_u32(&b->tstart, cap) || !grow_u32(&b->tend, cap))
        return 0;
    b->tcap = cap;
    return 1;
}

/* ---- 1. normalization ------------------------------------------------------------------- */

typedef struct norm_state {
    seq_buf *b;
    size_t run_start; /* first index of the current run of non-starters (canonical ordering) */
    int lower, strip;
    int has_mn; /* a mark for strip_marks() was emitted */
} norm_state;

static inline void emit(norm_state *ns, uint32_t cp, uint32_t src)
{
    seq_buf *b = ns->b;
    b->ncp[b->nlen] = cp;
    b->nsrc[b->nlen] = src;
    b->nlen++;
}

/* Canonical ordering of the run of non-starters [a, e) the way HF's NFD does it: the
 * unicode-normalization crate stably sorts (char, change) pairs by combining class, then
 * alignments are handed out by walking the sorted pairs: each first part of a decomposition
 * takes the next original character's alignment, each further part copies the one before.
 * So code points and "first part" flags move, while first-part alignments keep their order.
 * Counting sort: linear even for adversarial runs of thousands of marks. */
static void sort_run(seq_buf *b, size_t a, size_t e)
{
    size_t n = e - a;
    int sorted = 1;
    for (size_t q = a + 1; q < e && sorted; q++)
        sorted = feat_uc_ccc(b->ncp[q - 1]) <= feat_uc_ccc(b->ncp[q]);
    if (sorted)
        return;
    if (n > b->rcap) {
        uint32_t *t = realloc(b->rtmp, 2 * n * sizeof *t);
        uint8_t *t8 = t ? realloc(b->rtmp8, 2 * n) : NULL;
        if (t)
            b->rtmp = t;
        if (t8)
            b->rtmp8 = t8;
        if (!t || !t8) {
            b->sort_failed = 1; /* reported as FEAT_E_NOMEM by normalize() */
            return;
        }
        b->rcap = n;
    }
    uint32_t *cps = b->rtmp, *firsts = b->rtmp + n;
    uint8_t *ccc = b->rtmp8, *ins = b->rtmp8 + n;
    size_t count[257] = {0}, nf = 0;
    for (size_t q = 0; q < n; q++) {
        cps[q] = b->ncp[a + q];
        ins[q] = b->nins[a + q];
        ccc[q] = (uint8_t)feat_uc_ccc(cps[q]);
        count[ccc[q] + 1]++;
        if (!ins[q])
            firsts[nf++] = b->nsrc[a + q];
    }
    for (int c = 1; c < 257; c++)
        count[c] += count[c - 1];
    for (size_t q = 0; q < n; q++) {
        size_t to = a + count[ccc[q]]++;
        b->ncp[to] = cps[q];
        b->nins[to] = ins[q];
    }
    size_t f = 0;
    for (size_t q = a; q < e; q++)
        b->nsrc[q] = !b->nins[q] ? firsts[f++] : q > 0 ? b->nsrc[q - 1] : 0;
}

/* Called before a starter (combining class 0) enters the stream: the run before it is final. */
static inline void close_run(norm_state *ns)
{
    if (ns->b->nlen - ns->run_start > 1)
        sort_run(ns->b, ns->run_start, ns->b->nlen);
    ns->run_start = ns->b->nlen;
}

static inline void emit_starter(norm_state *ns, uint32_t cp, uint32_t src)
{
    close_run(ns);
    emit(ns, cp, src);
    ns->run_start = ns->b->nlen;
}

/* strip_accents / lowercase of one (non-whitespace, non-control) code point. */
static void norm_char(norm_state *ns, uint32_t cp, uint32_t src)
{
    seq_buf *b = ns->b;
    if (!ns->strip) {
        /* No NFD, hence no reordering: every code point is final where it lands. */
        if (!ns->lower)
            emit(ns, cp, src);
        else if (cp == 0x130) { /* the one unconditional multi-code-point lowercase */
            emit(ns, 'i', src);
            emit(ns, 0x307, src);
        } else
            emit(ns, feat_uc_lower(cp), src);
        ns->run_start = b->nlen;
        return;
    }
    uint32_t d[FEAT_UC_NFD_MAX];
    size_t nd = feat_uc_nfd(cp, d);
    for (size_t k = 0; k < nd; k++) {
        uint32_t x = d[k];
        /* Marks (Mn) stay in the stream until strip_marks(): HF removes them after the
         * canonical reordering, and which alignment survives depends on their position. */
        if (feat_uc_is_mn(x))
            ns->has_mn = 1;
        else if (ns->lower)
            x = x == 0x130 ? 'i' : feat_uc_lower(x);
        b->nins[b->nlen] = k > 0;
        if (feat_uc_ccc(x) == 0)
            emit_starter(ns, x, src);
        else
            emit(ns, x, src); /* sorted by close_run() when the run ends */
    }
}

/* The Mn filter of strip_accents, after NFD: drops marks together with the alignment of
 * the position they ended up at. */
static void strip_marks(seq_buf *b)
{
    size_t w = 0;
    for (size_t r = 0; r < b->nlen; r++) {
        uint32_t cp = b->ncp[r];
        if (cp >= 0x300 && cp < MARK_BASE && feat_uc_is_mn(cp))
            continue;
        b->ncp[w] = cp;
        b->nsrc[w] = b->nsrc[r];
        w++;
    }
    b->nlen = w;
}

/* The longest token matching at s: HF finds added tokens leftmost-longest (aho-corasick
 * MatchKind::LeftmostLongest), and the caller tries every position from the left. */
static int match_special(const feat_tokenizer *tok, const uint8_t *s, size_t n)
{
    int best = -1;
    for (size_t k = 0; k < tok->n_match; k++) {
        const special_match *m = &tok->match[k];
        if (m->len <= n && (best < 0 || m->len > tok->match[best].len) && memcmp(s, m->str, m->len) == 0)
            best = (int)k;
    }
    return best;
}

static feat_status normalize(const feat_tokenizer *tok, const uint8_t *s, size_t n, seq_buf *b, feat_error *err,
                             const char *which)
{
    const int replace = tok->cfg.utf8_policy == FEAT_UTF8_REPLACE;
    b->nlen = 0;
    b->n_chars = 0;
    b->sort_failed = 0;
    if (n + 1 > b->obyte_cap) {
        if (!grow_u32(&b->obyte, n + 1))
            return feat_error_set(err, FEAT_E_NOMEM, "out of memory tokenizing %s (%zu bytes)", which, n);
        b->obyte_cap = n + 1;
    }
    /* Invariant: room for one output per remaining byte plus slack; ASCII never breaks it,
     * the non-ASCII path re-establishes it. */
    if (!reserve_stream(b, n + 16))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory tokenizing %s (%zu bytes)", which, n);
    norm_state ns = {b, 0, tok->cfg.lowercase, tok->cfg.strip_accents, 0};
    const int lower = tok->cfg.lowercase, cjk = tok->cfg.handle_cjk;
    uint32_t *obyte = b->obyte;
    size_t i = 0, ci = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (tok->match_first[c]) {
            int k = match_special(tok, s + i, n - i);
            if (k >= 0) {
                const special_match *m = &tok->match[k];
                emit_starter(&ns, MARK_BASE + (uint32_t)k, (uint32_t)ci);
                for (uint32_t j = 0; j < m->len; j++)
                    if (((uint8_t)m->str[j] & 0xC0) != 0x80)
                        obyte[ci++] = (uint32_t)(i + j);
                i += m->len;
                continue;
            }
        }
        if (c < 0x80) {
            obyte[ci] = (uint32_t)i;
            uint8_t cls = ascii_class[c];
            /* A dropped control is removed before NFD, so it does not end a mark run. */
            if (cls == A_SPACE)
                emit_starter(&ns, ' ', (uint32_t)ci);
            else if (cls != A_DROP)
                emit_starter(&ns, lower && c >= 'A' && c <= 'Z' ? c + 32u : c, (uint32_t)ci);
            ci++;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = feat_utf8_decode(s + i, n - i, &cp);
        if (cp == FEAT_UC_INVALID) {
            if (!replace)
                return feat_error_set(err, FEAT_E_DECODE, "%s is not valid UTF-8: byte 0x%02X at offset %zu", which,
                                      (unsigned)c, i);
            cp = 0xFFFD; /* removed by clean_text below */
        }
        obyte[ci] = (uint32_t)i;
        if (!reserve_stream(b, b->nlen + (n - i) + 16 + 2 * FEAT_UC_NFD_MAX))
            return feat_error_set(err, FEAT_E_NOMEM, "out of memory tokenizing %s (%zu bytes)", which, n);
        if (feat_uc_is_dropped(cp)) {
            /* clean_text removes it before anything else looks at the string */
        } else if (feat_uc_is_whitespace(cp)) {
            emit_starter(&ns, ' ', (uint32_t)ci);
        } else if (cjk && feat_uc_is_cjk(cp)) {
            emit_starter(&ns, ' ', (uint32_t)ci);
            norm_char(&ns, cp, (uint32_t)ci);
            emit_starter(&ns, ' ', (uint32_t)ci);
        } else {
            norm_char(&ns, cp, (uint32_t)ci);
        }
        ci++;
        i += k;
    }
    obyte[ci] = (uint32_t)n;
    b->n_chars = ci;
    close_run(&ns);
    if (b->sort_failed)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory ordering combining marks in %s", which);
    if (ns.has_mn)
        strip_marks(b);
    return FEAT_OK;
}

/* ---- 2. pre-tokenization + WordPiece ------------------------------------------------------ */

static inline void push_token(seq_buf *b, int32_t id, uint32_t start, uint32_t end)
{
    b->tid[b->nt] = id;
    b->tstart[b->nt] = start;
    b->tend[b->nt] = end;
    b->nt++;
}

/* WordPiece of the word ncp[w0, w1): greedy longest match on the trie, "##" pieces after the
 * first; one unmatched position turns the whole word into a single [UNK]. Tokens never
 * outnumber code points, and the caller reserved that many. */
static void wordpiece(const feat_tokenizer *tok, seq_buf *b, size_t w0, size_t w1)
{
    const feat_vocab *v = &tok->vocab;
    const uint32_t *ncp = b->ncp, *nsrc = b->nsrc;
    size_t base = b->nt;
    if (w1 - w0 > tok->max_word_chars)
        goto unk;
    size_t start = w0;
    while (start < w1) {
        uint32_t node = start == w0 ? 0 : v->cont_node;
        size_t best_end = 0;
        int32_t best_id = -1;
        for (size_t i = start; i < w1 && node != FEAT_TRIE_NONE; i++) {
            uint32_t cp = ncp[i];
            if (cp < 0x80) {
                node = feat_trie_child(v, node, (uint8_t)cp);
            } else {
                uint8_t u[4];
                size_t nu = feat_utf8_encode(cp, u);
                for (size_t j = 0; j < nu && node != FEAT_TRIE_NONE; j++)
                    node = feat_trie_child(v, node, u[j]);
            }
            if (node != FEAT_TRIE_NONE && v->nodes[node].id >= 0) {
                best_id = v->nodes[node].id;
                best_end = i + 1;
            }
        }
        if (best_id < 0)
            goto unk;
        push_token(b, best_id, nsrc[start], nsrc[best_end - 1] + 1);
        start = best_end;
    }
    return;
unk:
    b->nt = base;
    push_token(b, tok->special.unk, nsrc[w0], nsrc[w1 - 1] + 1);
}

static feat_status tokenize_stream(const feat_tokenizer *tok, seq_buf *b, feat_error *err, const char *which)
{
    b->nt = 0;
    if (!reserve_tokens(b, b->nlen + 1))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory tokenizing %s (%zu characters)", which, b->nlen);
    const uint32_t *ncp = b->ncp;
    size_t n = b->nlen, i = 0;
    while (i < n) {
        uint32_t cp = ncp[i];
        if (cp == ' ') {
            i++;
            continue;
        }
        if (cp >= MARK_BASE) {
            const special_match *m = &tok->match[cp - MARK_BASE];
            push_token(b, m->id, b->nsrc[i], b->nsrc[i] + m->chars);
            i++;
            continue;
        }
        if (is_punct(cp)) {
            wordpiece(tok, b, i, i + 1);
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n) {
            uint32_t c = ncp[j];
            if (c == ' ' || c >= MARK_BASE || is_punct(c))
                break;
            j++;
        }
        wordpiece(tok, b, i, j);
        i = j;
    }
    return FEAT_OK;
}

static feat_status encode_seq(const feat_tokenizer *tok, const char *text, size_t len, seq_buf *b, feat_error *err,
                              const char *which)
{
    if (len > FEAT_TEXT_MAX_BYTES)
        return feat_error_set(err, FEAT_E_LIMIT, "%s has %zu bytes, more than the limit of %u", which, len,
                              FEAT_TEXT_MAX_BYTES);
    feat_status st = normalize(tok, (const uint8_t *)text, len, b, err, which);
    if (st != FEAT_OK)
        return st;
    return tokenize_stream(tok, b, err, which);
}

/* ---- 3. post-processing ----------------------------------------------------------------- */

void feat_tok_output_free(feat_tok_output *out)
{
    if (!out)
        return;
    free(out->win_start);
    free(out->ids);
    free(out->type_ids);
    free(out->attention_mask);
    free(out->sequence_ids);
    free(out->offsets_bytes);
    free(out->offsets_chars);
    memset(out, 0, sizeof *out);
}

static int out_reserve(feat_tok_output *o, size_t tokens, size_t windows)
{
    if (tokens > o->cap_tokens) {
        size_t cap = o->cap_tokens ? o->cap_tokens : 64;
        while (cap < tokens)
            cap *= 2;
        int32_t *a = realloc(o->ids, cap * sizeof *a);
        if (!a)
            return 0;
        o->ids = a;
        if (!(a = realloc(o->type_ids, cap * sizeof *a)))
            return 0;
        o->type_ids = a;
        if (!(a = realloc(o->attention_mask, cap * sizeof *a)))
            return 0;
        o->attention_mask = a;
        if (!(a = realloc(o->sequence_ids, cap * sizeof *a)))
            return 0;
        o->sequence_ids = a;
        int64_t *f = realloc(o->offsets_bytes, 2 * cap * sizeof *f);
        if (!f)
            return 0;
        o->offsets_bytes = f;
        if (!(f = realloc(o->offsets_chars, 2 * cap * sizeof *f)))
            return 0;
        o->offsets_chars = f;
        o->cap_tokens = cap;
    }
    if (windows + 1 > o->cap_windows) {
        size_t cap = o->cap_windows ? o->cap_windows : 8;
        while (cap < windows + 1)
            cap *= 2;
        size_t *w = realloc(o->win_start, cap * sizeof *w);
        if (!w)
            return 0;
        o->win_start = w;
        o->cap_windows = cap;
    }
    return 1;
}

static void put_special(feat_tok_output *o, int32_t id, int32_t type, int want_offsets)
{
    size_t t = o->n_tokens++;
    o->ids[t] = id;
    o->type_ids[t] = type;
    o->attention_mask[t] = 1;
    o->sequence_ids[t] = -1;
    if (want_offsets) {
        o->offsets_bytes[2 * t] = o->offsets_bytes[2 * t + 1] = 0;
        o->offsets_chars[2 * t] = o->offsets_chars[2 * t + 1] = 0;
    }
}

static void put_range(feat_tok_output *o, const seq_buf *b, size_t from, size_t to, int32_t seq, int want_offsets)
{
    for (size_t k = from; k < to; k++) {
        size_t t = o->n_tokens++;
        o->ids[t] = b->tid[k];
        o->type_ids[t] = seq;
        o->attention_mask[t] = 1;
        o->sequence_ids[t] = seq;
        if (want_offsets) {
            o->offsets_chars[2 * t] = b->tstart[k];
            o->offsets_chars[2 * t + 1] = b->tend[k];
            o->offsets_bytes[2 * t] = b->obyte[b->tstart[k]];
            o->offsets_bytes[2 * t + 1] = b->obyte[b->tend[k]];
        }
    }
}

static const char *trunc_name(feat_truncation t)
{
    switch (t) {
    case FEAT_TRUNCATE_ONLY_FIRST: return "only_first";
    case FEAT_TRUNCATE_ONLY_SECOND: return "only_second";
    case FEAT_TRUNCATE_NONE: return "none";
    default: return "longest_first";
    }
}

/* Sliding windows over text A's na tokens (na > m): HF Encoding::truncate with stride —
 * windows start every m - stride tokens; the last one is the first that reaches the end. */
static feat_status put_windows(const feat_tokenizer *tok, const seq_buf *A, size_t na, size_t m, size_t stride,
                               int want, feat_tok_output *out, feat_error *err)
{
    size_t step = m - stride, n_win = 0, total = 0;
    for (size_t s0 = 0;; s0 += step) {
        size_t e0 = s0 + m < na ? s0 + m : na;
        n_win++;
        total += e0 - s0 + 2;
        if (e0 == na)
            break;
    }
    if (!out_reserve(out, total, n_win))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory for %zu tokens in %zu windows", total, n_win);
    for (size_t s0 = 0;; s0 += step) {
        size_t e0 = s0 + m < na ? s0 + m : na;
        out->win_start[out->n_windows++] = out->n_tokens;
        put_special(out, tok->special.cls, 0, want);
        put_range(out, A, s0, e0, 0, want);
        put_special(out, tok->special.sep, 0, want);
        if (e0 == na)
            break;
    }
    out->win_start[out->n_windows] = out->n_tokens;
    return FEAT_OK;
}

/* tokenizers utils/truncation.rs, LongestFirst for a pair of na and nb tokens into m. */
static void longest_first_pair(size_t na, size_t nb, size_t m, size_t *keep_a, size_t *keep_b)
{
    size_t n1 = na, n2 = nb;
    int swap = n1 > n2;
    if (swap) {
        size_t t = n1;
        n1 = n2;
        n2 = t;
    }
    if (n1 > m)
        n2 = n1;
    else
        n2 = n1 > m - n1 ? n1 : m - n1;
    if (n1 + n2 > m) {
        n1 = m / 2;
        n2 = n1 + m % 2;
    }
    if (swap) {
        size_t t = n1;
        n1 = n2;
        n2 = t;
    }
    *keep_a = n1 < na ? n1 : na;
    *keep_b = n2 < nb ? n2 : nb;
}

/* How many tokens of A and B survive truncation to the content budget m (na + nb > m), as HF's
 * truncate_encodings decides; errors for a strategy that cannot fit. */
static feat_status truncate_to(const feat_tok_params *p, int pair, size_t na, size_t nb, size_t m, size_t added,
                               size_t *keep_a, size_t *keep_b, feat_error *err)
{
    feat_truncation tr = p->truncation == FEAT_TRUNCATE_DEFAULT ? FEAT_TRUNCATE_LONGEST_FIRST : p->truncation;
    size_t remove = na + nb - m;
    *keep_a = na;
    *keep_b = nb;
    if (m == 0) { /* a zero budget empties both sequences whatever the strategy */
        *keep_a = *keep_b = 0;
        return FEAT_OK;
    }
    if (tr == FEAT_TRUNCATE_NONE)
        return feat_error_set(err, FEAT_E_LIMIT, "input has %zu tokens, more than max_length %u (truncation is off)",
                              na + nb + added, p->max_length);
    if (tr != FEAT_TRUNCATE_ONLY_FIRST && tr != FEAT_TRUNCATE_ONLY_SECOND) { /* longest first */
        if (pair)
            longest_first_pair(na, nb, m, keep_a, keep_b);
        else
            *keep_a = m;
        return FEAT_OK;
    }
    int second = tr == FEAT_TRUNCATE_ONLY_SECOND;
    if (second && !pair)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                              "only_second truncation needs a second text (input has %zu tokens, max_length %u)",
                              na + added, p->max_length);
    size_t have = second ? nb : na;
    /* HF requires the cut sequence to keep at least one token (SequenceTooShort). */
    if (have <= remove)
        return feat_error_set(err, FEAT_E_LIMIT,
                              "%s truncation cannot fit max_length %u: text %s has %zu tokens, %zu must go",
                              trunc_name(tr), p->max_length, second ? "B" : "A", have, remove);
    if (second)
        *keep_b = nb - remove;
    else
        *keep_a = na - remove;
    return FEAT_OK;
}

/* The arguments' checks; m gets the content budget (max_length less the special tokens). */
static feat_status check_encode(const feat_tokenizer *tok, const feat_tok_scratch *scratch, const char *text_a,
                                int pair, const feat_tok_params *p, const feat_tok_output *out, size_t *m,
                                feat_error *err)
{
    if (!tok || !scratch || !text_a || !p || !out)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_tok_encode: %s is NULL",
                              !tok       ? "tokenizer"
                              : !scratch ? "scratch"
                              : !text_a  ? "text"
                              : !p       ? "params"
                                         : "out");
    if (!tok->loaded)
        return feat_error_set(err, FEAT_E_STATE, "tokenizer has no vocabulary: call feat_tokenizer_load first");
    const size_t added = pair ? 3 : 2;
    if (p->max_length < added || p->max_length > (uint32_t)INT32_MAX)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "max_length %u too small: %s needs at least %zu",
                              p->max_length, pair ? "a pair" : "a single text", added);
    *m = p->max_length - added;
    if (p->windows && pair)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "windows are for single texts, not pairs");
    if (p->windows && p->stride >= *m)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                              "window stride %u must be smaller than max_length - 2 = %zu", p->stride, *m);
    return FEAT_OK;
}

feat_status feat_tok_encode(const feat_tokenizer *tok, feat_tok_scratch *scratch, const char *text_a, size_t len_a,
                            const char *text_b, size_t len_b, const feat_tok_params *p, feat_tok_output *out,
                            feat_error *err)
{
    const int pair = text_b != NULL;
    const size_t added = pair ? 3 : 2;
    size_t m = 0; /* content budget */
    feat_status st = check_encode(tok, scratch, text_a, pair, p, out, &m, err);
    if (st != FEAT_OK)
        return st;
    if (len_a == (size_t)-1)
        len_a = strlen(text_a);
    if (pair && len_b == (size_t)-1)
        len_b = strlen(text_b);
    seq_buf *A = &scratch->seq[0], *B = &scratch->seq[1];
    if ((st = encode_seq(tok, text_a, len_a, A, err, pair ? "text A" : "text")) != FEAT_OK)
        return st;
    B->nt = 0;
    if (pair && (st = encode_seq(tok, text_b, len_b, B, err, "text B")) != FEAT_OK)
        return st;
    size_t na = A->nt, nb = B->nt, keep_a = na, keep_b = nb;
    out->n_truncated = 0;
    out->n_tokens = 0;
    out->n_windows = 0;
    const int want = p->want_offsets;
    if (p->windows && na > m)
        return put_windows(tok, A, na, m, p->stride, want, out, err);
    if (na + nb > m) {
        if ((st = truncate_to(p, pair, na, nb, m, added, &keep_a, &keep_b, err)) != FEAT_OK)
            return st;
        out->n_truncated = (na - keep_a) + (nb - keep_b);
    }
    size_t total = keep_a + keep_b + added;
    if (!out_reserve(out, total, 1))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory for %zu tokens", total);
    out->win_start[out->n_windows++] = 0;
    put_special(out, tok->special.cls, 0, want);
    put_range(out, A, 0, keep_a, 0, want);
    put_special(out, tok->special.sep, 0, want);
    if (pair) {
        put_range(out, B, 0, keep_b, 1, want);
        put_special(out, tok->special.sep, 1, want);
    }
    out->win_start[out->n_windows] = out->n_tokens;
    return FEAT_OK;
}

/* ---- internal accessors --------------------------------------------------------------------- */

void feat_tokenizer_special_ids(const feat_tokenizer *tok, feat_tok_special *out)
{
    if (out)
        *out = tok->special;
}

void feat_tokenizer_config(const feat_tokenizer *tok, feat_tok_config *out)
{
    if (out)
        *out = tok->cfg;
}

void feat_tok_params_from_tokenizer(const feat_tokenizer *tok, feat_tok_params *out)
{
    memset(out, 0, sizeof *out);
    out->max_length = tok->cfg.max_length;
    out->truncation = tok->cfg.truncation;
}

/* ---- public tokenizer API ----------------------------------------------------------------- */

feat_status feat_tokenizer_new(feat_tokenizer **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_tokenizer_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return feat_error_set_tls(FEAT_E_NOMEM, "feat_tokenizer_new: out of memory");
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

static void unload(feat_tokenizer *tok)
{
    feat_vocab_free(&tok->vocab);
    feat_text_options_free(tok->opts);
    tok->opts = NULL;
    tok->loaded = 0;
    free(tok->match);
    tok->match = NULL;
    tok->n_match = 0;
    memset(tok->match_first, 0, sizeof tok->match_first);
}

void feat_tokenizer_free(feat_tokenizer *tok)
{
    if (!tok)
        return;
    unload(tok);
    free(tok);
}

const char *feat_tokenizer_last_error(const feat_tokenizer *tok)
{
    if (!tok)
        return "tokenizer is NULL";
    /* Encoding is const and may run on several threads, so its errors live in the thread
     * slot; load errors (and "not loaded") live on the tokenizer. */
    if (tok->err.code != FEAT_OK || !tok->loaded)
        return tok->err.code != FEAT_OK ? tok->err.msg : feat_error_tls()->msg;
    return feat_error_tls()->msg;
}

/* Adds vocabulary token @p id to the raw-text matches (room for it was allocated). */
static void add_match(feat_tokenizer *tok, int32_t id)
{
    special_match *m = &tok->match[tok->n_match++];
    m->str = tok->vocab.pool + tok->vocab.offset[id];
    m->len = tok->vocab.length[id];
    m->chars = 0;
    for (uint32_t j = 0; j < m->len; j++)
        m->chars += ((uint8_t)m->str[j] & 0xC0) != 0x80;
    m->id = id;
    tok->match_first[(uint8_t)m->str[0]] = 1;
}

/* The options' normalizer settings, resolved as for a vocab.txt (DEFAULT: lowercase ON,
 * strip_accents follows lowercase, CJK spacing ON), and max_length / truncation defaults. */
static void resolve_options(feat_tokenizer *tok)
{
    feat_tok_config *c = &tok->cfg;
    const feat_text_options *o = tok->opts;
    c->lowercase = o->lowercase != FEAT_TRISTATE_OFF;
    c->strip_accents = o->strip_accents == FEAT_TRISTATE_DEFAULT ? c->lowercase : o->strip_accents == FEAT_TRISTATE_ON;
    c->handle_cjk = o->chinese_chars != FEAT_TRISTATE_OFF;
    c->max_length = o->max_length ? o->max_length : FEAT_TEXT_DEFAULT_MAX_LENGTH;
    c->truncation = o->truncation ? o->truncation : FEAT_TRUNCATE_LONGEST_FIRST;
    c->utf8_policy = o->utf8_policy == FEAT_UTF8_REPLACE ? FEAT_UTF8_REPLACE : FEAT_UTF8_ERROR;
}

static feat_status load_vocab_txt(feat_tokenizer *tok, const char *vocab_path, feat_error *err)
{
    resolve_options(tok);
    tok->max_word_chars = FEAT_WORDPIECE_MAX_CHARS;
    feat_status st = feat_vocab_load(&tok->vocab, vocab_path, err);
    if (st != FEAT_OK)
        return st;
    if (!(tok->match = malloc(N_SPECIAL_NAMES * sizeof *tok->match)))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory loading vocabulary '%s'", vocab_path);
    int32_t ids[N_SPECIAL_NAMES];
    for (int k = 0; k < N_SPECIAL_NAMES; k++) {
        ids[k] = feat_vocab_find(&tok->vocab, special_names[k], strlen(special_names[k]));
        if (ids[k] >= 0)
            add_match(tok, ids[k]);
    }
    /* HF loads a vocabulary without [UNK] and fails only when a word is unknown
     * (MissingUnkToken); a missing [CLS]/[SEP] fails its BertProcessing at construction. We
     * refuse all three up front so that no text can fail later for a reason of the vocab. */
    for (int k = 1; k <= 3; k++)
        if (ids[k] < 0)
            return feat_error_set(err, FEAT_E_NOT_FOUND, "vocabulary '%s' has no %s token (%zu lines)", vocab_path,
                                  special_names[k], tok->vocab.n_ids);
    tok->special = (feat_tok_special){
        .cls = ids[2], .sep = ids[3], .pad = ids[0] >= 0 ? ids[0] : 0, .unk = ids[1], .mask = ids[4]};
    return FEAT_OK;
}

/* An option set explicitly must say what the tokenizer.json says: the file is the tokenizer,
 * and quietly running another normalizer than the one named there would give other ids. */
static feat_status agree(feat_tristate set, int file, const char *option, const char *member, const char *path,
                         feat_error *err)
{
    if (set == FEAT_TRISTATE_DEFAULT || (set == FEAT_TRISTATE_ON) == (file != 0))
        return FEAT_OK;
    return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                          "%s is set %s, but tokenizer.json '%s' has normalizer %s %s (leave %s at its default to "
                          "follow the file, or edit the file)",
                          option, set == FEAT_TRISTATE_ON ? "on" : "off", path, member, file ? "true" : "false",
                          option);
}

/* tokenizer.json: the file's normalizer, model and special tokens; explicit options must
 * agree with its normalizer; max_length and truncation set in the options win over the
 * file's truncation section, which is HF's default for the same call (docs/tokenizer.md). */
static feat_status load_tokenizer_json(feat_tokenizer *tok, const char *path, feat_error *err)
{
    feat_tokjson t;
    feat_status st = feat_tokjson_load(&t, path, err);
    if (st != FEAT_OK)
        return st;
    const feat_text_options *o = tok->opts;
    int strip = t.strip_accents < 0 ? t.lowercase : t.strip_accents;
    if ((st = agree(o->lowercase, t.lowercase, "lowercase", "lowercase", path, err)) ||
        (st = agree(o->strip_accents, strip, "strip_accents", "strip_accents (effective)", path, err)) ||
        (st = agree(o->chinese_chars, t.handle_cjk, "handle_chinese_chars", "handle_chinese_chars", path, err))) {
        feat_tokjson_free(&t);
        return st;
    }
    resolve_options(tok);
    feat_tok_config *c = &tok->cfg;
    c->lowercase = t.lowercase;
    c->strip_accents = strip;
    c->handle_cjk = t.handle_cjk;
    c->max_length = o->max_length ? o->max_length : t.max_length ? t.max_length : FEAT_TEXT_DEFAULT_MAX_LENGTH;
    c->truncation = o->truncation ? o->truncation : t.truncation ? t.truncation : FEAT_TRUNCATE_LONGEST_FIRST;
    tok->max_word_chars = t.max_word_chars;
    tok->vocab = t.vocab;
    memset(&t.vocab, 0, sizeof t.vocab);
    if (!(tok->match = malloc((t.n_added ? t.n_added : 1) * sizeof *tok->match))) {
        feat_tokjson_free(&t);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory loading tokenizer.json '%s'", path);
    }
    for (size_t k = 0; k < t.n_added; k++)
        add_match(tok, t.added[k]);
    int32_t pad = t.pad >= 0 ? t.pad : feat_vocab_find(&tok->vocab, "[PAD]", 5);
    tok->special = (feat_tok_special){.cls = t.cls,
                                      .sep = t.sep,
                                      .pad = pad >= 0 ? pad : 0,
                                      .unk = t.unk,
                                      .mask = feat_vocab_find(&tok->vocab, "[MASK]", 6)};
    feat_tokjson_free(&t);
    return FEAT_OK;
}

/* A name ending in ".json" (any case) is a tokenizer.json; anything else a vocab.txt. */
static int is_json_path(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcasecmp(path + n - 5, ".json") == 0;
}

feat_status feat_tokenizer_load(feat_tokenizer *tok, const char *vocab_path, const feat_text_options *opts)
{
    if (!tok)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_tokenizer_load: tokenizer is NULL");
    feat_error *err = &tok->err;
    if (!vocab_path)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_tokenizer_load: vocab_path is NULL");
    unload(tok);
    feat_status st = feat_text_options_copy(opts, &tok->opts);
    if (st != FEAT_OK)
        return feat_error_set(err, st, "%s", feat_error_tls()->msg);
    st = is_json_path(vocab_path) ? load_tokenizer_json(tok, vocab_path, err) : load_vocab_txt(tok, vocab_path, err);
    if (st != FEAT_OK) {
        unload(tok);
        return st;
    }
    tok->loaded = 1;
    feat_error_clear(err);
    return FEAT_OK;
}

size_t feat_tokenizer_vocab_size(const feat_tokenizer *tok) { return tok && tok->loaded ? tok->vocab.n_ids : 0; }

int32_t feat_tokenizer_token_to_id(const feat_tokenizer *tok, const char *token)
{
    if (!tok || !tok->loaded || !token)
        return -1;
    return feat_vocab_find(&tok->vocab, token, strlen(token));
}

const char *feat_tokenizer_id_to_token(const feat_tokenizer *tok, int32_t id)
{
    if (!tok || !tok->loaded || id < 0 || (size_t)id >= tok->vocab.n_ids)
        return NULL;
    /* A token repeated on a later line belongs to that line (HF keeps the last), so the
     * earlier id has no string, as HF's id_to_token returns None for it. */
    if (tok->vocab.shadowed[id])
        return NULL;
    return tok->vocab.pool + tok->vocab.offset[id];
}

/* ---- feat_encoding --------------------------------------------------------------------------- */

struct feat_encoding {
    feat_tok_output out;
};

feat_status feat_tokenizer_encode(const feat_tokenizer *tok, const char *text_a, size_t len_a, const char *text_b,
                                  size_t len_b, feat_encoding **out)
{
    feat_error *tls = feat_error_tls();
    if (out)
        *out = NULL;
    if (!tok || !text_a || !out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_tokenizer_encode: %s is NULL",
                                  !tok      ? "tokenizer"
                                  : !text_a ? "text_a"
                                            : "out");
    if (!tok->loaded)
        return feat_error_set_tls(FEAT_E_STATE, "tokenizer has no vocabulary: call feat_tokenizer_load first");
    feat_tok_scratch *s;
    feat_encoding *e = calloc(1, sizeof *e);
    if (!e || feat_tok_scratch_new(&s) != FEAT_OK) {
        free(e);
        return feat_error_set_tls(FEAT_E_NOMEM, "feat_tokenizer_encode: out of memory");
    }
    feat_tok_params p;
    feat_tok_params_from_tokenizer(tok, &p);
    p.want_offsets = 1;
    feat_status st = feat_tok_encode(tok, s, text_a, len_a, text_b, len_b, &p, &e->out, tls);
    feat_tok_scratch_free(s);
    if (st != FEAT_OK) {
        feat_tok_output_free(&e->out);
        free(e);
        return st;
    }
    *out = e;
    feat_error_clear(tls);
    return FEAT_OK;
}

void feat_encoding_free(feat_encoding *enc)
{
    if (!enc)
        return;
    feat_tok_output_free(&enc->out);
    free(enc);
}

size_t feat_encoding_len(const feat_encoding *enc) { return enc ? enc->out.n_tokens : 0; }
const int32_t *feat_encoding_ids(const feat_encoding *enc) { return enc ? enc->out.ids : NULL; }
const int32_t *feat_encoding_type_ids(const feat_encoding *enc) { return enc ? enc->out.type_ids : NULL; }
const int32_t *feat_encoding_attention_mask(const feat_encoding *enc) { return enc ? enc->out.attention_mask : NULL; }
const int32_t *feat_encoding_sequence_ids(const feat_encoding *enc) { return enc ? enc->out.sequence_ids : NULL; }
const int64_t *feat_encoding_offsets_bytes(const feat_encoding *enc) { return enc ? enc->out.offsets_bytes : NULL; }
const int64_t *feat_encoding_offsets_chars(const feat_encoding *enc) { return enc ? enc->out.offsets_chars : NULL; }
size_t feat_encoding_n_truncated(const feat_encoding *enc) { return enc ? enc->out.n_truncated : 0; }
