#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vocab", required_argument, 0, 'v'},      {"pair", no_argument, 0, 'P'},
        {"offsets", no_argument, 0, 'O'},          {"types", no_argument, 0, 'T'},
        {"cased", no_argument, 0, 'C'},            {"max-length", required_argument, 0, 'L'},
        {"truncation", required_argument, 0, 'X'}, {"replace-invalid", no_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},             {0}};
    const char *vocab = NULL;
    int pair = 0, offsets = 0, types = 0;
    feat_text_options *o;
    if (feat_text_options_new(&o) != FEAT_OK)
        return 1;
    feat_status st = FEAT_OK;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'v': vocab = optarg; break;
        case 'P': pair = 1; break;
        case 'O': offsets = 1; break;
        case 'T': types = 1; break;
        case 'C':
            st = feat_text_options_set_lowercase(o, FEAT_TRISTATE_OFF);
            if (st == FEAT_OK)
                st = feat_text_options_set_strip_accents(o, FEAT_TRISTATE_OFF);
            break;
        case 'L': st = feat_text_options_set_max_length(o, (uint32_t)parse_ulong("--max-length", optarg, 1 << 24)); break;
        case 'X': {
            static const char *const names[] = {"longest_first", "only_first", "only_second", "none"};
            int k = 0;
            for (int j = 0; j < 4; j++)
                if (strcmp(optarg, names[j]) == 0)
                    k = j + 1;
            if (!k) {
                fprintf(stderr, "feat: unknown truncation '%s'\n", optarg);
                return 2;
            }
            st = feat_text_options_set_truncation(o, (feat_truncation)k);
            break;
        }
        case 'R': st = feat_text_options_set_utf8_policy(o, FEAT_UTF8_REPLACE); break;
        case 'h':
            printf("usage: feat tokenize --vocab V [--pair] [--types] [--offsets] [--cased]\n"
                   "                     [--max-length N] [--truncation S] [< lines]\n"
                   "Prints the ids of each input line (space separated). --types adds a tab and the\n"
                   "token type ids, --offsets a tab and start:end code-point offsets per token.\n"
                   "With --pair each line is 'A<TAB>B'. Lines that fail print 'error: STATUS: MESSAGE'.\n");
            return 0;
        default: return 2;
        }
        if (st != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            return 2;
        }
    }
    if (!vocab || optind != argc) {
        fprintf(stderr, "usage: feat tokenize --vocab V [options] < lines\n");
        return 2;
    }
    feat_tokenizer *tok = NULL;
    if (feat_tokenizer_new(&tok) != FEAT_OK || feat_tokenizer_load(tok, vocab, o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", tok ? feat_tokenizer_last_error(tok) : feat_last_error());
        return 1;
    }
    feat_text_options_free(o);
    char *line = NULL;
    size_t cap = 0, n_lines = 0, n_failed = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        n_lines++;
        const char *b = NULL;
        size_t la = (size_t)len, lb = 0;
        if (pair) {
            char *tab = memchr(line, '\t', (size_t)len);
            b = tab ? tab + 1 : line + len;
            lb = tab ? (size_t)(line + len - tab - 1) : 0;
            la = tab ? (size_t)(tab - line) : (size_t)len;
        }
        feat_encoding *e;
        feat_status es = feat_tokenizer_encode(tok, line, la, b, lb, &e);
        if (es != FEAT_OK) {
            printf("error: %s: %s\n", feat_status_name(es), feat_tokenizer_last_error(tok));
            n_failed++;
            continue;
        }
        size_t n = feat_encoding_len(e);
        const int32_t *ids = feat_encoding_ids(e);
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", (int)ids[i]);
        if (types) {
            const int32_t *t = feat_encoding_type_ids(e);
            putchar('\t');
            for (size_t i = 0; i < n; i++)
                printf(i ? " %d" : "%d", (int)t[i]);
        }
        if (offsets) {
            const int64_t *off = feat_encoding_offsets_chars(e);
            putchar('\t');
            for (size_t i = 0; i < n; i++)
                printf(i ? " %lld:%lld" : "%lld:%lld", (long long)off[2 * i], (long long)off[2 * i + 1]);
        }
        putchar('\n');
        feat_encoding_free(e);
    }
    free(line);
    feat_tokenizer_free(tok);
    if (n_failed)
        fprintf(stderr, "feat: %zu of %zu lines failed\n", n_failed, n_lines);
    return n_lines && n_failed == n_lines ? 1 : 0;
}
