/* SPDX-License-Identifier: MIT */
/* Shared pieces of the feat command-line tool. */
#ifndef FEAT_CLI_H
#define FEAT_CLI_H

#include "feat/feat.h"

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* The subcommands, in the order `feat --help` lists them: X(NAME, ARGS, SUMMARY) runs
 * int cmd_NAME(int argc, char **argv), with argv[0] the name. A new subcommand is a new
 * cmd_NAME.c (added to meson.build's list) and one row here: this list declares it, and
 * main.c's table made from it runs `feat NAME` and lists it in `feat --help`. */
/* clang-format off */
#define FEAT_COMMANDS(X)                                                                      \
    X(layers, "MODEL [--size N]", "list tappable layers with output shapes")                  \
    X(image, "--model M -o OUT.npy INPUTS...", "image features of files and directories")    \
    X(text, "--model M -o OUT.npy [< lines]", "text features, one row per input line")        \
    X(tokenize, "--vocab V [< lines]", "WordPiece ids, one line per input line")              \
    X(preprocess, "-o OUT.npy FILES...", "the preprocessed input tensors (N, 3, H, W)")       \
    X(merge, "-o OUT.npy SHARDS...", "join --shard I/N outputs in input order")               \
    X(probe, "--model M --data DIR|TSV -o REPORT.json", "which tap suits a labelled task")   \
    X(finetune, "--model M --data DIR|TSV -o TUNED.pt", "train the last blocks on a labelled task") \
    X(predict, "--model TUNED.pt INPUTS...", "top classes of a fine-tuned model's head")      \
    X(version, "", "library version and ABI")
/* clang-format on */

#define CLI_DECLARE_COMMAND(name, args, summary) int cmd_##name(int argc, char **argv);
FEAT_COMMANDS(CLI_DECLARE_COMMAND)
#undef CLI_DECLARE_COMMAND

/* A growable list of owned strings. */
typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

int strlist_push(strlist *l, const char *s);
void strlist_free(strlist *l);

/* Moves the entries i of all with i % n == index into shard (job arrays); frees all.
 * Returns -1 when out of memory. */
int strlist_take_shard(strlist *all, size_t index, size_t n, strlist *shard);

/* Labelled data (tools/feat/labelled.c). Images: one subfolder of dir per class (sorted),
 * its image files walked as walk_inputs does; labels gets the class name of each input.
 * Text: "label<TAB>text" lines; names gets what a rows table calls each row (its line number
 * and a digest). Both print their problems and return -1 on a fatal one. */
int cli_list_class_images(const char *dir, strlist *inputs, strlist *labels);
int cli_read_labelled_tsv(const char *path, strlist *texts, strlist *labels, strlist *names);

/* Expands files and directories (recursively, sorted byte-wise, symlink loops skipped) into
 * image paths. Files named explicitly are always kept; inside directories only files with
 * an image extension are taken. Problems (unreadable directory) go to errors as
 * "path\tmessage" and do not stop the walk. */
int walk_inputs(char **args, int n, strlist *files, strlist *errors);

/* Reads one line like getline, then removes its line end ("\n" or "\r\n"); returns its
 * length, or -1 at the end. */
ssize_t read_line(FILE *f, char **line, size_t *cap);

/* Reads standard input (or a file) as lines without their line ends. */
int read_lines(FILE *f, strlist *lines);

/* ---- Subcommands and their options (options.c) -------------------------------------------
 * Every subcommand is described by a cli_command: its usage, its table of cli_option, the
 * library options object it fills, and the function that runs it. The getopt_long array,
 * the short-option string, the --help text and the checks of required options and operands
 * are all made from the table, so the help cannot drift from what is parsed. Options that
 * several subcommands share are described once, in options.c's table, parsed there into a
 * cli_common, and named by key alone in a subcommand's table (CLI_SHARED), with the
 * subcommand's own help text where it needs one. */

/* What getopt_long returns for an option. A key below 128 is also the short option -KEY. */
enum cli_key {
    CLI_HELP = 'h',
    CLI_MODEL = 'm',
    CLI_OUTPUT = 'o',
    /* shared options of every kind of options object */
    CLI_TAPS = 0x100,
    CLI_FUSION,
    CLI_BATCH_SIZE,
    CLI_DEVICE,
    CLI_PRECISION,
    CLI_THREADS,
    CLI_SHARD,
    CLI_RESUME,
    CLI_PART_SIZE,
    CLI_VOCAB,
    CLI_PAIR,
    CLI_APPEND,
    CLI_ROWS,
    /* shared options of one kind (cli_options_type.option): image preprocessing ... */
    CLI_PRESET = 0x140,
    CLI_RESIZE,
    CLI_CROP,
    CLI_INTERPOLATION,
    CLI_EXIF,
    CLI_FAST,
    CLI_DECODE_THREADS,
    /* ... and text normalisation */
    CLI_CASED,
    CLI_REPLACE_INVALID,
    CLI_OWN = 0x200 /* a subcommand's own options count up from here (or are a letter not used above) */
};

typedef struct cli_option {
    const char *name;           /* long name without "--"; NULL: the shared option `key` */
    int key;                    /* enum cli_key or a subcommand's own; 0 ends a table */
    const char *arg;            /* the value's placeholder in the help; NULL: takes no value */
    const char *help;           /* NULL in a CLI_SHARED row: the shared text */
    const char *const *choices; /* NULL-terminated values of an enumerated option (parsed as
                                   1, 2, ... by cli_choice); with no arg, "A|B|C" is shown */
    int required;               /* a usage error when it is not given */
} cli_option;

/* Rows of a table: an option with a value, a switch without one, an enumerated option. */
/* clang-format off */
#define CLI_VALUE(name_, key_, arg_, help_) {.name = (name_), .key = (key_), .arg = (arg_), .help = (help_)}
#define CLI_SWITCH(name_, key_, help_) {.name = (name_), .key = (key_), .help = (help_)}
#define CLI_CHOICE(name_, key_, choices_, help_) {.name = (name_), .key = (key_), .help = (help_), .choices = (choices_)}
/* Rows naming a shared option, with this subcommand's help text (NULL: the shared one). */
#define CLI_SHARED(key_, help_) {.key = (key_), .help = (help_)}
#define CLI_REQUIRED(key_, help_) {.key = (key_), .help = (help_), .required = 1}
/* A required shared option whose value this subcommand names its own way. */
#define CLI_REQUIRED_AS(key_, arg_, help_) {.key = (key_), .arg = (arg_), .help = (help_), .required = 1}
/* clang-format on */

/* The image preprocessing options of `feat image` and `feat preprocess`, as rows of a table. */
#define CLI_IMAGE_PREPROCESSING                                                                                        \
  CLI_SHARED(CLI_PRESET, NULL), CLI_SHARED(CLI_RESIZE, NULL), CLI_SHARED(CLI_CROP, NULL),                              \
      CLI_SHARED(CLI_INTERPOLATION, NULL), CLI_SHARED(CLI_EXIF, NULL), CLI_SHARED(CLI_FAST, NULL)

/* A number as a string literal, for a default in a help text: CLI_STR(64) is "64". */
#define CLI_STR(x) CLI_STR_(x)
#define CLI_STR_(x) #x

typedef struct cli_common cli_common;

/* A kind of library options object (feat_image_options, feat_text_options): how to make and
 * free one, and the setters that the shared options call on it. */
typedef struct cli_options_type {
    feat_status (*create)(void **opts);
    void (*destroy)(void *opts);
    feat_status (*taps)(void *opts, const char *spec);
    feat_status (*fusion)(void *opts, feat_fusion fusion);
    feat_status (*batch_size)(void *opts, uint32_t n);
    feat_status (*device)(void *opts, const char *device);
    feat_status (*precision)(void *opts, feat_precision precision);
    /* the shared options of this kind alone (keys CLI_PRESET and on) */
    feat_status (*option)(const cli_option *opt, const char *val, cli_common *c);
} cli_options_type;

extern const cli_options_type cli_image_options, cli_text_options;

#define CLI_MAX_MODELS 16 /* --model given this many times at most (an ensemble) */
#define CLI_MAX_APPEND 16 /* --append tables */

/* One --model and the options that follow it (before the first --model: the first one's). */
typedef struct cli_model {
    const char *path, *vocab;
    void *opts; /* owned by cli_main */
} cli_model;

/* The settings of the shared options, and the options object they fill. */
struct cli_common {
    const cli_options_type *type;       /* NULL: the subcommand has no options object */
    void *opts;                         /* the options object of the last --model (models[n_models - 1]) */
    const char *model, *output, *vocab; /* model, vocab: the last --model's */
    const char *rows;                   /* --rows: the table's file with -o - */
    cli_model models[CLI_MAX_MODELS];
    size_t n_models; /* 1 with an options object (its path NULL until --model), else 0 */
    const char *append[CLI_MAX_APPEND];
    size_t n_append;
    size_t shard_i, shard_n; /* --shard I/N; 0/1 without */
    size_t part_size;        /* --part-size, else the subcommand's default */
    long threads;            /* -1: the library's default */
    uint32_t crop;           /* --crop; 0: the default */
    int resume, pair;
    int decode_threads; /* --decode-threads was given (for one model, not an ensemble) */
    int ensemble;       /* the subcommand's cli_command.ensemble */
};

/* Handles one of a subcommand's own options; ctx is cli_main's. Returns FEAT_OK, or a library
 * status whose feat_last_error() is then reported (exit status 2). */
typedef feat_status (*cli_handler)(const cli_option *opt, const char *val, cli_common *c, void *ctx);

typedef enum cli_operands { CLI_NO_OPERANDS, CLI_ONE_OPERAND, CLI_SOME_OPERANDS /* one or more */ } cli_operands;

typedef struct cli_command {
    const char *usage;            /* after "usage: feat ", starting with the name */
    const char *about;            /* lines ending in '\n' (may be empty) */
    const cli_option *options;    /* ends with a {0} row */
    cli_operands operands;        /* how many operands follow the options */
    const cli_options_type *type; /* the options object to make, or NULL */
    size_t part_size;             /* default --part-size */
    cli_handler own;              /* its own options: keys from CLI_OWN, or letters (NULL: none) */
    int ensemble;                 /* --model may be given several times */
    /* Runs the subcommand on its operands once the options are parsed; returns the exit status. */
    int (*run)(char **operands, int n, cli_common *c, void *ctx);
} cli_command;

/* The whole of a subcommand: makes its options object, parses argv (argv[0] is the name),
 * checks the operands and runs it; then frees the options object. Returns the exit status:
 * 0 after --help, 2 after a usage error (said on stderr), else run's. */
int cli_main(const cli_command *cmd, int argc, char **argv, void *ctx);

/* Prints the help of cmd. */
void cli_help(const cli_command *cmd, FILE *f);

/* The value of an enumerated option: 1 for its first choice, 2 for the next, ...; exits with
 * a usage error naming the choices for anything else. */
int cli_choice(const cli_option *opt, const char *val);
/* An unsigned integer value at most max; exits with a usage error when it is not one. */
unsigned long cli_ulong(const cli_option *opt, const char *val, unsigned long max);

/* ---- Durable runs of `feat image` and `feat text` (run.c) --------------------------------- */

/* After the options: catches SIGINT and SIGTERM (a run then stops after its current part)
 * and applies --threads. Returns 0, or 1 after saying why. */
int cli_start(const cli_common *c);

typedef struct cli_job {
    const char *item, *items; /* "image", "images" */
    int number_items;         /* a failed item is reported as "ITEM N: message" */
    char *const *labels;      /* the inputs as the rows table names them */
    size_t n, dim;            /* inputs, row width */
    /* Rows [first, first + n) of the inputs; NULL after saying why on stderr. */
    feat_result *(*extract)(void *ctx, size_t first, size_t n);
    void *ctx;
    const struct cli_columns *columns; /* written as OUT.columns.tsv with the output; NULL: none */
    const struct cli_append *append;   /* columns joined after the model's (dim includes them), or NULL */
    /* labels are file paths: each part keeps their size and modification time, which --resume checks */
    int files;
} cli_job;

/* Extracts all inputs of job part by part into common->output (resuming with --resume),
 * reporting each failed item and the progress, then joins the parts. Returns the exit status:
 * 0; 1 when nothing could be processed or a part could not be extracted or written; 130 when
 * interrupted (the parts stay for --resume). */
int cli_run(const cli_job *job, const cli_common *common);

/* Durable result output (tools/feat/output.c). Each batch of rows is written as a complete
 * part, OUT.parts/part-<first row>.rows.tsv then .npy, each fsynced and renamed into place,
 * so a run killed at any moment leaves only complete parts. When every input is done the
 * parts are joined into OUT.npy (float32 rows, NaN for failed items) and OUT.rows.tsv (row,
 * status, input, message): all written and synced under temporary names, then the old OUT.npy
 * removed, the table and column map renamed into place and OUT.npy last, so an OUT.npy in
 * place is always complete and its siblings are its own. Then OUT.parts is renamed
 * OUT.parts.joined and deleted, so a run killed after the join leaves either all its parts
 * (--resume joins them again) or none that resume would read. The join refuses parts that do
 * not cover every input (one removed during the run). With resume, the parts of an earlier
 * run over the same inputs (names, and with files their size and modification time) are
 * checked and kept; *first_todo says where to go on. The table's row column numbers inputs
 * in the whole, unsharded list. npy_path "-" (-o -) streams instead: the .npy to standard
 * output as the rows come (header first: n_inputs rows), the table to rows_path (NULL:
 * standard error), the column map next to it; no parts, so no resume. rows_path is for "-"
 * only. */
typedef struct out_writer out_writer;
out_writer *out_open(const char *npy_path, size_t dim, char *const *inputs, size_t n_inputs, int files, size_t shard_i,
                     size_t shard_n, int resume, const char *rows_path, size_t *first_todo);
/* The column map written at the join as OUT.columns.tsv (before OUT.npy goes into place);
 * borrowed until out_finish. */
void out_set_columns(out_writer *w, const struct cli_columns *columns);
/* Before the next part's n inputs are read: with files (out_open), notes each one's size and
 * modification time for the part's table, where --resume checks them; returns -1 when out of
 * memory. Noting them before the read means a file that changes during it fails the check. */
int out_begin_part(out_writer *w, char *const *inputs, size_t n);
/* Appends the rows of r's n items as the next part: rows (n x dim floats), or r's own data
 * when rows is NULL; statuses and messages from r. */
int out_append(out_writer *w, const feat_result *r, const float *rows, char *const *inputs, size_t n);
/* All inputs done: join the parts into the final files and count rows and failed rows
 * (earlier runs' parts included). Frees w. */
int out_finish(out_writer *w, size_t *n_rows, size_t *n_failed);
/* Stop without finishing (interrupted or failed): complete parts stay for --resume. Frees w. */
void out_suspend(out_writer *w);

/* ---- The column map, OUT.columns.tsv (columns.c; docs/adapting.md) ------------------------
 * One block per tap of each model (one for all taps under mean fusion) and one per --append
 * table, in column order. */
typedef struct cli_block {
    char *tap; /* "path:pool" (mean fusion: the taps joined by ','); append: the table's path */
    size_t first, count;
    int appended;  /* 0: a model's tap, 1: an --append table */
    char *model;   /* the model path as given; NULL for append */
    char *pooling; /* the tap's pooling(s); NULL for append */
    char *fusion;  /* "concat" or "mean"; NULL for append */
    char *names;   /* append: the value columns joined by ','; NULL for taps */
} cli_block;

typedef struct cli_columns {
    cli_block *v;
    size_t n, cap, dim;
} cli_columns;

/* The blocks of one model's row: n_taps taps named names[i] (resolved, "path:pool") of
 * tap_dims[i] columns, making a row of dim columns (concat: their sum; mean fusion: one block). */
int cli_columns_add_model(cli_columns *m, const char *model, size_t n_taps, const char *const *names,
                          const size_t *tap_dims, size_t dim);
/* The blocks of a loaded image or text extractor. */
int cli_columns_add_image(cli_columns *m, const char *model, const feat_image_extractor *ex);
int cli_columns_add_text(cli_columns *m, const char *model, const feat_text_extractor *ex);
/* The block of one --append table: its path, its value columns joined by ','. */
int cli_columns_add_append(cli_columns *m, const char *file, const char *names, size_t count);
/* Writes the map to path (path.partial, fsynced, renamed); returns -1 after saying why. */
int cli_columns_write(const cli_columns *m, const char *path);
void cli_columns_free(cli_columns *m);
/* OUT.npy -> OUT<suffix>, e.g. OUT.columns.tsv (malloc'd; NULL when out of memory). */
char *cli_sibling_path(const char *npy_path, const char *suffix);
/* a followed by b, freshly allocated (NULL when out of memory): e.g. PATH.partial. */
char *cli_concat(const char *a, const char *b);

/* Flushes, syncs and closes f, the temporary file tmp; returns 0, or the reason (an errno
 * value) after removing tmp. A failed buffered write can leave only the stream's error flag
 * behind (a later fflush of the rest may succeed), so ferror is checked as well. */
int cli_close_synced(FILE *f, const char *tmp);

/* ---- --append tables (append.c; docs/adapting.md) -----------------------------------------
 * A TSV whose header names the key column and then the value columns; each later row gives
 * one input's values. The key column is "path" for images (the input path exactly as the rows
 * table shows it) and "line" for text (the 1-based line number in the whole input). */
typedef struct cli_append cli_append;

/* Reads the tables and finds each input's row: keys[i] is input i's key. Every table problem
 * (header, ragged row, bad or non-finite value, duplicate key, an input without a row) is
 * reported here, before any model work; returns NULL after saying why on stderr. */
cli_append *cli_append_load(const char *const *paths, size_t n_paths, const char *key_name, char *const *keys,
                            size_t n_keys);
/* Values per row (all tables). */
size_t cli_append_dim(const cli_append *a);
/* Adds one block per table to m, starting at column m->dim. */
int cli_append_columns(const cli_append *a, cli_columns *m);
/* Rows of inputs first .. first + n - 1: r's row (model_dim floats) then the appended values,
 * into out (n x (model_dim + cli_append_dim) floats); a failed item's row is all NaN. */
void cli_append_rows(const cli_append *a, const feat_result *r, size_t first, size_t n, size_t model_dim, float *out);
void cli_append_free(cli_append *a);

/* Progress line on stderr at most every few seconds (only when stderr is a terminal or
 * FEAT_PROGRESS=1). */
void progress(const char *what, size_t done, size_t total, size_t failed, int final);

/* Says on stderr which OPENBLAS_CORETYPE to set when OpenBLAS fell back to its generic
 * kernels on a CPU it does not know (blas_core.c). */
void cli_check_blas_core(void);

#endif
