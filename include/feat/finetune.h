/* SPDX-License-Identifier: MIT */
/**
 * @file feat/finetune.h
 * @brief Fine-tuning: adapt the last blocks of a pretrained model to a labelled task.
 *
 * A linear head over one tap (pooled as in docs/taps.md) is trained together with the chosen
 * submodules of the model by AdamW on cross-entropy, with libtorch on the CPU. The result is
 * a TorchScript file with the tuned weights (and the head, as parameters `feat_head_weight`,
 * `feat_head_bias`) plus a side-car recording its origin; the extractors load it like any
 * other model, with the base model's default taps. docs/adapting.md ("Fine-tuning") has the
 * procedure, what is reproducible bit for bit and the measured effect.
 *
 * Errors: every call returns a feat_status; the message is in feat_last_error() (the options
 * and the run have no handle that outlives a failure). Per-item failures (an image that does
 * not decode, a text that does not tokenize) leave the item out of training and are listed in
 * the report. Options objects are used by one thread at a time; a run blocks its thread and
 * uses the thread budget of feat_global_set_threads.
 */
#ifndef FEAT_FINETUNE_H
#define FEAT_FINETUNE_H

#include "feat/common.h"

#include <stddef.h>
#include <stdint.h>

FEAT_BEGIN_DECLS

/** Learning-rate schedule over the run's steps (append-only; 0 = default). */
typedef enum feat_lr_schedule {
    FEAT_SCHEDULE_DEFAULT = 0, /**< constant */
    FEAT_SCHEDULE_CONSTANT = 1,
    FEAT_SCHEDULE_COSINE = 2 /**< lr * 0.5 * (1 + cos(pi * step / steps)), step from 0 */
} feat_lr_schedule;

/** Caching of the untrained layers' activations (append-only; 0 = default). */
typedef enum feat_finetune_cache {
    FEAT_CACHE_DEFAULT = 0, /**< on when the split is exact and the cache fits its limit */
    FEAT_CACHE_OFF = 1,     /**< every step runs the whole forward */
    FEAT_CACHE_ON = 2       /**< required: the run fails when the split is not exact or too big */
} feat_finetune_cache;

/** feat_finetune_options_set_weight_decay value for no weight decay (0 is the default). */
#define FEAT_WEIGHT_DECAY_NONE (-1.0)

typedef struct feat_finetune_options feat_finetune_options;
typedef struct feat_finetune_report feat_finetune_report;

/**
 * Progress: called after every step (step: steps done, from 1; loss: the step's; val_accuracy
 * NaN) and after each epoch (step: the steps done; loss: the epoch's mean training loss;
 * val_accuracy: the epoch's validation accuracy, or -1 without a validation split). Return
 * nonzero to cancel the run, which then fails with FEAT_E_CANCELLED and writes nothing.
 * Called on the thread of the run.
 */
typedef int (*feat_finetune_progress)(void *user, uint32_t epoch, uint64_t step, double loss, double val_accuracy);

FEAT_API feat_status feat_finetune_options_new(feat_finetune_options **out);
FEAT_API void feat_finetune_options_free(feat_finetune_options *opts);
/** Submodules to train, in the tap grammar without pooling (`_blocks.-1,_conv_head`,
 *  `encoder.layer.-2..-1`): every parameter whose path starts with one of them trains.
 *  NULL or "" = the last child of the model's repeated blocks (the module of the side-car's
 *  last default tap). */
FEAT_API feat_status feat_finetune_options_set_train(feat_finetune_options *opts, const char *spec);
/** The head's input: one tap with its pooling (`_bn1:gap`, `encoder.layer.-1:mean`).
 *  NULL or "" = the side-car's last default tap. */
FEAT_API feat_status feat_finetune_options_set_head_tap(feat_finetune_options *opts, const char *spec);
/** Epochs, 1..10000; 0 = 3. */
FEAT_API feat_status feat_finetune_options_set_epochs(feat_finetune_options *opts, uint32_t epochs);
/** Items per step, 1..4096; 0 = 16. */
FEAT_API feat_status feat_finetune_options_set_batch_size(feat_finetune_options *opts, uint32_t batch);
/** AdamW learning rate, finite and > 0; 0 = 1e-3. */
FEAT_API feat_status feat_finetune_options_set_learning_rate(feat_finetune_options *opts, double lr);
FEAT_API feat_status feat_finetune_options_set_schedule(feat_finetune_options *opts, feat_lr_schedule schedule);
/** AdamW decoupled weight decay, finite and >= 0; 0 = 1e-2; FEAT_WEIGHT_DECAY_NONE = none. */
FEAT_API feat_status feat_finetune_options_set_weight_decay(feat_finetune_options *opts, double wd);
/** Seed of the head's initialisation, the epoch order and the dropout; default 0. */
FEAT_API feat_status feat_finetune_options_set_seed(feat_finetune_options *opts, uint64_t seed);
/** Fraction of each class held out for validation, in [0, 0.9]; 0 = none (then the last
 *  epoch is chosen). The held-out items are the last ceil(f * n) of each class in input
 *  order (at least one of every class with two or more items). */
FEAT_API feat_status feat_finetune_options_set_validation_fraction(feat_finetune_options *opts, double f);
/** Early stopping: stop after this many epochs without a better validation accuracy;
 *  0 = train every epoch. The saved weights are the best epoch's either way. */
FEAT_API feat_status feat_finetune_options_set_patience(feat_finetune_options *opts, uint32_t epochs);
/** Dropout probability before the head, in [0, 1); 0 = none. */
FEAT_API feat_status feat_finetune_options_set_dropout(feat_finetune_options *opts, double p);
/** Cross-entropy class weights (n finite values > 0, copied); NULL = all equal. n must equal
 *  the number of classes at the run. */
FEAT_API feat_status feat_finetune_options_set_class_weights(feat_finetune_options *opts, const float *w, size_t n);
FEAT_API feat_status feat_finetune_options_set_cache(feat_finetune_options *opts, feat_finetune_cache cache);
/** Bytes the activation cache may hold; 0 = 1 GiB. */
FEAT_API feat_status feat_finetune_options_set_cache_limit(feat_finetune_options *opts, uint64_t bytes);
/** Checkpoints: after every epoch the whole training state goes to path (written aside, then
 *  renamed; removed when the run succeeds); NULL = none. With resume nonzero a run whose
 *  checkpoint exists continues from it, to the same weights bit for bit as a run that was not
 *  interrupted; the checkpoint must come from the same data and options (else FEAT_E_STATE). */
FEAT_API feat_status feat_finetune_options_set_checkpoint(feat_finetune_options *opts, const char *path, int resume);
FEAT_API feat_status feat_finetune_options_set_progress(feat_finetune_options *opts, feat_finetune_progress fn,
                                                        void *user);

/**
 * Fine-tunes the image model at model_path on n image files with labels in 0..K-1 (K >= 2,
 * every class present) and writes the tuned model to out_path (and its side-car, out_path
 * with .json for .pt). Images are preprocessed as the image extractor does with the model's
 * defaults. opts NULL = all defaults. *report (may be NULL) gets the report, also when the run
 * fails after it started (then partial); free it with feat_finetune_report_free.
 */
FEAT_API feat_status feat_finetune_images(const char *model_path, const char *const *paths, const int32_t *labels,
                                          size_t n, const feat_finetune_options *opts, const char *out_path,
                                          feat_finetune_report **report);
/** As feat_finetune_images for a text model and n UTF-8 texts (NUL-terminated), tokenized
 *  with the model's side-car tokenizer settings; every text is padded to the longest. */
FEAT_API feat_status feat_finetune_texts(const char *model_path, const char *const *texts, const int32_t *labels,
                                         size_t n, const feat_finetune_options *opts, const char *out_path,
                                         feat_finetune_report **report);

FEAT_API void feat_finetune_report_free(feat_finetune_report *r);
/** Epochs run (fewer than asked after early stopping). */
FEAT_API uint32_t feat_finetune_report_n_epochs(const feat_finetune_report *r);
/** Mean training loss of epoch e (0-based); NaN out of range. */
FEAT_API double feat_finetune_report_train_loss(const feat_finetune_report *r, uint32_t epoch);
/** Validation accuracy of epoch e; NaN without validation or out of range. */
FEAT_API double feat_finetune_report_val_accuracy(const feat_finetune_report *r, uint32_t epoch);
/** The epoch whose weights were saved (0-based). */
FEAT_API uint32_t feat_finetune_report_chosen_epoch(const feat_finetune_report *r);
/** Steps run and the loss of each (in order). */
FEAT_API uint64_t feat_finetune_report_n_steps(const feat_finetune_report *r);
FEAT_API float feat_finetune_report_step_loss(const feat_finetune_report *r, uint64_t step);
/** 1 when the untrained layers' activations were cached. */
FEAT_API int feat_finetune_report_cached(const feat_finetune_report *r);
/** Per input item: FEAT_OK, or why it was left out (with its message; "" when OK). */
FEAT_API size_t feat_finetune_report_n_items(const feat_finetune_report *r);
FEAT_API feat_status feat_finetune_report_item_status(const feat_finetune_report *r, size_t i);
FEAT_API const char *feat_finetune_report_item_error(const feat_finetune_report *r, size_t i);

FEAT_END_DECLS

#endif /* FEAT_FINETUNE_H */
