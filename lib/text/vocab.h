/* SPDX-License-Identifier: MIT */
/* WordPiece vocabulary: vocab.txt parsing, tokenizer.json's model.vocab, and a byte trie for
 * longest-prefix matching.
 *
 * The trie holds every token; continuation tokens are simply the strings starting with the
 * continuing-subword prefix ("##" unless a tokenizer.json says otherwise), so matching a
 * continuation piece starts at the node for the prefix (the r# node of LinMaxMatch)
 * instead of the root. Nodes are stored breadth-first with the children of a node contiguous
 * and sorted by byte; nodes with many children get a dense 256-entry table. Read-only after
 * feat_vocab_load, so any number of threads may match at once. */
#ifndef FEAT_TEXT_VOCAB_H
#define FEAT_TEXT_VOCAB_H

#include "core/error.h"
#include "core/json.h"

#include <stddef.h>
#include <stdint.h>

#define FEAT_TRIE_NONE 0xFFFFFFFFu

typedef struct feat_trie_node {
    uint32_t first; /* index of the first child */
    uint32_t dense; /* index into dense tables, or FEAT_TRIE_NONE */
    int32_t id;     /* token id ending here, or -1 */
    uint16_t n;     /* number of children */
    uint8_t label;  /* byte on the edge from the parent */
} feat_trie_node;

typedef struct feat_vocab {
    char *pool;        /* token strings, NUL-terminated, by id */
    uint32_t *offset;  /* n_ids entries into pool */
    uint32_t *length;  /* n_ids byte lengths */
    uint8_t *shadowed; /* 1 when a later line has the same token (HF: last wins) */
    size_t n_ids;      /* lines */
    feat_trie_node *nodes;
    size_t n_nodes;
    uint32_t *dense; /* 256 * n_dense child indices */
    size_t n_dense;
    uint32_t cont_node; /* node of the prefix, FEAT_TRIE_NONE when no token starts with it */
} feat_vocab;

/* Loads vocab.txt as HF's WordPiece::read_file: line i is id i, lines split on '\n', trailing
 * whitespace (incl. '\r') trimmed, a repeated token maps to its last line. Rejects missing,
 * empty, binary (NUL, invalid UTF-8) and over-limit files with a one-line message in err. */
feat_status feat_vocab_load(feat_vocab *v, const char *path, feat_error *err);
/* Loads tokenizer.json's model.vocab (@p obj, an object of token: id). The ids must number
 * the tokens 0..n-1, each once; messages name the element, the caller adds the file. The
 * prefix is "##". */
feat_status feat_vocab_from_json(feat_vocab *v, const feat_json *obj, feat_error *err);
/* Reads a whole regular file of at most @p max_bytes (NUL-terminated copy in *data, caller
 * frees); messages name it as the vocabulary. */
feat_status feat_vocab_read_file(const char *path, size_t max_bytes, char **data, size_t *size, feat_error *err);
void feat_vocab_free(feat_vocab *v);
/* Sets the continuing-subword prefix (cont_node); "" makes continuation pieces plain tokens,
 * as in HF's WordPiece with an empty prefix. */
void feat_vocab_set_prefix(feat_vocab *v, const char *prefix);

/* Child of @p node on byte @p b, or FEAT_TRIE_NONE. */
static inline uint32_t feat_trie_child(const feat_vocab *v, uint32_t node, uint8_t b)
{
    const feat_trie_node *nd = &v->nodes[node];
    if (nd->dense != FEAT_TRIE_NONE)
        return v->dense[(size_t)nd->dense * 256 + b];
    const feat_trie_node *c = &v->nodes[nd->first];
    for (uint32_t i = 0; i < nd->n; i++)
        if (c[i].label == b)
            return nd->first + i;
    return FEAT_TRIE_NONE;
}

/* Id of the exact string s[0..n), or -1. */
int32_t feat_vocab_find(const feat_vocab *v, const char *s, size_t n);

#endif
