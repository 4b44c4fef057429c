/* SPDX-License-Identifier: MIT */
/* The fine-tuning component's own definitions: the options and the report (finetune_options.c),
 * the run (finetune.c) and the tuned model's side-car (finetune_sidecar.c). Private to
 * lib/finetune. */
#ifndef FEAT_FINETUNE_PRIV_H
#define FEAT_FINETUNE_PRIV_H

#include "core/error.h"
#include "extract/model_info.h"
#include "feat/finetune.h"
#include "taps/taps.h"

#include <stdint.h>

#define FEAT_FINETUNE_MAX_EPOCHS 10000u
#define FEAT_FINETUNE_MAX_BATCH 4096u
#define FEAT_FINETUNE_MAX_CLASSES 100000
#define FEAT_FINETUNE_DEFAULT_EPOCHS 3u
#define FEAT_FINETUNE_DEFAULT_BATCH 16u
#define FEAT_FINETUNE_DEFAULT_LR 1e-3
#define FEAT_FINETUNE_DEFAULT_WD 1e-2
#define FEAT_FINETUNE_DEFAULT_CACHE_LIMIT (1ull << 30)

/* Zero fields mean "default", resolved at the run (feat_finetune_resolve). */
struct feat_finetune_options {
    char *train, *head_tap;
    uint32_t epochs, batch, patience;
    double lr, weight_decay, val_fraction, dropout;
    feat_lr_schedule schedule;
    uint64_t seed;
    float *class_weights;
    size_t n_class_weights;
    feat_finetune_cache cache;
    uint64_t cache_limit;
    feat_finetune_progress progress;
    void *progress_user;
    char *checkpoint;
    int resume;
};

struct feat_finetune_report {
    uint32_t n_epochs, chosen;
    double *train_loss, *val_acc; /* per epoch (capacity: the epochs asked for) */
    uint64_t n_steps;
    float *step_loss;
    int cached;
    size_t n_items;
    feat_error *items; /* per input item */
};

/* The options with every default filled in. */
typedef struct feat_finetune_resolved {
    uint32_t epochs, batch, patience;
    double lr, weight_decay, val_fraction, dropout;
    feat_lr_schedule schedule;
    uint64_t seed;
    feat_finetune_cache cache;
    uint64_t cache_limit;
} feat_finetune_resolved;

void feat_finetune_resolve(const feat_finetune_options *o, feat_finetune_resolved *out);

/* A report for n items and up to `epochs` epochs of `steps` steps; NULL when out of memory. */
feat_finetune_report *feat_finetune_report_alloc(size_t n, uint32_t epochs, uint64_t steps);

/* What the side-car of a tuned model records besides the base model's fields. */
typedef struct feat_finetune_origin {
    const char *base_model;
    const feat_tap_list *train; /* resolved */
    const char *head_tap;       /* "path:pool" */
    int64_t n_classes;
    const feat_finetune_resolved *opts;
    const feat_finetune_report *report;
    size_t n_train, n_val;
    const char *head_file; /* OUT.head.npy, relative to the side-car's folder */
} feat_finetune_origin;

/* Writes OUT.json for the tuned model out_path: the base side-car's fields (its vocabulary
 * and config paths made absolute) and a "finetune" object (docs/adapting.md). */
feat_status feat_finetune_write_sidecar(const char *out_path, const feat_model_info *base,
                                        const feat_finetune_origin *origin, feat_error *err);

#endif
