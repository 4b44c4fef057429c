#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = sig; }

static const char text_help[] =
    "usage: feat text --model M [options] -o OUT.npy [--input FILE | < lines]\n"
    "One row per input line (UTF-8; a line is cut at a NUL byte). With --pair each line is\n"
    "'A<TAB>B'. Writes OUT.npy (float32; NaN rows for lines that failed) and OUT.rows.tsv,\n"
    "whose input column names each line as 'line N #DIGEST' (FNV-1a of its bytes).\n"
    "options:\n"
    "  --model M          TorchScript text model (side-car M.json names the vocab)\n"
    "  --vocab V          vocab.txt (default: the side-car's)\n"
    "  --taps SPEC        e.g. 'encoder.layer.-1:mean' (default: [CLS] of the last layer)\n"
    "  --fusion concat|mean\n"
    "  --max-length N     tokens per sequence (default: the model's)\n"
    "  --stride N         long texts: windows overlapping by N tokens instead of truncation\n"
    "  --window-pooling mean|max|first\n"
    "  --cased            do not lowercase (and do not strip accents)\n"
    "  --replace-invalid  replace invalid UTF-8 with U+FFFD instead of failing the line\n"
    "  --batch-size N     sequences per forward pass (default 16)\n"
    "  --threads N        inference threads\n"
    "  --device D         cpu or cuda:N\n"
    "  --precision P      fp32 (default) or bf16 (opt-in; slower on CPUs without bf16)\n"
    "  --shard I/N        process only lines i with i %% N == I\n"
    "  --pair             lines are tab-separated sentence pairs\n"
    "  --resume           go on from the parts of an interrupted run (OUT.parts/)\n"
    "  --part-size N      lines per durable part written to OUT.parts/ (default 256)\n"
    "  -o, --output OUT.npy\n";

int cmd_text(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"vocab", required_argument, 0, 'v'},
        {"taps", required_argument, 0, 't'},       {"fusion", required_argument, 0, 'F'},
        {"max-length", required_argument, 0, 'L'}, {"stride", required_argument, 0, 'S'},
        {"window-pooling", required_argument, 0, 'W'}, {"cased", no_argument, 0, 'C'},
        {"replace-invalid", no_argument, 0, 'R'},  {"batch-size", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 'j'},    {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, 'X'},
        {"shard", required_argument, 0, 's'},      {"pair", no_argument, 0, 'P'},
        {"input", required_argument, 0, 'i'},      {"output", required_argument, 0, 'o'},
        {"resume", no_argument, 0, 'U'}, {"part-size", required_argument, 0, 'Z'}, {"help", no_argument, 0, 'h'},             {0}};
    const char *model = NULL, *vocab = NULL, *output = NULL, *input = NULL;
    size_t shard_i = 0, shard_n = 1;
    int resume = 0;
    size_t chunk = 256;
    long threads = -1;
    int pair = 0;
    feat_text_options *o;
    if (feat_text_options_new(&o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    feat_status st = FEAT_OK;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'v': vocab = optarg; break;
        case 'o': output = optarg; break;
        case 'i': input = optarg; break;
        case 't': st = feat_text_options_set_taps(o, optarg); break;
        case 'F':
            st = strcmp(optarg, "concat") == 0 ? feat_text_options_set_fusion(o, FEAT_FUSION_CONCAT)
                 : strcmp(optarg, "mean") == 0 ? feat_text_options_set_fusion(o, FEAT_FUSION_MEAN)
                                               : (fprintf(stderr, "feat: unknown fusion '%s'\n", optarg), -100);
            break;
        case 'L': st = feat_text_options_set_max_length(o, (uint32_t)parse_ulong("--max-length", optarg, 1 << 20)); break;
        case 'S': st = feat_text_options_set_window_stride(o, (uint32_t)parse_ulong("--stride", optarg, 1 << 20)); break;
        case 'W':
            st = strcmp(optarg, "mean") == 0    ? feat_text_options_set_window_pooling(o, FEAT_WINDOW_MEAN)
                 : strcmp(optarg, "max") == 0   ? feat_text_options_set_window_pooling(o, FEAT_WINDOW_MAX)
                 : strcmp(optarg, "first") == 0 ? feat_text_options_set_window_pooling(o, FEAT_WINDOW_FIRST)
                                                : (fprintf(stderr, "feat: unknown window pooling '%s'\n", optarg), -100);
            break;
        case 'C':
            st = feat_text_options_set_lowercase(o, FEAT_TRISTATE_OFF);
            if (st == FEAT_OK)
                st = feat_text_options_set_strip_accents(o, FEAT_TRISTATE_OFF);
            break;
        case 'R': st = feat_text_options_set_utf8_policy(o, FEAT_UTF8_REPLACE); break;
        case 'b': st = feat_text_options_set_batch_size(o, (uint32_t)parse_ulong("--batch-size", optarg, 4096)); break;
        case 'j': threads = (long)parse_ulong("--threads", optarg, 1024); break;
        case 'd': st = feat_text_options_set_device(o, optarg); break;
        case 'X': st = feat_text_options_set_precision(o, parse_precision(optarg)); break;
        case 'P': pair = 1; break;
        case 's':
            if (parse_shard(optarg, &shard_i, &shard_n)) {
                fprintf(stderr, "feat: --shard expects I/N with 0 <= I < N, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'U': resume = 1; break;
        case 'Z': chunk = parse_ulong("--part-size", optarg, 1 << 20); if (!chunk) chunk = 256; break;
        case 'h': fputs(text_help, stdout); return 0;
        default: return 2;
        }
        if (st != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            return 2;
        }
    }
    if (!model || !output || optind != argc) {
        fputs(text_help, stderr);
        return 2;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (threads >= 0 && feat_global_set_threads((int32_t)threads) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    FILE *in = input ? fopen(input, "rb") : stdin;
    if (!in) {
        perror(input);
        return 1;
    }
    strlist all = {0}, lines = {0};
    if (read_lines(in, &all)) {
        fprintf(stderr, "feat: cannot read %s\n", input ? input : "standard input");
        return 1;
    }
    if (input)
        fclose(in);
    for (size_t i = 0; i < all.n; i++)
        if (i % shard_n == shard_i && strlist_push(&lines, all.v[i]))
            return 1;
    strlist_free(&all);
    /* Pairs: split each line at its first tab, keeping both halves as separate strings. */
    char **second = NULL;
    if (pair) {
        second = calloc(lines.n ? lines.n : 1, sizeof *second);
        if (!second)
            return 1;
        for (size_t i = 0; i < lines.n; i++) {
            char *tab = strchr(lines.v[i], '\t');
            if (tab) {
                *tab = '\0';
                second[i] = tab + 1;
            } else {
                second[i] = lines.v[i] + strlen(lines.v[i]);
            }
        }
    }

    feat_text_extractor *ex;
    if (feat_text_extractor_new(&ex) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    if (feat_text_extractor_load(ex, model, vocab, o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_text_extractor_last_error(ex));
        feat_text_extractor_free(ex);
        return 1;
    }
    cli_check_blas_core(); /* text models spend their time in BLAS */
    feat_text_options_free(o);
    /* The rows table names each line by its number in the input and a digest of its bytes (the
     * text itself may be huge or not UTF-8); --resume checks both. */
    strlist labels = {0};
    for (size_t i = 0; i < lines.n; i++) {
        char label[64];
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (const unsigned char *b = (const unsigned char *)lines.v[i]; *b; b++)
            h = (h ^ *b) * 1099511628211ull;
        if (second)
            for (const unsigned char *b = (const unsigned char *)second[i]; *b; b++)
                h = (h ^ *b) * 1099511628211ull;
        snprintf(label, sizeof label, "line %zu #%016llx", (i * shard_n + shard_i) + 1, (unsigned long long)h);
        if (strlist_push(&labels, label))
            return 1;
    }
    size_t done = 0;
    out_writer *w = out_open(output, feat_text_extractor_dim(ex), labels.v, labels.n, shard_i, shard_n, resume,
                             &done);
    if (!w)
        return 1;
    if (done)
        fprintf(stderr, "feat: resuming after line %zu of %zu\n", done, lines.n);
    size_t failed = 0;
    int rc = 0;
    while (done < lines.n && !interrupted) {
        size_t n = lines.n - done < chunk ? lines.n - done : chunk;
        feat_result *r;
        feat_status xs = pair ? feat_text_extractor_extract_pairs(ex, (const char *const *)lines.v + done, NULL,
                                                                  (const char *const *)second + done, NULL, n, &r)
                              : feat_text_extractor_extract(ex, (const char *const *)lines.v + done, NULL, n, &r);
        if (xs != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_text_extractor_last_error(ex));
            rc = 1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (feat_result_item_status(r, i) != FEAT_OK) {
                fprintf(stderr, "feat: line %zu: %s\n", done + i + 1, feat_result_item_error(r, i));
                failed++;
            }
        int bad = out_append(w, r, labels.v + done, n);
        feat_result_free(r);
        if (bad) {
            rc = 1;
            break;
        }
        done += n;
        progress("lines", done, lines.n, failed, 0);
    }
    progress("lines", done, lines.n, failed, 1);
    if (rc || interrupted) {
        out_suspend(w);
        if (interrupted && !rc) {
            fprintf(stderr, "feat: interrupted after %zu of %zu lines; rerun with --resume to go on\n", done,
                    lines.n);
            rc = 130;
        }
    } else {
        size_t n_rows, n_failed;
        if (out_finish(w, &n_rows, &n_failed)) {
            rc = 1;
        } else {
            fprintf(stderr, "feat: %zu of %zu lines done, %zu failed; wrote %s\n", n_rows - n_failed, n_rows,
                    n_failed, output);
            if (n_rows == n_failed)
                rc = 1; /* nothing could be processed */
        }
    }
    feat_text_extractor_free(ex);
    free(second);
    strlist_free(&lines);
    strlist_free(&labels);
    return rc;
}
