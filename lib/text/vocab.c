/* SPDX-License-Identifier: MIT */
#include "text/vocab.h"

#include "core/json.h"
#include "text/text_internal.h"
#include "text/unicode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Nodes with more children than this get a dense table: a linear scan beats a table lookup
 * only for a handful of children, and few nodes (root, "##", common first letters) are wide. */
#define DENSE_THRESHOLD 12

void feat_vocab_free(feat_vocab *v)
{
    if (!v)
        return;
    free(v->pool);
    free(v->offset);
    free(v->length);
    free(v->shadowed);
    free(v->nodes);
    free(v->dense);
    memset(v, 0, sizeof *v);
}

feat_status feat_vocab_read_file(const char *path, size_t max_bytes, char **data, size_t *size, feat_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return feat_error_set(err, e == ENOENT ? FEAT_E_NOT_FOUND : FEAT_E_IO, "cannot open vocabulary '%s': %s", path,
                              strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return feat_error_set(err, FEAT_E_IO, "vocabulary '%s' is not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return feat_error_set(err, FEAT_E_LIMIT, "vocabulary '%s' has %lld bytes, more than the limit of %zu", path,
                              (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory reading vocabulary '%s' (%zu bytes)", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return feat_error_set(err, FEAT_E_IO, "reading vocabulary '%s' failed after %zu of %zu bytes", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return FEAT_OK;
}

/* Sort key for building the trie: token bytes, then line (so the last duplicate comes last). */
typedef struct entry {
    const char *s;
    uint32_t len;
    uint32_t id;
} entry;

static int cmp_entry(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    uint32_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, m);
    if (c)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

/* Build state per node while the BFS runs: the sorted entries [lo, hi) below it, at depth. */
typedef struct build_range {
    uint32_t lo, hi, depth;
} build_range;

static feat_status build_trie(feat_vocab *v, entry *e, size_t n, feat_error *err)
{
    /* Upper bound on nodes: one per token byte plus the root. */
    size_t max_nodes = 1;
    for (size_t i = 0; i < n; i++)
        max_nodes += e[i].len;
    v->nodes = calloc(max_nodes, sizeof *v->nodes);
    build_range *r = malloc(max_nodes * sizeof *r);
    if (!v->nodes || !r) {
        free(r);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory building the vocabulary trie (%zu nodes)", max_nodes);
    }
    v->nodes[0] = (feat_trie_node){.first = 0, .dense = FEAT_TRIE_NONE, .id = -1};
    r[0] = (build_range){0, (uint32_t)n, 0};
    size_t count = 1, n_dense = 0;
    for (size_t q = 0; q < count; q++) {
        uint32_t lo = r[q].lo, hi = r[q].hi, d = r[q].depth;
        /* Entries that end exactly here come first (shorter sorts first); the last one is the
         * last line with this string, which HF's HashMap insert keeps. */
        while (lo < hi && e[lo].len == d) {
            v->nodes[q].id = (int32_t)e[lo].id;
            lo++;
        }
        v->nodes[q].first = (uint32_t)count;
        uint32_t i = lo;
        while (i < hi) {
            uint8_t b = (uint8_t)e[i].s[d];
            uint32_t j = i + 1;
            while (j < hi && (uint8_t)e[j].s[d] == b)
                j++;
            v->nodes[count] = (feat_trie_node){.dense = FEAT_TRIE_NONE, .id = -1, .label = b};
            r[count] = (build_range){i, j, d + 1};
            count++;
            i = j;
        }
        size_t nc = count - v->nodes[q].first;
        v->nodes[q].n = (uint16_t)nc; /* at most 256 distinct bytes */
        if (nc > DENSE_THRESHOLD)
            v->nodes[q].dense = (uint32_t)n_dense++;
    }
    free(r);
    v->n_nodes = count;
    v->dense = malloc((n_dense ? n_dense : 1) * 256 * sizeof *v->dense);
    if (!v->dense)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory building the vocabulary trie");
    v->n_dense = n_dense;
    for (size_t q = 0; q < count; q++) {
        const feat_trie_node *nd = &v->nodes[q];
        if (nd->dense == FEAT_TRIE_NONE)
            continue;
        uint32_t *t = v->dense + (size_t)nd->dense * 256;
        for (int b = 0; b < 256; b++)
            t[b] = FEAT_TRIE_NONE;
        for (uint32_t c = 0; c < nd->n; c++)
            t[v->nodes[nd->first + c].label] = nd->first + c;
    }
    feat_vocab_set_prefix(v, "##");
    return FEAT_OK;
}

void feat_vocab_set_prefix(feat_vocab *v, const char *prefix)
{
    uint32_t node = 0;
    for (const char *p = prefix; *p && node != FEAT_TRIE_NONE; p++)
        node = feat_trie_child(v, node, (uint8_t)*p);
    v->cont_node = node;
}

/* Rust str::trim_end: trailing White_Space code points (checked on the decoded line). */
static size_t trim_end(const char *s, size_t n)
{
    while (n > 0) {
        size_t k = n - 1;
        while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t cp;
        feat_utf8_decode((const uint8_t *)s + k, n - k, &cp);
        if (!feat_uc_is_whitespace(cp))
            break;
        n = k;
    }
    return n;
}

/* Checks the file's bytes (not empty, no NUL, UTF-8, line and token limits) and counts its
 * lines; a final line without '\n' counts, as in BufRead::lines. */
static feat_status check_and_count(const char *data, size_t size, const char *path, size_t *n_out, feat_error *err)
{
    if (size == 0)
        return feat_error_set(err, FEAT_E_DECODE, "vocabulary '%s' is empty", path);
    const char *nul = memchr(data, '\0', size);
    if (nul) {
        size_t line = 1, at = (size_t)(nul - data);
        for (const char *p = data; p < nul; p++)
            line += *p == '\n';
        return feat_error_set(err, FEAT_E_DECODE,
                              "vocabulary '%s' is not a text file: NUL byte at offset %zu (line %zu)", path, at, line);
    }
    size_t n_lines = 0, line_start = 0;
    for (size_t i = 0; i < size;) {
        uint32_t cp;
        size_t k = feat_utf8_decode((const uint8_t *)data + i, size - i, &cp);
        if (cp == FEAT_UC_INVALID)
            return feat_error_set(err, FEAT_E_DECODE,
                                  "vocabulary '%s' is not UTF-8: invalid byte 0x%02X at offset %zu (line %zu)", path,
                                  (unsigned)(uint8_t)data[i], i, n_lines + 1);
        if (cp == '\n' || i + k == size) {
            size_t end = cp == '\n' ? i : size;
            if (end - line_start > FEAT_VOCAB_MAX_LINE_BYTES)
                return feat_error_set(err, FEAT_E_LIMIT,
                                      "vocabulary '%s' line %zu has %zu bytes, more than the limit of %u%s", path,
                                      n_lines + 1, end - line_start, FEAT_VOCAB_MAX_LINE_BYTES,
                                      data[0] == '{' ? " (it looks like JSON: a tokenizer.json is read as one only "
                                                       "when its name ends in .json)"
                                                     : "");
            n_lines++;
            line_start = i + k;
            if (n_lines > FEAT_VOCAB_MAX_TOKENS)
                return feat_error_set(err, FEAT_E_LIMIT, "vocabulary '%s' has more than %u lines", path,
                                      FEAT_VOCAB_MAX_TOKENS);
        }
        i += k;
    }
    *n_out = n_lines;
    return FEAT_OK;
}

/* Terminates the n_lines tokens in place (each '\n', or the trimmed end, becomes a NUL) and
 * records them in v and e; v takes data as its pool. */
static void split_tokens(feat_vocab *v, char *data, size_t size, size_t n_lines, entry *e)
{
    size_t id = 0;
    for (size_t i = 0; i < size && id < n_lines;) {
        char *nl = memchr(data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = trim_end(data + i, end - i);
        data[i + len] = '\0';
        v->offset[id] = (uint32_t)i;
        v->length[id] = (uint32_t)len;
        e[id] = (entry){data + i, (uint32_t)len, (uint32_t)id};
        id++;
        i = end + 1;
    }
    v->pool = data;
    v->n_ids = n_lines;
}

feat_status feat_vocab_load(feat_vocab *v, const char *path, feat_error *err)
{
    memset(v, 0, sizeof *v);
    char *data = NULL;
    size_t size = 0, n_lines = 0;
    feat_status st = feat_vocab_read_file(path, FEAT_VOCAB_MAX_FILE_BYTES, &data, &size, err);
    if (st != FEAT_OK)
        return st;
    if ((st = check_and_count(data, size, path, &n_lines, err)) != FEAT_OK) {
        free(data);
        return st;
    }
    v->offset = malloc(n_lines * sizeof *v->offset);
    v->length = malloc(n_lines * sizeof *v->length);
    v->shadowed = calloc(n_lines, 1);
    entry *e = malloc(n_lines * sizeof *e);
    if (!v->offset || !v->length || !v->shadowed || !e) {
        free(e);
        free(data);
        feat_vocab_free(v);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory loading vocabulary '%s' (%zu lines)", path, n_lines);
    }
    split_tokens(v, data, size, n_lines, e);
    qsort(e, n_lines, sizeof *e, cmp_entry);
    for (size_t i = 0; i + 1 < n_lines; i++)
        if (e[i].len == e[i + 1].len && memcmp(e[i].s, e[i + 1].s, e[i].len) == 0)
            v->shadowed[e[i].id] = 1;
    st = build_trie(v, e, n_lines, err);
    free(e);
    if (st != FEAT_OK)
        feat_vocab_free(v);
    return st;
}

/* First pass over model.vocab: every value an integer id in [0, n), no id twice, no token
 * over the length limit; by_id[id] = the member. n members with distinct ids in [0, n) cover
 * every id, so the vocabulary has no holes (tokenizers writes it that way). */
static feat_status check_ids(const feat_json *obj, size_t n, const feat_json **by_id, size_t *pool_bytes,
                             feat_error *err)
{
    size_t bytes = 0;
    for (const feat_json *c = obj->child; c; c = c->next) {
        if (c->type != FEAT_JSON_NUMBER || !(c->num >= 0 && c->num < (double)n) || c->num != (double)(size_t)c->num)
            return feat_error_set(err, FEAT_E_DECODE,
                                  "model.vocab['%s'] is not an id in 0..%zu (the vocabulary "
                                  "must number its %zu tokens 0..n-1)",
                                  c->key, n - 1, n);
        size_t id = (size_t)c->num, len = strlen(c->key);
        if (by_id[id])
            return feat_error_set(err, FEAT_E_DECODE, "model.vocab gives id %zu to both '%s' and '%s'", id,
                                  by_id[id]->key, c->key);
        if (len > FEAT_VOCAB_MAX_LINE_BYTES)
            return feat_error_set(err, FEAT_E_LIMIT, "model.vocab token %zu has %zu bytes, more than the limit of %u",
                                  id, len, FEAT_VOCAB_MAX_LINE_BYTES);
        by_id[id] = c;
        bytes += len + 1;
    }
    *pool_bytes = bytes;
    return FEAT_OK;
}

/* Copies the tokens into the pool by id and builds the trie; a token given twice is refused
 * (a JSON object with a repeated member is not what tokenizers writes). */
static feat_status pool_and_trie(feat_vocab *v, const feat_json **by_id, size_t n, entry *e, feat_error *err)
{
    size_t off = 0;
    for (size_t id = 0; id < n; id++) {
        size_t len = strlen(by_id[id]->key);
        memcpy(v->pool + off, by_id[id]->key, len + 1);
        v->offset[id] = (uint32_t)off;
        v->length[id] = (uint32_t)len;
        e[id] = (entry){v->pool + off, (uint32_t)len, (uint32_t)id};
        off += len + 1;
    }
    v->n_ids = n;
    qsort(e, n, sizeof *e, cmp_entry);
    for (size_t i = 0; i + 1 < n; i++)
        if (e[i].len == e[i + 1].len && memcmp(e[i].s, e[i + 1].s, e[i].len) == 0)
            return feat_error_set(err, FEAT_E_DECODE, "model.vocab has the token '%s' twice", e[i].s);
    return build_trie(v, e, n, err);
}

feat_status feat_vocab_from_json(feat_vocab *v, const feat_json *obj, feat_error *err)
{
    memset(v, 0, sizeof *v);
    if (!obj || obj->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_DECODE, "model.vocab is not an object of token: id");
    size_t n = 0;
    for (const feat_json *c = obj->child; c; c = c->next)
        n++;
    if (n == 0)
        return feat_error_set(err, FEAT_E_DECODE, "model.vocab is empty");
    if (n > FEAT_VOCAB_MAX_TOKENS)
        return feat_error_set(err, FEAT_E_LIMIT, "model.vocab has more than %u tokens", FEAT_VOCAB_MAX_TOKENS);
    const feat_json **by_id = calloc(n, sizeof *by_id);
    entry *e = malloc(n * sizeof *e);
    size_t bytes = 0;
    feat_status st;
    if (!by_id || !e)
        st = feat_error_set(err, FEAT_E_NOMEM, "out of memory loading model.vocab (%zu tokens)", n);
    else if ((st = check_ids(obj, n, by_id, &bytes, err)) == FEAT_OK) {
        v->pool = malloc(bytes);
        v->offset = malloc(n * sizeof *v->offset);
        v->length = malloc(n * sizeof *v->length);
        v->shadowed = calloc(n, 1);
        if (!v->pool || !v->offset || !v->length || !v->shadowed)
            st = feat_error_set(err, FEAT_E_NOMEM, "out of memory loading model.vocab (%zu tokens)", n);
        else
            st = pool_and_trie(v, by_id, n, e, err);
    }
    free(by_id);
    free(e);
    if (st != FEAT_OK)
        feat_vocab_free(v);
    return st;
}

int32_t feat_vocab_find(const feat_vocab *v, const char *s, size_t n)
{
    uint32_t node = 0;
    for (size_t i = 0; i < n && node != FEAT_TRIE_NONE; i++)
        node = feat_trie_child(v, node, (uint8_t)s[i]);
    return node == FEAT_TRIE_NONE ? -1 : v->nodes[node].id;
}
