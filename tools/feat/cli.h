/* Shared pieces of the feat command-line tool. */
#ifndef FEAT_CLI_H
#define FEAT_CLI_H

#include "feat/feat.h"

#include <stddef.h>
#include <stdio.h>

/* A growable list of owned strings. */
typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

int strlist_push(strlist *l, const char *s);
void strlist_free(strlist *l);

/* Expands files and directories (recursively, sorted byte-wise, symlink loops skipped) into
 * image paths. Files named explicitly are always kept; inside directories only files with
 * an image extension are taken. Problems (unreadable directory) go to errors as
 * "path\tmessage" and do not stop the walk. */
int walk_inputs(char **args, int n, strlist *files, strlist *errors);

/* Reads standard input (or a file) as lines without their line ends. */
int read_lines(FILE *f, strlist *lines);

/* Parses "I/N" for --shard; returns 0 on success. */
int parse_shard(const char *s, size_t *index, size_t *count);

/* Durable result output (tools/feat/output.c). Each batch of rows is written as a complete
 * part, OUT.parts/part-<first row>.rows.tsv then .npy, each fsynced and renamed into place,
 * so a run killed at any moment leaves only complete parts. When every input is done the
 * parts are joined into OUT.npy (float32 rows, NaN for failed items) and OUT.rows.tsv (row,
 * status, input, message), renamed into place; then OUT.parts is renamed OUT.parts.joined
 * and deleted, so a run killed after the join leaves either all its parts (--resume joins
 * them again) or none that resume would read. With resume, the
 * parts of an earlier run over the same inputs are checked and kept; *first_todo says where
 * to go on. The table's row column numbers inputs in the whole, unsharded list. */
typedef struct out_writer out_writer;
out_writer *out_open(const char *npy_path, size_t dim, char *const *inputs, size_t n_inputs, size_t shard_i,
                     size_t shard_n, int resume, size_t *first_todo);
int out_append(out_writer *w, const feat_result *r, char *const *inputs, size_t n);
/* All inputs done: join the parts into the final files and count rows and failed rows
 * (earlier runs' parts included). Frees w. */
int out_finish(out_writer *w, size_t *n_rows, size_t *n_failed);
/* Stop without finishing (interrupted or failed): complete parts stay for --resume. Frees w. */
void out_suspend(out_writer *w);

/* Progress line on stderr at most every few seconds (only when stderr is a terminal or
 * FEAT_PROGRESS=1). */
void progress(const char *what, size_t done, size_t total, size_t failed, int final);

/* Parses an unsigned integer option value; exits with a usage error when it is not one. */
unsigned long parse_ulong(const char *opt, const char *val, unsigned long max);

/* Parses --precision ("fp32" or "bf16"); exits with a usage error for anything else. */
feat_precision parse_precision(const char *val);

/* Says on stderr which OPENBLAS_CORETYPE to set when OpenBLAS fell back to its generic
 * kernels on a CPU it does not know (blas_core.c). */
void cli_check_blas_core(void);

int cmd_layers(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_text(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_merge(int argc, char **argv);

#endif
