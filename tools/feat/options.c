/* SPDX-License-Identifier: MIT */
/* Option tables of the feat subcommands: parsing, help, and the options they share (cli.h). */
#include "cli.h"

#include "core/edit_distance.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTIONS 48 /* rows of one subcommand's table */
#define HELP_WIDTH 88  /* descriptions are wrapped to this many columns (the widest about text) */
#define LEFT_MAX 30    /* an option wider than this has its description on the next line */
#define PARSED (-1)    /* parse: go on and run */

static const char *const fusions[] = {"concat", "mean", NULL};
static const char *const precisions[] = {"fp32", "bf16", NULL};
static const char *const presets[] = {"torchvision", "keras-vgg16", NULL};
static const char *const interpolations[] = {"nearest", "bilinear", "bicubic", "lanczos", NULL};

/* The options of more than one subcommand. Their help speaks of "inputs"; a subcommand's
 * CLI_SHARED row can say it in its own words. */
static const cli_option shared[] = {
    CLI_VALUE("model", CLI_MODEL, "M", "TorchScript model (its side-car M.json gives defaults)"),
    CLI_VALUE("taps", CLI_TAPS, "SPEC", "the layers to tap and how to pool them (default: the model's)"),
    CLI_CHOICE("fusion", CLI_FUSION, fusions, "how several taps become one row (default concat)"),
    CLI_VALUE("batch-size", CLI_BATCH_SIZE, "N", "inputs per forward pass"),
    CLI_VALUE("threads", CLI_THREADS, "N", "inference threads (default: cores, at most 8)"),
    CLI_VALUE("device", CLI_DEVICE, "D", "cpu or cuda:N"),
    CLI_CHOICE("precision", CLI_PRECISION, precisions, "bf16: opt-in, slower on CPUs without it (default fp32)"),
    CLI_VALUE("shard", CLI_SHARD, "I/N", "process only inputs i with i % N == I (job arrays)"),
    CLI_SWITCH("resume", CLI_RESUME, "go on from the parts of an interrupted run (OUT.parts/)"),
    CLI_VALUE("part-size", CLI_PART_SIZE, "N", "inputs per durable part written to OUT.parts/"),
    CLI_CHOICE("preset", CLI_PRESET, presets, "the preprocessing (default: the side-car's, else torchvision)"),
    CLI_VALUE("resize", CLI_RESIZE, "N", "shorter side before the center crop (torchvision preset)"),
    CLI_VALUE("crop", CLI_CROP, "N", "output size N x N (default 224)"),
    CLI_CHOICE("interpolation", CLI_INTERPOLATION, interpolations, "resampling filter (default: the preset's)"),
    CLI_SWITCH("exif", CLI_EXIF, "apply EXIF orientation"),
    CLI_SWITCH("fast", CLI_FAST, "fast, inexact JPEG decoding (docs/imaging.md)"),
    CLI_VALUE("decode-threads", CLI_DECODE_THREADS, "N",
              "threads that decode images ahead of inference (default 1; more pay off with spare cores)"),
    CLI_VALUE("vocab", CLI_VOCAB, "V", "vocab.txt or tokenizer.json (default: the side-car's)"),
    CLI_SWITCH("pair", CLI_PAIR, "lines are tab-separated sentence pairs ('A<TAB>B')"),
    CLI_VALUE("append", CLI_APPEND, "FILE.tsv",
              "join FILE's numeric columns to each row by key, after the models' columns (repeatable)"),
    CLI_SWITCH("cased", CLI_CASED, "do not lowercase (and do not strip accents)"),
    CLI_SWITCH("replace-invalid", CLI_REPLACE_INVALID, "replace invalid UTF-8 with U+FFFD instead of failing the line"),
    CLI_VALUE("output", CLI_OUTPUT, "OUT.npy", "where the rows go (and OUT.rows.tsv, their table)"),
    CLI_VALUE("rows", CLI_ROWS, "FILE", "with -o -: the rows table goes to FILE (default: standard error)"),
    CLI_SWITCH("help", CLI_HELP, "print this help and exit"),
    {0},
};

/* cmd's rows with the shared ones filled in: out must hold MAX_OPTIONS + 1 rows. */
static size_t resolve(const cli_command *cmd, cli_option *out)
{
    size_t n = 0;
    for (const cli_option *o = cmd->options; o->key; o++) {
        if (n == MAX_OPTIONS)
            abort(); /* a table too long for this file's limit: raise MAX_OPTIONS */
        out[n] = *o;
        if (!o->name) {
            const cli_option *s = shared;
            while (s->key && s->key != o->key)
                s++;
            if (!s->key)
                abort(); /* CLI_SHARED names an option that is not shared */
            out[n] = *s;
            out[n].required = o->required;
            if (o->help)
                out[n].help = o->help;
            if (o->arg)
                out[n].arg = o->arg; /* the subcommand's own placeholder (TUNED.pt for OUT.npy) */
        }
        n++;
    }
    out[n] = (cli_option){0};
    return n;
}

static int has_short(const cli_option *o) { return o->key > ' ' && o->key < 127; }
static int takes_value(const cli_option *o) { return o->arg || o->choices; }

/* "  -o, --output OUT.npy" or "      --fusion concat|mean" into buf; returns its length. */
static size_t left_column(const cli_option *o, char *buf, size_t cap)
{
    size_t n = (size_t)(has_short(o) ? snprintf(buf, cap, "  -%c, --%s", o->key, o->name)
                                     : snprintf(buf, cap, "      --%s", o->name));
    if (o->arg)
        n += (size_t)snprintf(buf + n, cap - n, " %s", o->arg);
    else
        for (const char *const *c = o->choices; c && *c && n < cap; c++)
            n += (size_t)snprintf(buf + n, cap - n, "%c%s", c == o->choices ? ' ' : '|', *c);
    return n < cap ? n : cap - 1;
}

/* Writes text from column col to HELP_WIDTH, breaking lines at spaces (the cursor is at col). */
static void wrapped(FILE *f, const char *text, size_t col)
{
    size_t at = col;
    while (*text) {
        size_t word = strcspn(text, " ");
        if (at > col && at + 1 + word > HELP_WIDTH) {
            fprintf(f, "\n%*s", (int)col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', f);
            at++;
        }
        fprintf(f, "%.*s", (int)word, text);
        at += word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', f);
}

void cli_help(const cli_command *cmd, FILE *f)
{
    cli_option opts[MAX_OPTIONS + 1];
    size_t n = resolve(cmd, opts), col = 0;
    char left[256];
    for (size_t i = 0; i < n; i++) {
        size_t w = left_column(&opts[i], left, sizeof left);
        if (w <= LEFT_MAX && w + 2 > col)
            col = w + 2;
    }
    fprintf(f, "usage: feat %s\n%soptions:\n", cmd->usage, cmd->about);
    for (size_t i = 0; i < n; i++) {
        size_t w = left_column(&opts[i], left, sizeof left);
        if (w + 2 > col)
            fprintf(f, "%s\n%*s", left, (int)col, "");
        else
            fprintf(f, "%s%*s", left, (int)(col - w), "");
        wrapped(f, opts[i].help, col);
    }
}

/* Usage errors of option values: said once, on stderr, then exit status 2. */
static _Noreturn void bad_value(const cli_option *opt, const char *expects, const char *val)
{
    fprintf(stderr, "feat: --%s expects %s, got '%s'\n", opt->name, expects, val ? val : "");
    exit(2);
}

static _Noreturn void usage_error(const char *what)
{
    fprintf(stderr, "feat: %s\n", what);
    exit(2);
}

int cli_choice(const cli_option *opt, const char *val)
{
    char expects[256] = "";
    size_t len = 0;
    for (int i = 0; opt->choices[i]; i++) {
        if (strcmp(val, opt->choices[i]) == 0)
            return i + 1;
        const char *sep = i == 0 ? "" : opt->choices[i + 1] ? ", " : " or ";
        len += (size_t)snprintf(expects + len, len < sizeof expects ? sizeof expects - len : 0, "%s%s", sep,
                                opt->choices[i]);
    }
    bad_value(opt, expects, val);
}

unsigned long cli_ulong(const cli_option *opt, const char *val, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = val ? strtoul(val, &end, 10) : 0;
    if (!val || end == val || *end || errno || val[0] == '-' || v > max) {
        char expects[64];
        snprintf(expects, sizeof expects, "an integer in 0..%lu", max);
        bad_value(opt, expects, val);
    }
    return v;
}

/* A count of at least 1 and at most max. The library reads 0 as "the default": on the command
 * line the option is left out for that. */
static uint32_t count_value(const cli_option *opt, const char *val, unsigned long max)
{
    unsigned long n = cli_ulong(opt, val, max);
    if (n == 0) {
        char expects[80];
        snprintf(expects, sizeof expects, "an integer in 1..%lu (leave the option out for the default)", max);
        bad_value(opt, expects, val);
    }
    return (uint32_t)n;
}

/* --shard "I/N" with 0 <= I < N. */
static void parse_shard(const cli_option *opt, const char *s, size_t *index, size_t *count)
{
    char *slash, *end = NULL;
    unsigned long i = strtoul(s, &slash, 10), n = 0;
    if (slash != s && *slash == '/')
        n = strtoul(slash + 1, &end, 10);
    if (n == 0 || end == slash + 1 || *end || i >= n || n > 1000000)
        bad_value(opt, "I/N with 0 <= I < N", s);
    *index = i;
    *count = n;
}

/* --model: the first one names the options object made at the start (which the options
 * before it filled); each later one starts a new options object that the options after it
 * fill (an ensemble), where the subcommand takes several. */
static feat_status next_model(cli_common *c, const char *path)
{
    if (!c->n_models || !c->models[c->n_models - 1].path) {
        c->models[c->n_models ? c->n_models - 1 : c->n_models++].path = path;
        c->model = path;
        return FEAT_OK;
    }
    if (!c->ensemble || c->n_models == CLI_MAX_MODELS)
        usage_error(c->ensemble ? "--model is given more than " CLI_STR(CLI_MAX_MODELS) " times"
                                : "--model may be given once here");
    void *opts;
    feat_status st = c->type->create(&opts);
    if (st != FEAT_OK)
        return st;
    c->models[c->n_models++] = (cli_model){.path = path, .opts = opts};
    c->opts = opts;
    c->model = path;
    c->vocab = NULL;
    return FEAT_OK;
}

/* Handles opt when it is one of every kind's shared options: sets *st and returns 1; else
 * returns 0. */
static int common_option(cli_common *c, const cli_option *opt, const char *val, feat_status *st)
{
    switch (opt->key) {
    case CLI_MODEL: *st = next_model(c, val); break;
    case CLI_OUTPUT: c->output = val; break;
    case CLI_ROWS: c->rows = val; break;
    case CLI_VOCAB: c->vocab = c->models[c->n_models ? c->n_models - 1 : 0].vocab = val; break;
    case CLI_APPEND:
        if (c->n_append == CLI_MAX_APPEND)
            usage_error("--append is given more than " CLI_STR(CLI_MAX_APPEND) " times");
        c->append[c->n_append++] = val;
        break;
    case CLI_PAIR: c->pair = 1; break;
    case CLI_TAPS: *st = c->type->taps(c->opts, val); break;
    case CLI_FUSION: *st = c->type->fusion(c->opts, (feat_fusion)cli_choice(opt, val)); break;
    case CLI_BATCH_SIZE: *st = c->type->batch_size(c->opts, count_value(opt, val, 4096)); break;
    case CLI_DEVICE: *st = c->type->device(c->opts, val); break;
    case CLI_PRECISION: *st = c->type->precision(c->opts, (feat_precision)cli_choice(opt, val)); break;
    case CLI_THREADS: c->threads = (long)cli_ulong(opt, val, 1024); break;
    case CLI_SHARD: parse_shard(opt, val, &c->shard_i, &c->shard_n); break;
    case CLI_RESUME: c->resume = 1; break;
    case CLI_PART_SIZE: {
        size_t n = cli_ulong(opt, val, 1 << 20);
        if (n)
            c->part_size = n; /* 0 keeps the default */
        break;
    }
    default: return 0;
    }
    return 1;
}

/* getopt_long's view of opts (n rows). */
static void getopt_tables(const cli_option *opts, size_t n, struct option *longs, char *shorts)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        longs[i] =
            (struct option){opts[i].name, takes_value(&opts[i]) ? required_argument : no_argument, NULL, opts[i].key};
        if (has_short(&opts[i])) {
            shorts[k++] = (char)opts[i].key;
            if (takes_value(&opts[i]))
                shorts[k++] = ':';
        }
    }
    longs[n] = (struct option){0};
    shorts[k] = '\0';
}

/* Handles one option; returns FEAT_OK or the status whose message is to be reported. */
static feat_status handle(const cli_command *cmd, const cli_option *opt, const char *val, cli_common *c, void *ctx)
{
    feat_status st = FEAT_OK;
    if (common_option(c, opt, val, &st))
        return st;
    if (opt->key >= CLI_PRESET && opt->key < CLI_OWN && c->type && c->type->option)
        return c->type->option(opt, val, c);
    if ((opt->key < CLI_PRESET || opt->key >= CLI_OWN) && cmd->own)
        return cmd->own(opt, val, c, ctx);
    abort(); /* a table row that nothing handles */
}

/* After getopt_long's complaint about arg: the long option arg was probably meant to be. */
static void suggest_option(const cli_command *cmd, const cli_option *opts, size_t n, const char *arg)
{
    if (strncmp(arg, "--", 2) != 0)
        return; /* a short option: one letter leaves nothing to guess from */
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    const char *names[MAX_OPTIONS];
    for (size_t i = 0; i < n; i++)
        names[i] = opts[i].name;
    const char *near = feat_closest_name(word, names, n);
    const char *name = cmd->usage, *end = name + strcspn(name, " ");
    if (near)
        fprintf(stderr, "feat %.*s: did you mean '--%s'? (see 'feat %.*s --help')\n", (int)(end - name), name, near,
                (int)(end - name), name);
}

/* Parses argv by cmd's table into c; returns PARSED with optind at the first operand, or
 * the exit status: 0 after --help, 2 after a usage error. */
static int parse(const cli_command *cmd, int argc, char **argv, cli_common *c, void *ctx)
{
    cli_option opts[MAX_OPTIONS + 1];
    struct option longs[MAX_OPTIONS + 1];
    char shorts[2 * MAX_OPTIONS + 1];
    int seen[MAX_OPTIONS] = {0};
    size_t n = resolve(cmd, opts), i;
    getopt_tables(opts, n, longs, shorts);
    int key;
    while ((key = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        for (i = 0; i < n && opts[i].key != key; i++)
            ;
        if (i == n) {
            suggest_option(cmd, opts, n, argv[optind - 1]);
            return 2; /* getopt_long has said what is wrong */
        }
        if (key == CLI_HELP) {
            cli_help(cmd, stdout);
            return 0;
        }
        seen[i] = 1;
        if (handle(cmd, &opts[i], optarg, c, ctx) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            return 2;
        }
    }
    int operands = argc - optind;
    int ok = cmd->operands == CLI_NO_OPERANDS   ? operands == 0
             : cmd->operands == CLI_ONE_OPERAND ? operands == 1
                                                : operands >= 1;
    for (i = 0; i < n; i++)
        ok &= seen[i] || !opts[i].required;
    if (ok)
        return PARSED;
    cli_help(cmd, stderr);
    return 2;
}

int cli_main(const cli_command *cmd, int argc, char **argv, void *ctx)
{
    cli_common c = {
        .type = cmd->type, .shard_n = 1, .part_size = cmd->part_size, .threads = -1, .ensemble = cmd->ensemble};
    if (c.type && c.type->create(&c.opts) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    if (c.type)
        c.models[c.n_models++].opts = c.opts;
    int rc = parse(cmd, argc, argv, &c, ctx);
    if (rc == PARSED)
        rc = cmd->run(argv + optind, argc - optind, &c, ctx);
    /* Subcommands without an options object (probe, finetune) still record their --model. */
    for (size_t i = 0; c.type && i < c.n_models; i++)
        c.type->destroy(c.models[i].opts);
    return rc;
}

/* ---- The two kinds of options object ---- */

static feat_status image_option(const cli_option *opt, const char *val, cli_common *c)
{
    feat_image_options *o = c->opts;
    switch (opt->key) {
    case CLI_PRESET: return feat_image_options_set_preset(o, (feat_image_preset)cli_choice(opt, val));
    case CLI_RESIZE: return feat_image_options_set_resize(o, (uint32_t)cli_ulong(opt, val, 65535));
    case CLI_CROP:
        c->crop = (uint32_t)cli_ulong(opt, val, 65535);
        return feat_image_options_set_crop(o, c->crop, c->crop);
    case CLI_INTERPOLATION: return feat_image_options_set_interpolation(o, (feat_interpolation)cli_choice(opt, val));
    case CLI_EXIF: return feat_image_options_set_exif_orientation(o, 1);
    case CLI_FAST: return feat_image_options_set_decode_mode(o, FEAT_DECODE_FAST);
    case CLI_DECODE_THREADS:
        c->decode_threads = 1;
        return feat_image_options_set_decode_threads(o, count_value(opt, val, 1024));
    default: abort(); /* not an image option */
    }
}

static feat_status text_option(const cli_option *opt, const char *val, cli_common *c)
{
    (void)val;
    feat_text_options *o = c->opts;
    switch (opt->key) {
    case CLI_CASED: {
        feat_status st = feat_text_options_set_lowercase(o, FEAT_TRISTATE_OFF);
        return st == FEAT_OK ? feat_text_options_set_strip_accents(o, FEAT_TRISTATE_OFF) : st;
    }
    case CLI_REPLACE_INVALID: return feat_text_options_set_utf8_policy(o, FEAT_UTF8_REPLACE);
    default: abort(); /* not a text option */
    }
}

/* Defines `const cli_options_type NAME` for the options object TYPE (TYPE_new, TYPE_free,
 * TYPE_set_taps, ...) with OPTION, its handler of the shared options of its kind. */
/* clang-format off */
#define OPTIONS_TYPE(NAME, TYPE, OPTION)                                                                   \
    static feat_status NAME##_new(void **o)                                                                 \
    {                                                                                                       \
        TYPE *t = NULL;                                                                                     \
        feat_status st = TYPE##_new(&t);                                                                    \
        *o = t;                                                                                             \
        return st;                                                                                          \
    }                                                                                                       \
    static void NAME##_free(void *o) { TYPE##_free(o); }                                                    \
    static feat_status NAME##_taps(void *o, const char *v) { return TYPE##_set_taps(o, v); }                \
    static feat_status NAME##_fusion(void *o, feat_fusion v) { return TYPE##_set_fusion(o, v); }            \
    static feat_status NAME##_batch(void *o, uint32_t v) { return TYPE##_set_batch_size(o, v); }            \
    static feat_status NAME##_device(void *o, const char *v) { return TYPE##_set_device(o, v); }            \
    static feat_status NAME##_precision(void *o, feat_precision v) { return TYPE##_set_precision(o, v); }   \
    const cli_options_type NAME = {NAME##_new,    NAME##_free,   NAME##_taps,      NAME##_fusion,            \
                                   NAME##_batch,  NAME##_device, NAME##_precision, OPTION}
/* clang-format on */

OPTIONS_TYPE(cli_image_options, feat_image_options, image_option);
OPTIONS_TYPE(cli_text_options, feat_text_options, text_option);
