/* SPDX-License-Identifier: MIT */
/* feat image: features of image files and directories, written durably (run.c). */
#include "cli.h"

#define PART_SIZE 64

static const cli_option options[] = {
    CLI_REQUIRED(CLI_MODEL, "TorchScript model; repeat for an ensemble (rows side by side), each --model "
                            "followed by its own --taps, --fusion, preprocessing, --batch-size, --device, --precision"),
    CLI_SHARED(CLI_TAPS, "e.g. 'features.29:gap,features.22:gmp' (default: the model's)"),
    CLI_SHARED(CLI_FUSION, NULL),
    CLI_IMAGE_PREPROCESSING,
    CLI_SHARED(CLI_BATCH_SIZE, "images per forward pass (default 1)"),
    CLI_SHARED(CLI_THREADS, NULL),
    CLI_SHARED(CLI_DECODE_THREADS, "threads that decode images ahead of inference (default 1; one model only: an "
                                   "ensemble decodes on its --threads)"),
    CLI_SHARED(CLI_DEVICE, NULL),
    CLI_SHARED(CLI_PRECISION, NULL),
    CLI_SHARED(CLI_SHARD, NULL),
    CLI_SHARED(CLI_APPEND, "join FILE's numeric columns to each row, keyed by a 'path' column (the input path as "
                           "in OUT.rows.tsv)"),
    CLI_SHARED(CLI_RESUME, NULL),
    CLI_SHARED(CLI_PART_SIZE, "images per durable part written to OUT.parts/ (default " CLI_STR(PART_SIZE) ")"),
    CLI_REQUIRED(CLI_OUTPUT, "where the rows go (and OUT.rows.tsv, their table); '-': a .npy to standard output"),
    CLI_SHARED(CLI_ROWS, NULL),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

/* The files of this shard, directories walked; problems with the walk are reported. */
static int list_inputs(char **args, int n, const cli_common *c, strlist *files)
{
    strlist all = {0}, errors = {0};
    int rc = walk_inputs(args, n, &all, &errors);
    for (size_t i = 0; i < errors.n; i++)
        fprintf(stderr, "feat: %s\n", errors.v[i]);
    strlist_free(&errors);
    if (rc || strlist_take_shard(&all, c->shard_i, c->shard_n, files)) {
        fprintf(stderr, "feat: out of memory listing inputs\n");
        strlist_free(&all);
        return -1;
    }
    return 0;
}

/* The loaded extractor, or NULL after saying why. */
static feat_image_extractor *load(const char *model, const feat_image_options *o)
{
    feat_image_extractor *ex;
    if (feat_image_extractor_new(&ex) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return NULL;
    }
    if (feat_image_extractor_load(ex, model, o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_image_extractor_last_error(ex));
        feat_image_extractor_free(ex);
        return NULL;
    }
    return ex;
}

typedef struct image_job {
    feat_image_extractor *ex[CLI_MAX_MODELS];
    feat_image_ensemble *ens; /* with several models */
    strlist files;
    cli_columns columns;
    cli_append *append;
} image_job;

static feat_result *extract(void *ctx, size_t first, size_t n)
{
    image_job *j = ctx;
    feat_result *r;
    const char *const *paths = (const char *const *)j->files.v + first;
    if (j->ens ? feat_image_ensemble_extract_files(j->ens, paths, n, &r) == FEAT_OK
               : feat_image_extractor_extract_files(j->ex[0], paths, n, &r) == FEAT_OK)
        return r;
    fprintf(stderr, "feat: %s\n",
            j->ens ? feat_image_ensemble_last_error(j->ens) : feat_image_extractor_last_error(j->ex[0]));
    return NULL;
}

/* Loads every --model with its options into j, side by side in an ensemble when there are
 * several, and makes the column map; returns -1 after saying why. */
static int load_models(image_job *j, const cli_common *c)
{
    for (size_t i = 0; i < c->n_models; i++)
        if (!(j->ex[i] = load(c->models[i].path, c->models[i].opts)) ||
            cli_columns_add_image(&j->columns, c->models[i].path, j->ex[i]))
            return -1;
    if (c->n_models > 1 && feat_image_ensemble_new(&j->ens) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return -1;
    }
    for (size_t i = 0; j->ens && i < c->n_models; i++)
        if (feat_image_ensemble_add(j->ens, j->ex[i], c->models[i].path) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_image_ensemble_last_error(j->ens));
            return -1;
        }
    return cli_append_columns(j->append, &j->columns);
}

/* Lists the inputs, reads the --append tables, loads the models and runs; returns the exit
 * status. */
static int run(char **inputs, int n, cli_common *c, void *unused)
{
    (void)unused;
    if (c->decode_threads && c->n_models > 1) {
        fprintf(stderr, "feat: --decode-threads is for one model; an ensemble decodes each round of images on "
                        "its inference threads (--threads)\n");
        return 2;
    }
    image_job j = {0};
    int rc = 1;
    if (!cli_start(c) && !list_inputs(inputs, n, c, &j.files) &&
        !(c->n_append && !(j.append = cli_append_load(c->append, c->n_append, "path", j.files.v, j.files.n))) &&
        !load_models(&j, c)) {
        cli_job job = {"image", "images", 0, j.files.v, j.files.n, j.columns.dim, extract, &j, &j.columns, j.append, 1};
        rc = cli_run(&job, c);
    }
    feat_image_ensemble_free(j.ens);
    for (size_t i = 0; i < c->n_models; i++)
        feat_image_extractor_free(j.ex[i]);
    cli_columns_free(&j.columns);
    cli_append_free(j.append);
    strlist_free(&j.files);
    return rc;
}

static const cli_command command = {
    .usage = "image --model M [options] -o OUT.npy FILES_OR_DIRS...",
    .about = "Writes OUT.npy (float32, one row per input; NaN rows for inputs that failed) and\n"
             "OUT.rows.tsv (row, status, input path, error message). Directories are walked\n"
             "recursively in byte order, taking .jpg/.jpeg/.png (and other image extensions, which\n"
             "then fail as unsupported). OUT.columns.tsv says which columns came from which model,\n"
             "tap and --append table. Exit status 1 only when no input could be processed.\n",
    .options = options,
    .operands = CLI_SOME_OPERANDS,
    .type = &cli_image_options,
    .part_size = PART_SIZE,
    .ensemble = 1,
    .run = run};

int cmd_image(int argc, char **argv) { return cli_main(&command, argc, argv, NULL); }
