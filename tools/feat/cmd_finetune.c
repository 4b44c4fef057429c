/* SPDX-License-Identifier: MIT */
/* feat finetune: train the last blocks of a model and a linear head on a labelled task
 * (feat/finetune.h, docs/adapting.md "Fine-tuning"). The data is read as `feat probe` reads
 * it (tools/feat/labelled.c); classes are numbered in byte order of their names. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
    OPT_DATA = CLI_OWN,
    OPT_TRAIN,
    OPT_HEAD,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_LR,
    OPT_SCHEDULE,
    OPT_WD,
    OPT_SEED,
    OPT_VALIDATION,
    OPT_PATIENCE,
    OPT_DROPOUT,
    OPT_CACHE
};

static const char *const schedules[] = {"constant", "cosine", NULL};
static const char *const caches[] = {"auto", "off", "on", NULL};

static const cli_option options[] = {
    CLI_SHARED(CLI_MODEL, "TorchScript model to fine-tune"),
    CLI_VALUE("data", OPT_DATA, "DIR|TSV", "images: a folder with one subfolder per class; text: label<TAB>text lines"),
    CLI_VALUE("train", OPT_TRAIN, "PATHS", "modules to train, in the tap grammar (default: the model's last block)"),
    CLI_VALUE("head-tap", OPT_HEAD, "TAP", "the head's input, path:pool (default: the model's last default tap)"),
    CLI_VALUE("epochs", OPT_EPOCHS, "N", "passes over the training items (default 3)"),
    CLI_VALUE("batch-size", OPT_BATCH, "N", "items per step (default 16)"),
    CLI_VALUE("lr", OPT_LR, "X", "AdamW learning rate (default 1e-3)"),
    CLI_CHOICE("schedule", OPT_SCHEDULE, schedules, "learning-rate schedule (default constant)"),
    CLI_VALUE("weight-decay", OPT_WD, "X", "AdamW weight decay (default 1e-2; 0: none)"),
    CLI_VALUE("seed", OPT_SEED, "N", "seed of the head, the epoch order and the dropout (default 0)"),
    CLI_VALUE("validation", OPT_VALIDATION, "F", "fraction of each class held out to choose the epoch (default 0)"),
    CLI_VALUE("patience", OPT_PATIENCE, "N", "stop after N epochs without a better validation accuracy"),
    CLI_VALUE("dropout", OPT_DROPOUT, "P", "dropout before the head (default 0)"),
    CLI_CHOICE("cache", OPT_CACHE, caches, "cache the untrained layers' activations (default auto: when exact)"),
    CLI_SHARED(CLI_THREADS, NULL),
    CLI_SHARED(CLI_RESUME, "go on from the checkpoint of an interrupted run (TUNED.pt.ckpt, written every epoch)"),
    CLI_REQUIRED_AS(CLI_OUTPUT, "TUNED.pt", "the tuned model (and TUNED.json, TUNED.classes.txt)"),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

typedef struct ft_args {
    const char *data;
    feat_finetune_options *o;
    uint32_t epochs;
    uint64_t per_epoch;
    double first; /* seconds to the end of the first step */
    struct timespec t0;
} ft_args;

static double real_value(const cli_option *opt, const char *val)
{
    char *end;
    double v = val ? strtod(val, &end) : NAN;
    if (!val || end == val || *end || !isfinite(v)) {
        fprintf(stderr, "feat: --%s expects a number, got '%s'\n", opt->name, val ? val : "");
        exit(2);
    }
    return v;
}

static feat_status ft_option(const cli_option *opt, const char *val, cli_common *c, void *ctx)
{
    ft_args *a = ctx;
    feat_finetune_options *o = a->o;
    (void)c;
    switch (opt->key) {
    case OPT_DATA: a->data = val; return FEAT_OK;
    case OPT_TRAIN: return feat_finetune_options_set_train(o, val);
    case OPT_HEAD: return feat_finetune_options_set_head_tap(o, val);
    case OPT_EPOCHS:
        a->epochs = (uint32_t)cli_ulong(opt, val, 10000);
        return feat_finetune_options_set_epochs(o, a->epochs);
    case OPT_BATCH: return feat_finetune_options_set_batch_size(o, (uint32_t)cli_ulong(opt, val, 4096));
    case OPT_LR: return feat_finetune_options_set_learning_rate(o, real_value(opt, val));
    case OPT_SCHEDULE: return feat_finetune_options_set_schedule(o, (feat_lr_schedule)cli_choice(opt, val));
    case OPT_WD: {
        double wd = real_value(opt, val);
        return feat_finetune_options_set_weight_decay(o, wd == 0 ? FEAT_WEIGHT_DECAY_NONE : wd);
    }
    case OPT_SEED: return feat_finetune_options_set_seed(o, cli_ulong(opt, val, 0xFFFFFFFFul));
    case OPT_VALIDATION: return feat_finetune_options_set_validation_fraction(o, real_value(opt, val));
    case OPT_PATIENCE: return feat_finetune_options_set_patience(o, (uint32_t)cli_ulong(opt, val, 10000));
    case OPT_DROPOUT: return feat_finetune_options_set_dropout(o, real_value(opt, val));
    case OPT_CACHE: return feat_finetune_options_set_cache(o, (feat_finetune_cache)(cli_choice(opt, val) - 1));
    default: abort(); /* a row of the table without a case here */
    }
}

/* The progress line on stderr: redrawn after every step, kept after every epoch. */
static int on_progress(void *user, uint32_t epoch, uint64_t step, double loss, double acc)
{
    ft_args *a = user;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double spent = (double)(now.tv_sec - a->t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - a->t0.tv_nsec);
    if (!isnan(acc) && epoch == 0)
        a->per_epoch = step; /* steps per epoch, known after the first */
    /* The rate from the steps after the first: the first also pays for loading, decoding and
     * the activation cache. */
    if (step == 1 && isnan(acc))
        a->first = spent;
    char left[32] = "?";
    if (a->per_epoch && step > 1)
        snprintf(left, sizeof left, "%.0f s",
                 (spent - a->first) / (double)(step - 1) * (double)(a->per_epoch * a->epochs - step));
    if (isnan(acc))
        fprintf(stderr, "\rfeat: epoch %u step %llu loss %.4f, %s left   ", epoch + 1, (unsigned long long)step, loss,
                left);
    else if (acc < 0)
        fprintf(stderr, "\rfeat: epoch %u done, mean loss %.4f, %s left   \n", epoch + 1, loss, left);
    else
        fprintf(stderr, "\rfeat: epoch %u done, mean loss %.4f, validation accuracy %.4f, %s left   \n", epoch + 1,
                loss, acc, left);
    return 0;
}

static int by_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* classes: the sorted distinct names of labels; ids[i]: the index of labels->v[i]. */
static int number_classes(const strlist *labels, strlist *classes, int32_t *ids)
{
    char **sorted = malloc((labels->n ? labels->n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, labels->v, labels->n * sizeof *sorted);
    qsort(sorted, labels->n, sizeof *sorted, by_name);
    int rc = 0;
    for (size_t i = 0; i < labels->n && !rc; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            rc = strlist_push(classes, sorted[i]);
    free(sorted);
    for (size_t i = 0; i < labels->n && !rc; i++) {
        char **hit = bsearch(&labels->v[i], classes->v, classes->n, sizeof *classes->v, by_name);
        ids[i] = (int32_t)(hit - classes->v);
    }
    return rc;
}

/* The items left out, and how the class balance changed when any were. */
static void print_left_out(const feat_finetune_report *rep, const strlist *classes, const int32_t *ids)
{
    size_t n = feat_finetune_report_n_items(rep), skipped = 0;
    for (size_t i = 0; i < n; i++)
        if (feat_finetune_report_item_status(rep, i) != FEAT_OK) {
            fprintf(stderr, "feat: left out: %s\n", feat_finetune_report_item_error(rep, i));
            skipped++;
        }
    for (size_t k = 0; skipped && k < classes->n; k++) {
        size_t all = 0, kept = 0;
        for (size_t i = 0; i < n; i++)
            if (ids[i] == (int32_t)k) {
                all++;
                kept += feat_finetune_report_item_status(rep, i) == FEAT_OK;
            }
        if (kept != all)
            fprintf(stderr, "feat: class '%s': %zu of %zu items train\n", classes->v[k], kept, all);
    }
}

static int write_classes(const char *out, const strlist *classes)
{
    char path[4096];
    size_t n = strlen(out);
    snprintf(path, sizeof path, "%.*s.classes.txt", (int)(n > 3 && !strcmp(out + n - 3, ".pt") ? n - 3 : n), out);
    FILE *f = fopen(path, "w");
    for (size_t k = 0; f && k < classes->n; k++)
        fprintf(f, "%s\n", classes->v[k]);
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "feat: cannot write '%s'\n", path);
        return 1;
    }
    return 0;
}

static int train(ft_args *a, const cli_common *c, int text, const strlist *inputs, const strlist *labels)
{
    strlist classes = {0};
    int32_t *ids = malloc((labels->n ? labels->n : 1) * sizeof *ids);
    if (!ids || number_classes(labels, &classes, ids)) {
        free(ids);
        fprintf(stderr, "feat: out of memory\n");
        return 1;
    }
    feat_finetune_report *rep = NULL;
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", c->output);
    feat_finetune_options_set_progress(a->o, on_progress, a);
    feat_finetune_options_set_checkpoint(a->o, ckpt, c->resume);
    clock_gettime(CLOCK_MONOTONIC, &a->t0);
    const char *const *v = (const char *const *)inputs->v;
    feat_status st = text ? feat_finetune_texts(c->model, v, ids, inputs->n, a->o, c->output, &rep)
                          : feat_finetune_images(c->model, v, ids, inputs->n, a->o, c->output, &rep);
    if (st != FEAT_OK)
        fprintf(stderr, "\nfeat: %s\n", feat_last_error());
    if (rep)
        print_left_out(rep, &classes, ids);
    int rc = st != FEAT_OK ? 1 : write_classes(c->output, &classes);
    if (!rc)
        printf("%s: %zu classes, epoch %u of %u kept%s\n", c->output, classes.n,
               feat_finetune_report_chosen_epoch(rep) + 1, feat_finetune_report_n_epochs(rep),
               feat_finetune_report_cached(rep) ? " (activations cached)" : "");
    feat_finetune_report_free(rep);
    strlist_free(&classes);
    free(ids);
    return rc;
}

static int run(char **operands, int n, cli_common *c, void *ctx)
{
    (void)operands, (void)n;
    ft_args *a = ctx;
    struct stat st;
    if (!c->model || !a->data) {
        fprintf(stderr, "feat: finetune takes --model M --data DIR|TSV (see feat finetune --help)\n");
        return 2;
    }
    if (cli_start(c))
        return 1;
    if (!a->epochs)
        a->epochs = 3; /* the library's default, for the time left */
    int text = stat(a->data, &st) == 0 && !S_ISDIR(st.st_mode);
    strlist inputs = {0}, labels = {0}, names = {0};
    int rc = text ? cli_read_labelled_tsv(a->data, &inputs, &labels, &names)
                  : cli_list_class_images(a->data, &inputs, &labels);
    rc = rc ? 1 : train(a, c, text, &inputs, &labels);
    strlist_free(&inputs);
    strlist_free(&labels);
    strlist_free(&names);
    return rc;
}

static const cli_command command = {
    .usage = "finetune --model M --data DIR|TSV [--train SPEC] [options] -o TUNED.pt",
    .about = "Fine-tuning: trains the chosen modules of a model (default its last block) and a\n"
             "linear head over one tap on a labelled task (AdamW, cross-entropy), with the data read\n"
             "as feat probe reads it. Writes TUNED.pt with the tuned weights and the head,\n"
             "TUNED.json (the base model's side-car with the run's record) and TUNED.classes.txt\n"
             "(class k on line k + 1). feat image / feat text load TUNED.pt like any model. Inputs\n"
             "that fail are left out and named. Every epoch ends with a checkpoint (TUNED.pt.ckpt):\n"
             "--resume after a kill ends with the same weights bit for bit as a run that was not\n"
             "interrupted (docs/adapting.md).\n",
    .options = options,
    .operands = CLI_NO_OPERANDS,
    .own = ft_option,
    .run = run};

int cmd_finetune(int argc, char **argv)
{
    ft_args a = {0};
    if (feat_finetune_options_new(&a.o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    int rc = cli_main(&command, argc, argv, &a);
    feat_finetune_options_free(a.o);
    return rc;
}
