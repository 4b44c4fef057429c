/* SPDX-License-Identifier: MIT */
/* Linear probes: which column block (tap) of a feature matrix best predicts a labelled task.
 *
 * Works on any float matrix (rows x cols, row-major), labels as class indices and column
 * blocks (one per tap, in spec order), so it runs on one model's taps, an ensemble, appended
 * columns or a saved .npy alike. For every block, and for fused combinations found by greedy
 * forward selection, it runs stratified k-fold cross-validation of LIBLINEAR's L2-regularised
 * logistic regression (L2R_LR, one-vs-rest, bias 1) on features standardised with a scaler
 * fitted on each training fold: the setup of scikit-learn's StandardScaler followed by
 * LogisticRegression(solver="liblinear") (docs/adapting.md has the method and its reasons).
 * Each fold is fitted in the row-space form where it can be (the same problem on at most as
 * many coordinates as the fold has training rows; docs/adapting.md), in its columns otherwise;
 * fused sets reuse their taps' Gram matrices and start from the current set's fitted model
 * (the same problems and stopping rule, within the memory bounds docs/adapting.md states).
 *
 * Rows with a non-finite value in any block (failed inputs are NaN rows) are excluded from
 * folds and fits and counted, never treated as zero. feat_probe_run fits the folds of a batch
 * of sets (the single taps, then each greedy step's candidates) on up to one thread per core,
 * each writing only its own fold's results, so a report does not depend on the thread count;
 * every thread it starts has ended when it returns. It keeps no global state except
 * LIBLINEAR's print hook, which it silences. */
#ifndef FEAT_PROBE_H
#define FEAT_PROBE_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define FEAT_PROBE_DEFAULT_FOLDS 5
#define FEAT_PROBE_FOLDS_MAX 100  /* more folds than this is leave-one-out territory */
#define FEAT_PROBE_BLOCKS_MAX 256 /* candidate taps per probe */
#define FEAT_PROBE_CLASSES_MAX 65536
#define FEAT_PROBE_NAME_MAX 320       /* a tap name "path@k:pool", or a class name */
#define FEAT_PROBE_ROWS_MAX 100000000 /* rows of a probe; liblinear indexes rows with int */

/* Columns [first, first + count) of the matrix: one tap. */
typedef struct feat_probe_block {
    char name[FEAT_PROBE_NAME_MAX];
    size_t first, count;
} feat_probe_block;

/* Class labels of every row: index[r] in [0, n_classes), names sorted by strcmp (the order
 * scikit-learn's LabelEncoder gives), so class i is names[i]. */
typedef struct feat_probe_labels {
    size_t n_rows;
    int32_t *index;
    size_t n_classes;
    char **names;
} feat_probe_labels;

/* Builds labels from one class name per row (none NULL or empty). */
feat_status feat_probe_labels_from_names(const char *const *names, size_t n_rows, feat_probe_labels *out,
                                         feat_error *err);
/* Reads a label table: lines "row<TAB>label" (an optional first line "row<TAB>label" is a
 * header), rows 0-based, each of 0 .. n_rows-1 exactly once. A missing, repeated or
 * out-of-range row, or an empty label, is FEAT_E_DECODE naming the line. */
feat_status feat_probe_labels_read(const char *path, size_t n_rows, feat_probe_labels *out, feat_error *err);
void feat_probe_labels_free(feat_probe_labels *labels);

/* Reads a whole 2-D float32 .npy file (what feat image / feat text write); *x is malloc'd. */
feat_status feat_probe_matrix_read(const char *path, float **x, size_t *rows, size_t *cols, feat_error *err);

/* Reads a column map: a header line "tap<TAB>first<TAB>count" (more columns may follow, as in
 * what feat image and feat text write: they are not read), then one line per tap in
 * column order. Blocks must be non-empty, inside [0, cols) and may not overlap. *out is
 * malloc'd (free()). */
feat_status feat_probe_columns_read(const char *path, size_t cols, feat_probe_block **out, size_t *n_out,
                                    feat_error *err);
/* Writes the column map that feat_probe_columns_read reads (to PATH.partial, renamed at the end). */
feat_status feat_probe_columns_write(const char *path, const feat_probe_block *blocks, size_t n, feat_error *err);

/* Keeps the blocks named in a comma-separated list (names as in the column map), in the
 * list's order; NULL or "" keeps all. An unknown name is FEAT_E_NOT_FOUND. */
feat_status feat_probe_blocks_select(feat_probe_block *blocks, size_t *n, const char *list, feat_error *err);

/* One module of a model as the default candidate rule sees it: its dotted path and the rank
 * of its output (0 when the forward pass never calls it). */
typedef struct feat_probe_module {
    const char *path;
    size_t rank;
} feat_probe_module;

/* The default candidate taps of a model (docs/adapting.md): every child of the model's
 * repeated-block containers, i.e. every module whose last path segment is an index and no
 * earlier segment is, in module (depth) order, pooled with gap when its output is a feature
 * map (rank 4) and mean when it is a token sequence (rank 3); other ranks are skipped.
 * Writes the comma-separated spec into spec (cap bytes). FEAT_E_NOT_FOUND when no module fits,
 * FEAT_E_LIMIT over FEAT_TAP_MAX taps or cap bytes. */
feat_status feat_probe_default_taps(const feat_probe_module *modules, size_t n, char *spec, size_t cap,
                                    feat_error *err);

/* Stratified, seeded fold assignment: rows with label -1 get fold -1; the others are
 * shuffled within each class (splitmix64 seeded with seed, Fisher-Yates) and dealt to folds
 * 0..k-1 in turn, class after class, so each class's rows are split as evenly as possible and
 * fold sizes differ by at most one. Needs 2 <= k <= FEAT_PROBE_FOLDS_MAX and at least k rows
 * in every class that has rows. */
feat_status feat_probe_folds(const int32_t *labels, size_t n, size_t n_classes, uint32_t k, uint64_t seed,
                             int32_t *fold, feat_error *err);

/* StandardScaler's fit on the given rows of the given columns: mean and population standard
 * deviation in double; a column whose variance is within rounding of zero (scikit-learn's
 * _is_constant_feature bound) gets scale 1. */
void feat_probe_scaler_fit(const float *x, size_t stride, const size_t *rows, size_t n_rows, const size_t *cols,
                           size_t n_cols, double *mean, double *scale);

/* Greedy forward selection over n blocks (at most FEAT_PROBE_BLOCKS_MAX), starting from block
 * `start`: each step scores every set made of the current set plus one block not in it, and
 * keeps the best one (the first in block order on ties) only when it beats the current score;
 * it stops when nothing improves or the set reaches max_size (0 = n). score gets all of a
 * step's sets in one call (so it can fit them side by side): n_sets rows of set_size blocks,
 * each sorted (i.e. in spec order), in the order of the block added, and writes one score per
 * set; it returns nonzero to abort (its status is returned; it sets its own message). After
 * each step every set it scored is passed to visit, in the order scored, with whether it was
 * accepted. */
typedef feat_status (*feat_probe_score_fn)(void *ctx, const size_t *sets, size_t n_sets, size_t set_size,
                                           double *scores);
typedef feat_status (*feat_probe_visit_fn)(void *ctx, const size_t *set, size_t n_set, double score, int accepted);
feat_status feat_probe_greedy(size_t n, size_t start, double start_score, size_t max_size, feat_probe_score_fn score,
                              feat_probe_visit_fn visit, void *ctx, feat_error *err);

/* What one set of blocks scored. */
typedef struct feat_probe_eval {
    size_t n_blocks;
    size_t *blocks;           /* indices into the probe's blocks, ascending (= spec order) */
    size_t cols;              /* columns of the fused row */
    double mean, std;         /* accuracy over folds: mean and population standard deviation */
    double *fold_acc;         /* per fold */
    int32_t *pred;            /* per matrix row: the predicted class index, -1 for excluded rows */
    int accepted;             /* fused sets: kept by the greedy selection */
    uint32_t row_space_folds; /* folds fitted in the row-space form (docs/adapting.md) */
    double *train_dec;        /* while a later step may grow this set: its decision values on each
                                 fold's training rows (fold-major), the warm starts; else NULL */
} feat_probe_eval;

typedef void (*feat_probe_progress_fn)(void *ctx, const char *message);

typedef struct feat_probe_config {
    uint32_t folds; /* 0 = FEAT_PROBE_DEFAULT_FOLDS */
    uint64_t seed;
    size_t max_fused;                /* most blocks in a fused set; 0 = all; 1 = no fused sets */
    feat_probe_progress_fn progress; /* NULL = silent */
    void *progress_ctx;
} feat_probe_config;

typedef struct feat_probe_report {
    size_t rows, n_used, n_excluded; /* n_excluded: rows with a non-finite value */
    size_t n_classes;
    uint32_t folds;
    uint64_t seed;
    int32_t *fold;      /* per row; -1 for excluded rows */
    size_t *class_rows; /* used rows per class */
    size_t n_taps;
    feat_probe_eval *taps; /* one per block, in block order */
    size_t n_fused;
    feat_probe_eval *fused;                   /* every set the selection scored, in the order it scored them */
    const feat_probe_eval *best_tap, *winner; /* winner: the best accepted set, else best_tap */
} feat_probe_report;

/* Runs the probe. x: rows x cols floats, row-major; labels: labels->n_rows == rows. */
feat_status feat_probe_run(const float *x, size_t rows, size_t cols, const feat_probe_labels *labels,
                           const feat_probe_block *blocks, size_t n_blocks, const feat_probe_config *cfg,
                           feat_probe_report *out, feat_error *err);
void feat_probe_report_free(feat_probe_report *report);

/* Writes the JSON report (docs/adapting.md) to PATH.partial, renamed to path at the end.
 * source_kv: n_source key/value string pairs for the "source" object (what was probed).
 * predictions: also the fold of every row and every set's per-row predictions. */
feat_status feat_probe_report_write_json(const char *path, const feat_probe_report *rep, const feat_probe_block *blocks,
                                         const feat_probe_labels *labels, const char *const *source_kv, size_t n_source,
                                         int predictions, feat_error *err);

/* The winner as a tap spec: its block names joined by ',' (pasteable into --taps). */
feat_status feat_probe_eval_spec(const feat_probe_eval *ev, const feat_probe_block *blocks, char *buf, size_t cap,
                                 feat_error *err);

#endif
