/* SPDX-License-Identifier: MIT */
/* feat image: features of image files and directories, written durably (run.c). */
#include "cli.h"

#define PART_SIZE 64

static const cli_option options[] = {
    CLI_REQUIRED(CLI_MODEL, NULL),
    CLI_SHARED(CLI_TAPS, "e.g. 'features.29:gap,features.22:gmp' (default: the model's)"),
    CLI_SHARED(CLI_FUSION, NULL),
    CLI_IMAGE_PREPROCESSING,
    CLI_SHARED(CLI_BATCH_SIZE, "images per forward pass (default 1)"),
    CLI_SHARED(CLI_THREADS, NULL),
    CLI_SHARED(CLI_DEVICE, NULL),
    CLI_SHARED(CLI_PRECISION, NULL),
    CLI_SHARED(CLI_SHARD, NULL),
    CLI_SHARED(CLI_RESUME, NULL),
    CLI_SHARED(CLI_PART_SIZE, "images per durable part written to OUT.parts/ (default " CLI_STR(PART_SIZE) ")"),
    CLI_REQUIRED(CLI_OUTPUT, NULL),
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
    feat_image_extractor *ex;
    strlist files;
} image_job;

static feat_result *extract(void *ctx, size_t first, size_t n)
{
    image_job *j = ctx;
    feat_result *r;
    if (feat_image_extractor_extract_files(j->ex, (const char *const *)j->files.v + first, n, &r) == FEAT_OK)
        return r;
    fprintf(stderr, "feat: %s\n", feat_image_extractor_last_error(j->ex));
    return NULL;
}

/* Lists the inputs, loads the model and runs; returns the exit status. */
static int run(char **inputs, int n, cli_common *c, void *unused)
{
    (void)unused;
    image_job j = {0};
    if (cli_start(c) || list_inputs(inputs, n, c, &j.files))
        return 1;
    j.ex = load(c->model, c->opts);
    int rc = 1;
    if (j.ex) {
        cli_job job = {"image", "images", 0, j.files.v, j.files.n, feat_image_extractor_dim(j.ex), extract, &j};
        rc = cli_run(&job, c);
        feat_image_extractor_free(j.ex);
    }
    strlist_free(&j.files);
    return rc;
}

static const cli_command command = {
    .usage = "image --model M [options] -o OUT.npy FILES_OR_DIRS...",
    .about = "Writes OUT.npy (float32, one row per input; NaN rows for inputs that failed) and\n"
             "OUT.rows.tsv (row, status, input path, error message). Directories are walked\n"
             "recursively in byte order, taking .jpg/.jpeg/.png (and other image extensions, which\n"
             "then fail as unsupported). Exit status 1 only when no input could be processed.\n",
    .options = options,
    .operands = CLI_SOME_OPERANDS,
    .type = &cli_image_options,
    .part_size = PART_SIZE,
    .run = run};

int cmd_image(int argc, char **argv) { return cli_main(&command, argc, argv, NULL); }
