/* SPDX-License-Identifier: MIT */
/* feat predict: the classes a fine-tuned model (feat finetune) gives its inputs, with their
 * probabilities: the head's tap extracted as feat image / feat text extract it, then the
 * head (TUNED.head.npy) and a softmax in double precision. */
#include "cli.h"
#include "core/json.h"
#include "core/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_TOP = CLI_OWN };

static const cli_option options[] = {
    CLI_SHARED(CLI_MODEL, "a model written by feat finetune (TUNED.pt with TUNED.json, TUNED.head.npy)"),
    CLI_VALUE("top", OPT_TOP, "K", "classes per input, most probable first (default 1)"),
    CLI_SHARED(CLI_THREADS, NULL),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

typedef struct pred_args {
    size_t top;
    size_t k, dim; /* classes, the head's input length */
    float *head;   /* k rows of dim + 1 */
    strlist classes;
    char head_tap[512];
    int text;
} pred_args;

static feat_status pred_option(const cli_option *opt, const char *val, cli_common *c, void *ctx)
{
    pred_args *a = ctx;
    (void)c, (void)opt;
    a->top = cli_ulong(opt, val, 1000); /* the only own option */
    return FEAT_OK;
}

/* "dir/name" + suffix in place of a trailing ".pt" of model. */
static void beside(const char *model, const char *suffix, char *out, size_t cap)
{
    size_t n = strlen(model);
    snprintf(out, cap, "%.*s%s", (int)(n > 3 && !strcmp(model + n - 3, ".pt") ? n - 3 : n), model, suffix);
}

static int read_head(pred_args *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    feat_error e = {0};
    size_t rows = 0, cols = 0;
    int rc = !f || feat_npy_read_header(f, &rows, &cols, &e) != FEAT_OK || cols < 2 || rows < 2;
    if (!rc && !(a->head = malloc(rows * cols * sizeof *a->head)))
        rc = 1;
    if (!rc && fread(a->head, sizeof *a->head, rows * cols, f) != rows * cols)
        rc = 1;
    if (f)
        fclose(f);
    if (rc)
        fprintf(stderr, "feat: cannot read the head '%s'%s%s\n", path, e.msg[0] ? ": " : "", e.msg);
    a->k = rows, a->dim = cols - 1;
    return rc;
}

/* The side-car's finetune record: the head's tap and file; the class names beside the model. */
static int read_model(pred_args *a, const char *model)
{
    char side[4096], path[4096 + 256];
    beside(model, ".json", side, sizeof side);
    feat_json *root = NULL;
    feat_error e = {0};
    if (feat_json_parse_file(side, &root, &e) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", e.msg);
        return 1;
    }
    const feat_json *ft = feat_json_get(root, "finetune");
    const char *tap = feat_json_get_str(ft, "head_tap"), *head = feat_json_get_str(ft, "head");
    const char *input = feat_json_get_str(root, "input");
    int rc = !tap || !head || !input || strlen(tap) >= sizeof a->head_tap;
    if (rc)
        fprintf(stderr, "feat: %s has no finetune record with head_tap and head: not a model of feat finetune\n", side);
    if (!rc) {
        snprintf(a->head_tap, sizeof a->head_tap, "%s", tap);
        a->text = strcmp(input, "text") == 0;
        const char *slash = strrchr(side, '/');
        snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - side + 1) : 0, side, head);
        rc = read_head(a, path);
    }
    feat_json_free(root);
    beside(model, ".classes.txt", side, sizeof side);
    FILE *f = rc ? NULL : fopen(side, "r");
    if (f && read_lines(f, &a->classes))
        rc = 1;
    if (f)
        fclose(f);
    for (size_t i = a->classes.n; !rc && i < a->k; i++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", i);
        rc = strlist_push(&a->classes, name);
    }
    return rc;
}

/* One output line: the input's name and its top classes with their probabilities. */
static void print_row(const pred_args *a, const char *name, const float *f, double *p, size_t *order)
{
    double top = -INFINITY, sum = 0;
    for (size_t c = 0; c < a->k; c++) {
        const float *w = a->head + c * (a->dim + 1);
        double z = w[a->dim];
        for (size_t j = 0; j < a->dim; j++)
            z += (double)w[j] * (double)f[j];
        p[c] = z;
        top = z > top ? z : top;
    }
    for (size_t c = 0; c < a->k; c++)
        sum += (p[c] = exp(p[c] - top));
    for (size_t c = 0; c < a->k; c++) {
        p[c] /= sum;
        order[c] = c;
    }
    printf("%s", name);
    for (size_t r = 0; r < a->top && r < a->k; r++) {
        size_t best = r; /* selection of the r-th most probable; the first of equals wins */
        for (size_t c = r + 1; c < a->k; c++)
            if (p[order[c]] > p[order[best]])
                best = c;
        size_t t = order[r];
        order[r] = order[best], order[best] = t;
        printf("\t%s\t%.6f", a->classes.v[order[r]], p[order[r]]);
    }
    printf("\n");
}

static int print_result(const pred_args *a, feat_result *r, const strlist *names)
{
    size_t n = feat_result_n_items(r);
    double *p = malloc(a->k * sizeof *p);
    size_t *order = malloc(a->k * sizeof *order);
    int rc = !p || !order || feat_result_dim(r) != a->dim;
    if (rc)
        fprintf(stderr, "feat: the head takes %zu values, the tap gives %zu\n", a->dim, feat_result_dim(r));
    for (size_t i = 0; i < n && !rc; i++) {
        if (feat_result_item_status(r, i) != FEAT_OK)
            printf("%s\terror\t%s\n", names->v[i], feat_result_item_error(r, i));
        else
            print_row(a, names->v[i], feat_result_data(r) + i * a->dim, p, order);
    }
    free(p);
    free(order);
    return rc;
}

static feat_result *extract(const pred_args *a, const char *model, const strlist *inputs)
{
    feat_result *r = NULL;
    feat_status st;
    if (a->text) {
        feat_text_options *o = NULL;
        feat_text_extractor *ex = NULL;
        if (!(st = feat_text_options_new(&o)) && !(st = feat_text_options_set_taps(o, a->head_tap)) &&
            !(st = feat_text_extractor_new(&ex)) && (st = feat_text_extractor_load(ex, model, NULL, o)) == FEAT_OK)
            st = feat_text_extractor_extract(ex, (const char *const *)inputs->v, NULL, inputs->n, &r);
        if (st != FEAT_OK)
            fprintf(stderr, "feat: %s\n", ex ? feat_text_extractor_last_error(ex) : feat_last_error());
        feat_text_extractor_free(ex);
        feat_text_options_free(o);
        return r;
    }
    feat_image_options *o = NULL;
    feat_image_extractor *ex = NULL;
    if (!(st = feat_image_options_new(&o)) && !(st = feat_image_options_set_taps(o, a->head_tap)) &&
        !(st = feat_image_extractor_new(&ex)) && (st = feat_image_extractor_load(ex, model, o)) == FEAT_OK)
        st = feat_image_extractor_extract_files(ex, (const char *const *)inputs->v, inputs->n, &r);
    if (st != FEAT_OK)
        fprintf(stderr, "feat: %s\n", ex ? feat_image_extractor_last_error(ex) : feat_last_error());
    feat_image_extractor_free(ex);
    feat_image_options_free(o);
    return r;
}

/* Image files and folders as feat image walks them, or the lines of text files. */
static int read_inputs(const pred_args *a, char **operands, int n, strlist *inputs, strlist *names)
{
    if (!a->text) {
        strlist errors = {0};
        int rc = walk_inputs(operands, n, inputs, &errors);
        for (size_t i = 0; i < errors.n; i++)
            fprintf(stderr, "feat: %s\n", errors.v[i]);
        rc = rc || errors.n || !inputs->n;
        strlist_free(&errors);
        for (size_t i = 0; !rc && i < inputs->n; i++)
            rc = strlist_push(names, inputs->v[i]);
        return rc;
    }
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        FILE *f = fopen(operands[k], "rb");
        size_t before = inputs->n;
        rc = !f || read_lines(f, inputs);
        if (f)
            fclose(f);
        if (rc)
            fprintf(stderr, "feat: cannot read the lines of '%s'\n", operands[k]);
        for (size_t i = before; !rc && i < inputs->n; i++) {
            char name[4096 + 32];
            snprintf(name, sizeof name, "%s:%zu", operands[k], i - before + 1);
            rc = strlist_push(names, name);
        }
    }
    return rc;
}

static int run(char **operands, int n, cli_common *c, void *ctx)
{
    pred_args *a = ctx;
    if (!c->model) {
        fprintf(stderr, "feat: predict takes --model TUNED.pt (see feat predict --help)\n");
        return 2;
    }
    if (cli_start(c) || read_model(a, c->model))
        return 1;
    strlist inputs = {0}, names = {0};
    int rc = read_inputs(a, operands, n, &inputs, &names);
    feat_result *r = rc ? NULL : extract(a, c->model, &inputs);
    rc = rc || !r || print_result(a, r, &names);
    feat_result_free(r);
    strlist_free(&inputs);
    strlist_free(&names);
    return rc;
}

static const cli_command command = {
    .usage = "predict --model TUNED.pt [--top K] INPUTS...",
    .about = "The classes a model written by feat finetune gives each input (image files and\n"
             "folders, or for a text model text files, one input a line): one line per input, its\n"
             "name (the path, or FILE:LINE), then the K most probable classes and their\n"
             "probabilities (tab-separated; an input that fails gets 'error' and the message). The\n"
             "head's tap is extracted as feat image / feat text extract it; the head is\n"
             "TUNED.head.npy, the class names TUNED.classes.txt.\n",
    .options = options,
    .operands = CLI_SOME_OPERANDS,
    .own = pred_option,
    .run = run};

int cmd_predict(int argc, char **argv)
{
    pred_args a = {.top = 1};
    int rc = cli_main(&command, argc, argv, &a);
    free(a.head);
    strlist_free(&a.classes);
    return rc;
}
