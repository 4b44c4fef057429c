/* SPDX-License-Identifier: MIT */
#include "core/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct parser {
    const char *p, *end, *start;
    size_t nodes, max_nodes; /* values allocated so far, and the limit */
    feat_error *err;
} parser;

static feat_status fail(parser *ps, const char *what)
{
    return feat_error_set(ps->err, FEAT_E_DECODE, "invalid JSON at byte %ld: %s", (long)(ps->p - ps->start), what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *ps, unsigned *v)
{
    if (ps->end - ps->p < 4)
        return 0;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[i]);
        if (h < 0)
            return 0;
        *v = *v << 4 | (unsigned)h;
    }
    ps->p += 4;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static feat_status parse_string(parser *ps, char **out)
{
    ps->p++; /* opening quote */
    /* Escapes never expand: the output fits in the input span. */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= ps->end)
        return fail(ps, "unterminated string");
    char *o = malloc((size_t)(q - ps->p) + 1);
    if (!o)
        return feat_error_set(ps->err, FEAT_E_NOMEM, "out of memory parsing JSON");
    size_t n = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            free(o);
            return fail(ps, "control character in string");
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        char e = *ps->p++;
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(ps, &cp)) {
                free(o);
                return fail(ps, "bad \\u escape");
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || (ps->p += 2, !read_hex4(ps, &lo)) ||
                    lo < 0xDC00 || lo >= 0xE000) {
                    free(o);
                    return fail(ps, "unpaired surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(o);
                return fail(ps, "unpaired surrogate");
            }
            if (cp == 0) {
                /* Strings are NUL-terminated: an embedded NUL would cut a key or a token short. */
                free(o);
                return fail(ps, "\\u0000 in a string");
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: free(o); return fail(ps, "bad escape");
        }
    }
    ps->p++; /* closing quote */
    o[n] = '\0';
    *out = o;
    return FEAT_OK;
}

static feat_status parse_value(parser *ps, feat_json *v, int depth);

static feat_status parse_container(parser *ps, feat_json *v, int depth, char close)
{
    ps->p++;
    feat_json **tail = &v->child;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return FEAT_OK;
    }
    for (;;) {
        if (++ps->nodes > ps->max_nodes)
            return feat_error_set(ps->err, FEAT_E_LIMIT, "JSON has more than %zu values", ps->max_nodes);
        feat_json *c = calloc(1, sizeof *c);
        if (!c)
            return feat_error_set(ps->err, FEAT_E_NOMEM, "out of memory parsing JSON");
        *tail = c;
        tail = &c->next;
        skip_ws(ps);
        if (close == '}') {
            if (ps->p >= ps->end || *ps->p != '"')
                return fail(ps, "expected a member name");
            feat_status st = parse_string(ps, &c->key);
            if (st != FEAT_OK)
                return st;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail(ps, "expected ':'");
            ps->p++;
        }
        feat_status st = parse_value(ps, c, depth + 1);
        if (st != FEAT_OK)
            return st;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return FEAT_OK;
        }
        return fail(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int match(parser *ps, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0) {
        ps->p += n;
        return 1;
    }
    return 0;
}

static feat_status parse_value(parser *ps, feat_json *v, int depth)
{
    if (depth > FEAT_JSON_MAX_DEPTH)
        return fail(ps, "nested too deeply");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end");
    char c = *ps->p;
    if (c == '{') {
        v->type = FEAT_JSON_OBJECT;
        return parse_container(ps, v, depth, '}');
    }
    if (c == '[') {
        v->type = FEAT_JSON_ARRAY;
        return parse_container(ps, v, depth, ']');
    }
    if (c == '"') {
        v->type = FEAT_JSON_STRING;
        return parse_string(ps, &v->str);
    }
    if (match(ps, "true")) {
        v->type = FEAT_JSON_BOOL;
        v->num = 1;
        return FEAT_OK;
    }
    if (match(ps, "false")) {
        v->type = FEAT_JSON_BOOL;
        return FEAT_OK;
    }
    if (match(ps, "null")) {
        v->type = FEAT_JSON_NULL;
        return FEAT_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", ps->p[n]))
            n++;
        memcpy(buf, ps->p, n);
        buf[n] = '\0';
        char *endp;
        errno = 0;
        v->num = strtod(buf, &endp);
        if (endp != buf + n || errno)
            return fail(ps, "bad number");
        v->type = FEAT_JSON_NUMBER;
        ps->p += n;
        return FEAT_OK;
    }
    return fail(ps, "unexpected character");
}

void feat_json_free(feat_json *j)
{
    while (j) {
        feat_json *next = j->next;
        feat_json_free(j->child);
        free(j->key);
        free(j->str);
        free(j);
        j = next;
    }
}

feat_status feat_json_parse(const char *text, size_t len, feat_json **out, feat_error *err)
{
    return feat_json_parse_limited(text, len, FEAT_JSON_MAX_BYTES, FEAT_JSON_MAX_BYTES / 2, out, err);
}

feat_status feat_json_parse_limited(const char *text, size_t len, size_t max_bytes, size_t max_values, feat_json **out,
                                    feat_error *err)
{
    *out = NULL;
    if (len > max_bytes)
        return feat_error_set(err, FEAT_E_LIMIT, "JSON of %zu bytes is larger than %zu", len, max_bytes);
    parser ps = {text, text + len, text, 0, max_values, err};
    feat_json *root = calloc(1, sizeof *root);
    if (!root)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory parsing JSON");
    feat_status st = parse_value(&ps, root, 0);
    if (st == FEAT_OK) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            st = fail(&ps, "trailing data");
    }
    if (st != FEAT_OK) {
        feat_json_free(root);
        return st;
    }
    *out = root;
    return FEAT_OK;
}

feat_status feat_json_parse_file(const char *path, feat_json **out, feat_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return feat_error_set(err, errno == ENOENT ? FEAT_E_NOT_FOUND : FEAT_E_IO, "cannot open %s: %s", path,
                              strerror(errno));
    char *buf = malloc(FEAT_JSON_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory reading %s", path);
    }
    size_t n = fread(buf, 1, FEAT_JSON_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    feat_status st;
    if (bad)
        st = feat_error_set(err, FEAT_E_IO, "cannot read %s", path);
    else if (n > FEAT_JSON_MAX_BYTES)
        st = feat_error_set(err, FEAT_E_LIMIT, "%s is larger than %u bytes", path, FEAT_JSON_MAX_BYTES);
    else {
        st = feat_json_parse(buf, n, out, err);
        if (st != FEAT_OK)
            feat_error_prefix(err, "%s", path);
    }
    free(buf);
    return st;
}

const feat_json *feat_json_get(const feat_json *j, const char *key)
{
    if (!j || j->type != FEAT_JSON_OBJECT)
        return NULL;
    for (const feat_json *c = j->child; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

const char *feat_json_get_str(const feat_json *j, const char *key)
{
    const feat_json *v = feat_json_get(j, key);
    return v && v->type == FEAT_JSON_STRING ? v->str : NULL;
}

void feat_json_write_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
}

void feat_json_write_str(FILE *f, const char *s)
{
    fputc('"', f);
    feat_json_write_escaped(f, s);
    fputc('"', f);
}
