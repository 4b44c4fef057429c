/* SPDX-License-Identifier: MIT */
/* feat text: features of text lines, written durably (run.c). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define PART_SIZE 256

enum { OPT_MAX_LENGTH = CLI_OWN, OPT_STRIDE, OPT_WINDOW_POOLING, OPT_INPUT };

static const char *const window_poolings[] = {"mean", "max", "first", NULL};

static const cli_option options[] = {
    CLI_REQUIRED(CLI_MODEL, "TorchScript text model (side-car M.json names the vocab); repeat for an ensemble "
                            "(rows side by side), each --model followed by its own --vocab, --taps and the "
                            "options down to --precision"),
    CLI_SHARED(CLI_VOCAB, NULL),
    CLI_SHARED(CLI_TAPS, "e.g. 'encoder.layer.-1:mean' (default: [CLS] of the last layer)"),
    CLI_SHARED(CLI_FUSION, NULL),
    CLI_VALUE("max-length", OPT_MAX_LENGTH, "N", "tokens per sequence (default: the model's)"),
    CLI_VALUE("stride", OPT_STRIDE, "N", "long texts: windows overlapping by N tokens instead of truncation"),
    CLI_CHOICE("window-pooling", OPT_WINDOW_POOLING, window_poolings,
               "how the windows of a long text become one row (default mean)"),
    CLI_SHARED(CLI_CASED, NULL),
    CLI_SHARED(CLI_REPLACE_INVALID, NULL),
    CLI_SHARED(CLI_BATCH_SIZE, "sequences per forward pass (default 16)"),
    CLI_SHARED(CLI_THREADS, NULL),
    CLI_SHARED(CLI_DEVICE, NULL),
    CLI_SHARED(CLI_PRECISION, NULL),
    CLI_SHARED(CLI_SHARD, "process only lines i with i % N == I (job arrays)"),
    CLI_SHARED(CLI_PAIR, NULL),
    CLI_VALUE("input", OPT_INPUT, "FILE", "read the lines from FILE (default: standard input)"),
    CLI_SHARED(CLI_APPEND, "join FILE's numeric columns to each row, keyed by a 'line' column (line numbers, "
                           "from 1)"),
    CLI_SHARED(CLI_RESUME, NULL),
    CLI_SHARED(CLI_PART_SIZE, "lines per durable part written to OUT.parts/ (default " CLI_STR(PART_SIZE) ")"),
    CLI_REQUIRED(CLI_OUTPUT, "where the rows go (and OUT.rows.tsv, their table); '-': a .npy to standard output"),
    CLI_SHARED(CLI_ROWS, NULL),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

typedef struct text_job {
    const char *input;
    strlist lines, labels;
    char **second; /* with --pair: the part of each line after its first tab */
    feat_text_extractor *ex[CLI_MAX_MODELS];
    feat_text_ensemble *ens; /* with several models */
    cli_columns columns;
    cli_append *append;
} text_job;

static feat_status text_option(const cli_option *opt, const char *val, cli_common *c, void *ctx)
{
    feat_text_options *o = c->opts;
    switch (opt->key) {
    case OPT_MAX_LENGTH: return feat_text_options_set_max_length(o, (uint32_t)cli_ulong(opt, val, 1 << 20));
    case OPT_STRIDE: return feat_text_options_set_window_stride(o, (uint32_t)cli_ulong(opt, val, 1 << 20));
    case OPT_WINDOW_POOLING: return feat_text_options_set_window_pooling(o, (feat_window_pooling)cli_choice(opt, val));
    case OPT_INPUT: ((text_job *)ctx)->input = val; return FEAT_OK;
    default: abort(); /* a row of the table without a case here */
    }
}

/* This shard's lines of --input or standard input. */
static int read_input(text_job *j, const cli_common *c)
{
    FILE *in = j->input ? fopen(j->input, "rb") : stdin;
    if (!in) {
        perror(j->input);
        return -1;
    }
    strlist all = {0};
    int bad = read_lines(in, &all);
    if (j->input)
        fclose(in);
    if (bad) {
        fprintf(stderr, "feat: cannot read %s\n", j->input ? j->input : "standard input");
        strlist_free(&all);
        return -1;
    }
    if (strlist_take_shard(&all, c->shard_i, c->shard_n, &j->lines)) {
        fprintf(stderr, "feat: out of memory reading the input\n");
        return -1;
    }
    return 0;
}

/* Pairs: splits each line at its first tab, keeping both halves as separate strings. */
static int split_pairs(text_job *j)
{
    j->second = calloc(j->lines.n ? j->lines.n : 1, sizeof *j->second);
    if (!j->second)
        return -1;
    for (size_t i = 0; i < j->lines.n; i++) {
        char *tab = strchr(j->lines.v[i], '\t');
        if (tab)
            *tab = '\0';
        j->second[i] = tab ? tab + 1 : j->lines.v[i] + strlen(j->lines.v[i]);
    }
    return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *b = (const unsigned char *)s; *b; b++)
        h = (h ^ *b) * 1099511628211ull;
    return h;
}

/* The rows table names each line by its number in the input and a digest of its bytes (the
 * text itself may be huge or not UTF-8); --resume checks both. */
static int make_labels(text_job *j, const cli_common *c)
{
    for (size_t i = 0; i < j->lines.n; i++) {
        uint64_t h = fnv1a(1469598103934665603ull, j->lines.v[i]);
        if (j->second)
            h = fnv1a(h, j->second[i]);
        char label[64];
        snprintf(label, sizeof label, "line %zu #%016llx", (i * c->shard_n + c->shard_i) + 1, (unsigned long long)h);
        if (strlist_push(&j->labels, label))
            return -1;
    }
    return 0;
}

/* Loads model i of c into j->ex[i]; returns -1 after saying why. */
static int load(text_job *j, const cli_common *c, size_t i)
{
    if (feat_text_extractor_new(&j->ex[i]) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return -1;
    }
    if (feat_text_extractor_load(j->ex[i], c->models[i].path, c->models[i].vocab, c->models[i].opts) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_text_extractor_last_error(j->ex[i]));
        return -1;
    }
    return cli_columns_add_text(&j->columns, c->models[i].path, j->ex[i]);
}

/* Every --model, side by side in an ensemble when there are several, and the column map. */
static int load_models(text_job *j, const cli_common *c)
{
    for (size_t i = 0; i < c->n_models; i++)
        if (load(j, c, i))
            return -1;
    cli_check_blas_core(); /* text models spend their time in BLAS */
    if (c->n_models > 1 && feat_text_ensemble_new(&j->ens) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return -1;
    }
    for (size_t i = 0; j->ens && i < c->n_models; i++)
        if (feat_text_ensemble_add(j->ens, j->ex[i], c->models[i].path) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_text_ensemble_last_error(j->ens));
            return -1;
        }
    return cli_append_columns(j->append, &j->columns);
}

/* --append: the tables' rows of this shard's lines, keyed by line number in the whole input. */
static int load_append(text_job *j, const cli_common *c)
{
    if (!c->n_append)
        return 0;
    strlist keys = {0};
    int rc = 0;
    for (size_t i = 0; i < j->lines.n && !rc; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i * c->shard_n + c->shard_i + 1);
        rc = strlist_push(&keys, key);
    }
    if (!rc)
        j->append = cli_append_load(c->append, c->n_append, "line", keys.v, keys.n);
    strlist_free(&keys);
    return j->append ? 0 : -1;
}

static feat_result *extract(void *ctx, size_t first, size_t n)
{
    text_job *j = ctx;
    const char *const *a = (const char *const *)j->lines.v + first;
    const char *const *b = j->second ? (const char *const *)j->second + first : NULL;
    feat_result *r;
    feat_status st;
    if (j->ens)
        st = b ? feat_text_ensemble_extract_pairs(j->ens, a, NULL, b, NULL, n, &r)
               : feat_text_ensemble_extract(j->ens, a, NULL, n, &r);
    else
        st = b ? feat_text_extractor_extract_pairs(j->ex[0], a, NULL, b, NULL, n, &r)
               : feat_text_extractor_extract(j->ex[0], a, NULL, n, &r);
    if (st == FEAT_OK)
        return r;
    fprintf(stderr, "feat: %s\n",
            j->ens ? feat_text_ensemble_last_error(j->ens) : feat_text_extractor_last_error(j->ex[0]));
    return NULL;
}

/* Reads the lines and the --append tables, loads the models and runs; returns the exit status. */
static int run(char **operands, int n, cli_common *c, void *ctx)
{
    (void)operands;
    (void)n;
    text_job *j = ctx;
    int rc = 1;
    if (!cli_start(c) && !read_input(j, c) && !(c->pair && split_pairs(j)) && !load_append(j, c) &&
        !load_models(j, c) && !make_labels(j, c)) {
        cli_job job = {"line",      "lines",   1, j->labels.v, j->labels.n, j->columns.dim, extract, j,
                       &j->columns, j->append, 0};
        rc = cli_run(&job, c);
    }
    feat_text_ensemble_free(j->ens);
    for (size_t i = 0; i < c->n_models; i++)
        feat_text_extractor_free(j->ex[i]);
    cli_columns_free(&j->columns);
    cli_append_free(j->append);
    free(j->second);
    strlist_free(&j->lines);
    strlist_free(&j->labels);
    return rc;
}

static const cli_command command = {
    .usage = "text --model M [options] -o OUT.npy [--input FILE | < lines]",
    .about = "One row per input line (UTF-8; a line is cut at a NUL byte). With --pair each line is\n"
             "'A<TAB>B'. Writes OUT.npy (float32; NaN rows for lines that failed) and OUT.rows.tsv,\n"
             "whose input column names each line as 'line N #DIGEST' (FNV-1a of its bytes), and\n"
             "OUT.columns.tsv, which columns came from which model, tap and --append table.\n",
    .options = options,
    .type = &cli_text_options,
    .part_size = PART_SIZE,
    .own = text_option,
    .ensemble = 1,
    .run = run};

int cmd_text(int argc, char **argv)
{
    text_job j = {0};
    return cli_main(&command, argc, argv, &j);
}
