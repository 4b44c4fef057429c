/* SPDX-License-Identifier: MIT */
/* feat tokenize: WordPiece ids of each input line. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_OFFSETS = CLI_OWN, OPT_TYPES, OPT_MAX_LENGTH, OPT_TRUNCATION };

static const char *const truncations[] = {"longest_first", "only_first", "only_second", "none", NULL};

static const cli_option options[] = {
    CLI_REQUIRED(CLI_VOCAB, "vocab.txt, or a WordPiece tokenizer.json (a name ending in .json)"),
    CLI_SHARED(CLI_PAIR, NULL),
    CLI_SWITCH("types", OPT_TYPES, "add a tab and the token type ids"),
    CLI_SWITCH("offsets", OPT_OFFSETS, "add a tab and start:end code-point offsets per token"),
    CLI_SHARED(CLI_CASED, NULL),
    CLI_VALUE("max-length", OPT_MAX_LENGTH, "N",
              "tokens per sequence including [CLS]/[SEP] (default: a tokenizer.json's truncation, else 512)"),
    CLI_CHOICE("truncation", OPT_TRUNCATION, truncations, "what gives way past --max-length (default longest_first)"),
    CLI_SHARED(CLI_REPLACE_INVALID, NULL),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

typedef struct tokenize_job {
    int offsets, types;
    int pair;
    feat_tokenizer *tok;
} tokenize_job;

static feat_status tokenize_option(const cli_option *opt, const char *val, cli_common *c, void *ctx)
{
    tokenize_job *j = ctx;
    switch (opt->key) {
    case OPT_TYPES: j->types = 1; return FEAT_OK;
    case OPT_OFFSETS: j->offsets = 1; return FEAT_OK;
    case OPT_MAX_LENGTH: return feat_text_options_set_max_length(c->opts, (uint32_t)cli_ulong(opt, val, 1 << 24));
    case OPT_TRUNCATION: return feat_text_options_set_truncation(c->opts, (feat_truncation)cli_choice(opt, val));
    default: abort(); /* a row of the table without a case here */
    }
}

static void print_ints(const int32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)v[i]);
}

static void print_encoding(const tokenize_job *j, const feat_encoding *e)
{
    size_t n = feat_encoding_len(e);
    print_ints(feat_encoding_ids(e), n);
    if (j->types) {
        putchar('\t');
        print_ints(feat_encoding_type_ids(e), n);
    }
    if (j->offsets) {
        const int64_t *off = feat_encoding_offsets_chars(e);
        putchar('\t');
        for (size_t i = 0; i < n; i++)
            printf(i ? " %lld:%lld" : "%lld:%lld", (long long)off[2 * i], (long long)off[2 * i + 1]);
    }
    putchar('\n');
}

/* Prints the encoding of one line (len bytes, its line end removed); returns 0, or -1 when it
 * failed. */
static int tokenize_line(const tokenize_job *j, const char *line, size_t len)
{
    const char *b = NULL;
    size_t la = len, lb = 0;
    const char *tab = j->pair ? memchr(line, '\t', len) : NULL;
    if (j->pair) {
        b = tab ? tab + 1 : line + len;
        lb = tab ? (size_t)(line + len - tab - 1) : 0;
        la = tab ? (size_t)(tab - line) : len;
    }
    feat_encoding *e;
    feat_status st = feat_tokenizer_encode(j->tok, line, la, b, lb, &e);
    if (st != FEAT_OK) {
        printf("error: %s: %s\n", feat_status_name(st), feat_tokenizer_last_error(j->tok));
        return -1;
    }
    print_encoding(j, e);
    feat_encoding_free(e);
    return 0;
}

/* Tokenizes standard input line by line; returns the exit status. */
static int run(char **operands, int n, cli_common *c, void *ctx)
{
    (void)operands;
    (void)n;
    tokenize_job *j = ctx;
    j->pair = c->pair;
    if (feat_tokenizer_new(&j->tok) != FEAT_OK || feat_tokenizer_load(j->tok, c->vocab, c->opts) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", j->tok ? feat_tokenizer_last_error(j->tok) : feat_last_error());
        feat_tokenizer_free(j->tok);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, n_lines = 0, n_failed = 0;
    ssize_t len;
    while ((len = read_line(stdin, &line, &cap)) >= 0) {
        n_lines++;
        n_failed += tokenize_line(j, line, (size_t)len) != 0;
    }
    free(line);
    feat_tokenizer_free(j->tok);
    if (n_failed)
        fprintf(stderr, "feat: %zu of %zu lines failed\n", n_failed, n_lines);
    return n_lines && n_failed == n_lines ? 1 : 0;
}

static const cli_command command = {
    .usage = "tokenize --vocab V [options] [< lines]",
    .about = "Prints the ids of each input line (space separated). --types adds a tab and the\n"
             "token type ids, --offsets a tab and start:end code-point offsets per token.\n"
             "With --pair each line is 'A<TAB>B'. Lines that fail print 'error: STATUS: MESSAGE'.\n",
    .options = options,
    .type = &cli_text_options,
    .own = tokenize_option,
    .run = run};

int cmd_tokenize(int argc, char **argv)
{
    tokenize_job j = {0};
    return cli_main(&command, argc, argv, &j);
}
