/* SPDX-License-Identifier: MIT */
/* tokenize_dump: the text component without libtorch, for the parity tests and the benchmark.
 *
 *   tokenize_dump --vocab V [--lowercase on|off] [--strip-accents on|off] [--max-length N]
 *                 [--truncation longest_first|only_first|only_second|none] [--stride S]
 *                 [--replace] [FILE]
 *     Each input line is hex(A) or hex(A) TAB hex(B) (hex keeps NULs, newlines and invalid
 *     UTF-8 intact). Output, one line per input: the windows (one unless --stride) separated by
 *     " | ", each "ids;type_ids;attention_mask;char_offsets;byte_offsets" with comma-separated
 *     numbers and offsets as start:end; or "error NAME message".
 *   tokenize_dump --vocab V --bench [--repeat R] FILE
 *     Encodes every line of FILE (plain text) R times with one scratch and one output, and
 *     prints "lines L tokens T seconds S" for the encoding loop only.
 */
#include "core/error.h"
#include "text/text_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex in place; returns the byte count or (size_t)-1 on bad input. */
static size_t unhex(char *s, size_t n)
{
    if (n % 2)
        return (size_t)-1;
    for (size_t i = 0; i < n / 2; i++) {
        int h = hexval((unsigned char)s[2 * i]), l = hexval((unsigned char)s[2 * i + 1]);
        if (h < 0 || l < 0)
            return (size_t)-1;
        s[i] = (char)(h * 16 + l);
    }
    return n / 2;
}

static void print_list32(const int32_t *a, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        printf(i > from ? ",%d" : "%d", (int)a[i]);
}

static void print_offsets(const int64_t *a, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        printf(i > from ? ",%lld:%lld" : "%lld:%lld", (long long)a[2 * i], (long long)a[2 * i + 1]);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *vocab = NULL, *file = NULL;
    int bench = 0, repeat = 1;
    feat_text_options *o;
    if (feat_text_options_new(&o) != FEAT_OK)
        return 1;
    uint32_t stride = 0;
    int windows = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        feat_status st = FEAT_OK;
        if (!strcmp(a, "--vocab") && v)
            vocab = argv[++i];
        else if (!strcmp(a, "--lowercase") && v)
            st = feat_text_options_set_lowercase(o, strcmp(argv[++i], "off") ? FEAT_TRISTATE_ON : FEAT_TRISTATE_OFF);
        else if (!strcmp(a, "--strip-accents") && v)
            st =
                feat_text_options_set_strip_accents(o, strcmp(argv[++i], "off") ? FEAT_TRISTATE_ON : FEAT_TRISTATE_OFF);
        else if (!strcmp(a, "--max-length") && v)
            st = feat_text_options_set_max_length(o, (uint32_t)strtoul(argv[++i], NULL, 10));
        else if (!strcmp(a, "--truncation") && v) {
            static const char *const names[] = {"longest_first", "only_first", "only_second", "none"};
            int k = 0;
            for (int j = 0; j < 4; j++)
                if (!strcmp(argv[i + 1], names[j]))
                    k = j + 1;
            i++;
            st = feat_text_options_set_truncation(o, (feat_truncation)k);
            if (!k) {
                fprintf(stderr, "tokenize_dump: unknown truncation %s\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--stride") && v) {
            stride = (uint32_t)strtoul(argv[++i], NULL, 10);
            windows = 1;
        } else if (!strcmp(a, "--replace"))
            st = feat_text_options_set_utf8_policy(o, FEAT_UTF8_REPLACE);
        else if (!strcmp(a, "--bench"))
            bench = 1;
        else if (!strcmp(a, "--repeat") && v)
            repeat = atoi(argv[++i]);
        else if (a[0] != '-' && !file)
            file = a;
        else {
            fprintf(stderr, "tokenize_dump: bad argument %s\n", a);
            return 2;
        }
        if (st != FEAT_OK) {
            fprintf(stderr, "tokenize_dump: %s\n", feat_last_error());
            return 2;
        }
    }
    if (!vocab) {
        fprintf(stderr, "usage: tokenize_dump --vocab V [options] [FILE]\n");
        return 2;
    }
    feat_tokenizer *tok;
    if (feat_tokenizer_new(&tok) != FEAT_OK)
        return 1;
    if (feat_tokenizer_load(tok, vocab, o) != FEAT_OK) {
        fprintf(stderr, "tokenize_dump: %s\n", feat_tokenizer_last_error(tok));
        return 1;
    }
    feat_text_options_free(o);
    FILE *in = file ? fopen(file, "rb") : stdin;
    if (!in) {
        perror(file);
        return 1;
    }
    feat_tok_scratch *s;
    if (feat_tok_scratch_new(&s) != FEAT_OK)
        return 1;
    feat_tok_output out = {0};
    feat_tok_params p;
    feat_tok_params_from_tokenizer(tok, &p);
    p.windows = windows;
    p.stride = stride;
    p.want_offsets = 1;
    feat_error err = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    if (bench) {
        /* Slurp the lines first so that only tokenization is timed. */
        size_t n = 0, ncap = 0;
        char **lines = NULL;
        size_t *lens = NULL;
        while ((len = getline(&line, &cap, in)) >= 0) {
            if (len && line[len - 1] == '\n')
                line[--len] = '\0';
            if (n == ncap) {
                ncap = ncap ? 2 * ncap : 1024;
                lines = realloc(lines, ncap * sizeof *lines);
                lens = realloc(lens, ncap * sizeof *lens);
                if (!lines || !lens)
                    return 1;
            }
            lines[n] = malloc((size_t)len + 1);
            if (!lines[n])
                return 1;
            memcpy(lines[n], line, (size_t)len + 1);
            lens[n++] = (size_t)len;
        }
        size_t tokens = 0, failed = 0;
        double t0 = now();
        for (int r = 0; r < repeat; r++)
            for (size_t i = 0; i < n; i++) {
                if (feat_tok_encode(tok, s, lines[i], lens[i], NULL, 0, &p, &out, &err) != FEAT_OK)
                    failed++;
                else
                    tokens += out.n_tokens;
            }
        double t1 = now();
        printf("lines %zu tokens %zu seconds %.6f failed %zu\n", n * (size_t)repeat, tokens, t1 - t0, failed);
        for (size_t i = 0; i < n; i++)
            free(lines[i]);
        free(lines);
        free(lens);
    } else {
        while ((len = getline(&line, &cap, in)) >= 0) {
            if (len && line[len - 1] == '\n')
                line[--len] = '\0';
            char *tab = memchr(line, '\t', (size_t)len);
            size_t la = tab ? (size_t)(tab - line) : (size_t)len, lb = 0;
            char *b = tab ? tab + 1 : NULL;
            if (b)
                lb = (size_t)(line + len - b);
            la = unhex(line, la);
            if (b)
                lb = unhex(b, lb);
            if (la == (size_t)-1 || (b && lb == (size_t)-1)) {
                fprintf(stderr, "tokenize_dump: input line is not hex\n");
                return 2;
            }
            feat_status st = feat_tok_encode(tok, s, line, la, b, lb, &p, &out, &err);
            if (st != FEAT_OK) {
                printf("error %s %s\n", feat_status_name(st), err.msg);
                continue;
            }
            for (size_t w = 0; w < out.n_windows; w++) {
                size_t f = out.win_start[w], t = out.win_start[w + 1];
                if (w)
                    fputs(" | ", stdout);
                print_list32(out.ids, f, t);
                putchar(';');
                print_list32(out.type_ids, f, t);
                putchar(';');
                print_list32(out.attention_mask, f, t);
                putchar(';');
                print_offsets(out.offsets_chars, f, t);
                putchar(';');
                print_offsets(out.offsets_bytes, f, t);
            }
            putchar('\n');
        }
    }
    free(line);
    if (in != stdin)
        fclose(in);
    feat_tok_output_free(&out);
    feat_tok_scratch_free(s);
    feat_tokenizer_free(tok);
    return 0;
}
