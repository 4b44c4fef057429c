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

/* Result writer: OUT.npy (float32 rows; NaN rows for failed items) and OUT.rows.tsv
 * (row, status, input, message), both renamed into place only when complete. */
typedef struct out_writer out_writer;
out_writer *out_open(const char *npy_path, size_t dim);
int out_append(out_writer *w, const feat_result *r, char *const *inputs, size_t n);
int out_close(out_writer *w);
void out_abort(out_writer *w);

/* Progress line on stderr at most every few seconds (only when stderr is a terminal or
 * FEAT_PROGRESS=1). */
void progress(const char *what, size_t done, size_t total, size_t failed, int final);

/* Parses an unsigned integer option value; exits with a usage error when it is not one. */
unsigned long parse_ulong(const char *opt, const char *val, unsigned long max);

int cmd_layers(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_text(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

#endif
