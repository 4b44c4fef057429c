/* SPDX-License-Identifier: MIT */
/* feat probe: which tap of a model suits a labelled task (docs/adapting.md). The features
 * are extracted durably (run.c) into the report's stem, then lib/probe scores every tap. */
#include "cli.h"
#include "probe/probe.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PART_SIZE 64
#define SPEC_MAX 16384
#define BAR_WIDTH 30

enum {
    OPT_DATA = CLI_OWN,
    OPT_FEATURES,
    OPT_LABELS,
    OPT_COLUMNS,
    OPT_TAPS,
    OPT_FOLDS,
    OPT_SEED,
    OPT_MAX_FUSED,
    OPT_PREDICTIONS,
    OPT_BATCH,
    OPT_DEVICE
};

static const cli_option options[] = {
    CLI_SHARED(CLI_MODEL, "TorchScript model whose taps are probed (with --data)"),
    CLI_VALUE("data", OPT_DATA, "DIR|TSV", "images: a folder with one subfolder per class; text: label<TAB>text lines"),
    CLI_VALUE("features", OPT_FEATURES, "X.npy", "probe saved features instead of a model (with --labels)"),
    CLI_VALUE("labels", OPT_LABELS, "L.tsv", "row<TAB>label for every row of X.npy"),
    CLI_VALUE("columns", OPT_COLUMNS, "C.tsv", "the taps' columns of X.npy (default X.columns.tsv)"),
    CLI_VALUE("taps", OPT_TAPS, "SPEC",
              "candidate taps (default: every child of the model's repeated blocks; with --features: the column "
              "map's names)"),
    CLI_VALUE("folds", OPT_FOLDS, "K", "stratified cross-validation folds (default 5)"),
    CLI_VALUE("seed", OPT_SEED, "N", "seed of the fold assignment (default 0)"),
    CLI_VALUE("max-fused", OPT_MAX_FUSED, "N", "most taps in a fused set (default: all; 1: no fusion)"),
    CLI_SWITCH("predictions", OPT_PREDICTIONS, "also write every row's fold and predictions into the report"),
    CLI_VALUE("batch-size", OPT_BATCH, "N", "inputs per forward pass"),
    CLI_VALUE("device", OPT_DEVICE, "D", "cpu or cuda:N"),
    CLI_SHARED(CLI_THREADS, NULL),
    CLI_SHARED(CLI_RESUME, "go on from the parts of an interrupted extraction (REPORT.parts/)"),
    CLI_SHARED(CLI_PART_SIZE, "inputs per durable part (default " CLI_STR(PART_SIZE) ")"),
    CLI_REQUIRED_AS(CLI_OUTPUT, "REPORT.json",
                    "the report; with --model also REPORT.npy, .rows.tsv, .columns.tsv, .labels.tsv"),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

typedef struct probe_args {
    const char *data, *features, *labels, *columns, *taps, *device;
    uint32_t folds, batch;
    uint64_t seed;
    size_t max_fused;
    int predictions;
} probe_args;

static feat_status probe_option(const cli_option *opt, const char *val, cli_common *c, void *ctx)
{
    probe_args *a = ctx;
    (void)c;
    switch (opt->key) {
    case OPT_DATA: a->data = val; break;
    case OPT_FEATURES: a->features = val; break;
    case OPT_LABELS: a->labels = val; break;
    case OPT_COLUMNS: a->columns = val; break;
    case OPT_TAPS: a->taps = val; break;
    case OPT_FOLDS: a->folds = (uint32_t)cli_ulong(opt, val, FEAT_PROBE_FOLDS_MAX); break;
    case OPT_SEED: a->seed = cli_ulong(opt, val, 0xFFFFFFFFul); break;
    case OPT_MAX_FUSED: a->max_fused = cli_ulong(opt, val, FEAT_PROBE_BLOCKS_MAX); break;
    case OPT_PREDICTIONS: a->predictions = 1; break;
    case OPT_BATCH: a->batch = (uint32_t)cli_ulong(opt, val, 4096); break;
    case OPT_DEVICE: a->device = val; break;
    default: abort(); /* a row of the table without a case here */
    }
    return FEAT_OK;
}

/* ---- inputs and their labels --------------------------------------------------------------- */

/* ---- the model's features -------------------------------------------------------------------- */

/* The default candidates (docs/adapting.md) from the model's layer list into spec. */
static int default_taps(const char *model, char *spec, size_t cap)
{
    feat_layer_list *l;
    if (feat_layers_list(model, 0, &l) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return -1;
    }
    size_t n = feat_layer_list_len(l);
    feat_probe_module *m = malloc((n ? n : 1) * sizeof *m);
    feat_error e = {0};
    feat_status st = m ? FEAT_OK : feat_error_set(&e, FEAT_E_NOMEM, "out of memory");
    for (size_t i = 0; m && i < n; i++) {
        int64_t dims[8];
        m[i].path = feat_layer_list_path(l, i);
        m[i].rank = feat_layer_list_shape(l, i, dims, 8);
    }
    if (st == FEAT_OK)
        st = feat_probe_default_taps(m, n, spec, cap, &e);
    if (st != FEAT_OK)
        fprintf(stderr, "feat: %s: %s\n", model, e.msg);
    else
        fprintf(stderr, "feat: probe: default candidate taps: %s\n", spec);
    free(m);
    feat_layer_list_free(l);
    return st == FEAT_OK ? 0 : -1;
}

typedef struct model_job {
    int text;
    feat_image_extractor *ie;
    feat_text_extractor *te;
    strlist inputs, labels, names; /* names: the rows table's name of each input */
} model_job;

/* The options object of the job's kind with the taps, batch size and device. */
static void *make_options(const model_job *j, const probe_args *a, const char *spec)
{
    const cli_options_type *t = j->text ? &cli_text_options : &cli_image_options;
    void *o = NULL;
    feat_status st = t->create(&o);
    if (st == FEAT_OK)
        st = t->taps(o, spec);
    if (st == FEAT_OK && a->batch)
        st = t->batch_size(o, a->batch);
    if (st == FEAT_OK && a->device)
        st = t->device(o, a->device);
    if (st != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        if (o)
            t->destroy(o);
        return NULL;
    }
    return o;
}

/* Loads the model with the candidate taps; returns -1 after saying why. */
static int load_model(model_job *j, const char *model, const probe_args *a, const char *spec)
{
    void *o = make_options(j, a, spec);
    if (!o)
        return -1;
    feat_status st = j->text ? feat_text_extractor_new(&j->te) : feat_image_extractor_new(&j->ie);
    if (st == FEAT_OK)
        st = j->text ? feat_text_extractor_load(j->te, model, NULL, o) : feat_image_extractor_load(j->ie, model, o);
    if (st != FEAT_OK)
        fprintf(stderr, "feat: %s\n",
                j->te   ? feat_text_extractor_last_error(j->te)
                : j->ie ? feat_image_extractor_last_error(j->ie)
                        : feat_last_error());
    (j->text ? &cli_text_options : &cli_image_options)->destroy(o);
    return st == FEAT_OK ? 0 : -1;
}

static feat_result *extract(void *ctx, size_t first, size_t n)
{
    model_job *j = ctx;
    feat_result *r;
    const char *const *in = (const char *const *)j->inputs.v + first;
    feat_status st = j->text ? feat_text_extractor_extract(j->te, in, NULL, n, &r)
                             : feat_image_extractor_extract_files(j->ie, in, n, &r);
    if (st == FEAT_OK)
        return r;
    fprintf(stderr, "feat: %s\n",
            j->text ? feat_text_extractor_last_error(j->te) : feat_image_extractor_last_error(j->ie));
    return NULL;
}

/* One block per tap of the loaded model, in spec order: the column map. */
static int model_blocks(const model_job *j, feat_probe_block *b, size_t *n)
{
    size_t taps = j->text ? feat_text_extractor_n_taps(j->te) : feat_image_extractor_n_taps(j->ie), first = 0;
    if (taps > FEAT_PROBE_BLOCKS_MAX)
        return -1;
    for (size_t i = 0; i < taps; i++) {
        const char *name = j->text ? feat_text_extractor_tap(j->te, i) : feat_image_extractor_tap(j->ie, i);
        b[i].count = j->text ? feat_text_extractor_tap_dim(j->te, i) : feat_image_extractor_tap_dim(j->ie, i);
        b[i].first = first;
        first += b[i].count;
        if (!name || strlen(name) >= sizeof b[i].name || b[i].count == 0)
            return -1;
        strcpy(b[i].name, name);
    }
    *n = taps;
    /* The blocks are the row only when the taps are concatenated (the default fusion). */
    return first == (j->text ? feat_text_extractor_dim(j->te) : feat_image_extractor_dim(j->ie)) ? 0 : -1;
}

static int write_labels(const char *path, const strlist *labels)
{
    FILE *f = fopen(path, "w");
    int bad = !f || fprintf(f, "row\tlabel\n") < 0;
    for (size_t i = 0; !bad && i < labels->n; i++)
        bad = fprintf(f, "%zu\t%s\n", i, labels->v[i]) < 0;
    if (f)
        bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "feat: cannot write the label table '%s'\n", path);
    return bad ? -1 : 0;
}

typedef struct stem_paths {
    char npy[4096], labels[4096], columns[4096];
} stem_paths;

/* REPORT.json -> REPORT.npy, REPORT.labels.tsv, REPORT.columns.tsv. */
static int make_stem(const char *report, stem_paths *p)
{
    size_t n = strlen(report);
    if (n > 5 && strcmp(report + n - 5, ".json") == 0)
        n -= 5;
    int w = snprintf(p->npy, sizeof p->npy, "%.*s.npy", (int)n, report);
    w |= snprintf(p->labels, sizeof p->labels, "%.*s.labels.tsv", (int)n, report);
    w |= snprintf(p->columns, sizeof p->columns, "%.*s.columns.tsv", (int)n, report);
    if (n + 16 >= sizeof p->npy || w < 0) {
        fprintf(stderr, "feat: the report path '%s' is too long\n", report);
        return -1;
    }
    return 0;
}

/* The inputs and labels of --data, the model and its candidate taps, the column map. */
static int prepare(model_job *j, const probe_args *a, const cli_common *c, const stem_paths *p, size_t *dim)
{
    struct stat st;
    j->text = !(stat(a->data, &st) == 0 && S_ISDIR(st.st_mode));
    if (j->text ? cli_read_labelled_tsv(a->data, &j->inputs, &j->labels, &j->names)
                : cli_list_class_images(a->data, &j->inputs, &j->labels))
        return -1;
    char *spec = a->taps ? NULL : malloc(SPEC_MAX);
    int rc = !a->taps && (!spec || default_taps(c->model, spec, SPEC_MAX)) ? -1 : 0;
    if (!rc)
        rc = load_model(j, c->model, a, a->taps ? a->taps : spec);
    free(spec);
    feat_probe_block *blocks = rc ? NULL : calloc(FEAT_PROBE_BLOCKS_MAX, sizeof *blocks);
    size_t n = 0;
    if (!rc && (!blocks || model_blocks(j, blocks, &n))) {
        fprintf(stderr, "feat: the model's taps do not make a column map (more than %d taps, or not concatenated)\n",
                FEAT_PROBE_BLOCKS_MAX);
        rc = -1;
    }
    free(blocks);
    if (!rc)
        rc = write_labels(p->labels, &j->labels);
    *dim = rc ? 0 : j->text ? feat_text_extractor_dim(j->te) : feat_image_extractor_dim(j->ie);
    return rc;
}

/* Extracts every input's taps durably into p->npy; returns the exit status (130: interrupted). */
static int extract_features(const probe_args *a, const cli_common *c, const stem_paths *p)
{
    model_job j = {0};
    size_t dim = 0;
    cli_columns columns = {0};
    int rc = prepare(&j, a, c, p, &dim) ? 1 : 0;
    /* The column map is the one feat image and feat text write, REPORT.columns.tsv at the join. */
    if (!rc &&
        (j.text ? cli_columns_add_text(&columns, c->model, j.te) : cli_columns_add_image(&columns, c->model, j.ie)))
        rc = 1;
    if (!rc) {
        cli_job job = {j.text ? "line" : "image",
                       j.text ? "lines" : "images",
                       j.text,
                       j.text ? j.names.v : j.inputs.v,
                       j.inputs.n,
                       dim,
                       extract,
                       &j,
                       &columns,
                       NULL,
                       !j.text};
        cli_common cc = *c;
        cc.output = p->npy;
        cc.shard_i = 0, cc.shard_n = 1;
        rc = cli_run(&job, &cc);
    }
    cli_columns_free(&columns);
    feat_text_extractor_free(j.te);
    feat_image_extractor_free(j.ie);
    strlist_free(&j.inputs);
    strlist_free(&j.labels);
    strlist_free(&j.names);
    return rc;
}

/* ---- the probe and its report ---------------------------------------------------------------- */

static void on_progress(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "feat: probe: %s\n", msg);
}

static void table_row(const char *mark, const char *name, int width, const feat_probe_eval *ev)
{
    int bar = (int)(ev->mean * BAR_WIDTH + 0.5);
    printf("%s %-*s %6zu  %.4f +/- %.4f  |%.*s%*s|\n", mark, width, name, ev->cols, ev->mean, ev->std, bar,
           "##############################", BAR_WIDTH - bar, "");
}

/* A bar per tap in spec (depth) order, then the fused sets the selection kept, then the winner. */
static void print_table(const feat_probe_report *rep, const feat_probe_block *blocks, size_t n_blocks)
{
    int width = 3;
    char spec[SPEC_MAX];
    for (size_t i = 0; i < n_blocks; i++)
        width = strlen(blocks[i].name) > (size_t)width ? (int)strlen(blocks[i].name) : width;
    for (size_t i = 0; i < rep->n_fused; i++)
        if (rep->fused[i].accepted && feat_probe_eval_spec(&rep->fused[i], blocks, spec, sizeof spec, NULL) == FEAT_OK)
            width = strlen(spec) > (size_t)width ? (int)strlen(spec) : width;
    width = width > 64 ? 64 : width;
    printf("probe: %zu rows (%zu excluded as failed), %zu classes, %u folds, seed %llu\n", rep->rows, rep->n_excluded,
           rep->n_classes, rep->folds, (unsigned long long)rep->seed);
    printf("  %-*s %6s  %-17s  accuracy\n", width, "tap", "cols", "mean +/- std");
    for (size_t i = 0; i < rep->n_taps; i++)
        table_row(&rep->taps[i] == rep->best_tap ? "*" : " ", blocks[i].name, width, &rep->taps[i]);
    for (size_t i = 0; i < rep->n_fused; i++) {
        if (!rep->fused[i].accepted || feat_probe_eval_spec(&rep->fused[i], blocks, spec, sizeof spec, NULL))
            continue;
        table_row(&rep->fused[i] == rep->winner ? "*" : "+", spec, width, &rep->fused[i]);
    }
    printf("  (%zu fused sets scored by greedy forward selection; * best tap and winner, + kept)\n", rep->n_fused);
    if (feat_probe_eval_spec(rep->winner, blocks, spec, sizeof spec, NULL) == FEAT_OK)
        printf("winner: %.4f +/- %.4f  --taps '%s'\n", rep->winner->mean, rep->winner->std, spec);
}

/* Loads a saved matrix, its labels and column map; probes; prints and writes the report. */
static int probe_features(const char *npy, const char *labels_path, const char *columns, const char *select,
                          const probe_args *a, const char *report, const char *const *source, size_t n_source)
{
    float *x = NULL;
    size_t rows = 0, cols = 0, n_blocks = 0;
    feat_probe_block *blocks = NULL;
    feat_probe_labels labels = {0};
    feat_probe_report rep = {0};
    feat_error e = {0};
    feat_probe_config cfg = {.folds = a->folds, .seed = a->seed, .max_fused = a->max_fused, .progress = on_progress};
    feat_status st = feat_probe_matrix_read(npy, &x, &rows, &cols, &e);
    if (st == FEAT_OK)
        st = feat_probe_labels_read(labels_path, rows, &labels, &e);
    if (st == FEAT_OK)
        st = feat_probe_columns_read(columns, cols, &blocks, &n_blocks, &e);
    if (st == FEAT_OK)
        st = feat_probe_blocks_select(blocks, &n_blocks, select, &e);
    if (st == FEAT_OK)
        st = feat_probe_run(x, rows, cols, &labels, blocks, n_blocks, &cfg, &rep, &e);
    if (st == FEAT_OK)
        st = feat_probe_report_write_json(report, &rep, blocks, &labels, source, n_source, a->predictions, &e);
    if (st == FEAT_OK) {
        print_table(&rep, blocks, n_blocks);
        fprintf(stderr, "feat: wrote %s\n", report);
    } else {
        fprintf(stderr, "feat: %s\n", e.msg);
    }
    feat_probe_report_free(&rep);
    feat_probe_labels_free(&labels);
    free(blocks);
    free(x);
    return st == FEAT_OK ? 0 : 1;
}

/* --features X.npy: the column map defaults to X.columns.tsv. */
static int run_saved(const probe_args *a, const cli_common *c)
{
    char columns[4096];
    size_t n = strlen(a->features);
    if (a->columns)
        snprintf(columns, sizeof columns, "%s", a->columns);
    else if (snprintf(columns, sizeof columns, "%.*s.columns.tsv",
                      (int)(n > 4 && strcmp(a->features + n - 4, ".npy") == 0 ? n - 4 : n),
                      a->features) >= (int)sizeof columns) {
        fprintf(stderr, "feat: the path '%s' is too long\n", a->features);
        return 1;
    }
    const char *source[] = {"features", a->features, "labels", a->labels, "columns", columns};
    return probe_features(a->features, a->labels, columns, a->taps, a, c->output, source, 3);
}

static int run(char **operands, int n, cli_common *c, void *ctx)
{
    (void)operands, (void)n;
    const probe_args *a = ctx;
    int model = c->model || a->data, saved = a->features || a->labels || a->columns;
    if (model == saved || (model && !(c->model && a->data)) || (saved && !(a->features && a->labels))) {
        fprintf(stderr, "feat: probe takes either --model M --data DIR|TSV or --features X.npy --labels L.tsv "
                        "(see feat probe --help)\n");
        return 2;
    }
    if (cli_start(c))
        return 1;
    if (saved)
        return run_saved(a, c);
    stem_paths p;
    if (make_stem(c->output, &p))
        return 1;
    int rc = extract_features(a, c, &p);
    if (rc)
        return rc;
    const char *source[] = {"model", c->model, "data", a->data, "features", p.npy};
    return probe_features(p.npy, p.labels, p.columns, NULL, a, c->output, source, 3);
}

static const cli_command command = {
    .usage = "probe (--model M --data DIR|TSV | --features X.npy --labels L) -o REPORT",
    .about = "Which tap of a model suits a labelled task: for every candidate tap, and for fused sets\n"
             "found by greedy forward selection, the stratified k-fold accuracy of L2-regularised\n"
             "logistic regression (LIBLINEAR) on standardised features. Prints a table and the winning\n"
             "--taps spec; writes REPORT.json (docs/adapting.md). With --model, the features are\n"
             "extracted durably into REPORT.npy (with .rows.tsv, .columns.tsv, .labels.tsv):\n"
             "--resume goes on after an interruption, and --features REPORT.npy --labels\n"
             "REPORT.labels.tsv probes them again without the model. Inputs that fail are excluded\n"
             "and counted.\n",
    .options = options,
    .operands = CLI_NO_OPERANDS,
    .part_size = PART_SIZE,
    .own = probe_option,
    .run = run};

int cmd_probe(int argc, char **argv)
{
    probe_args a = {0};
    return cli_main(&command, argc, argv, &a);
}
