/* SPDX-License-Identifier: MIT */
/* A model with its taps added: the part the image and text extractors share.
 * Loading reads the side-car, resolves the tap spec against the model's modules, adds the
 * taps to the graph (one forward pass that stops after the deepest tap), and after a first
 * run knows the pooled size of every tap. Pooling and fusion of one item happen here. */
#ifndef FEAT_EXTRACT_TAPPED_H
#define FEAT_EXTRACT_TAPPED_H

#include "core/model_options.h"
#include "extract/model_info.h"
#include "shim/shim.h"
#include "taps/taps.h"

typedef struct feat_tapped {
    feat_shim_model *model; /* shared by clones (reference counted) */
    feat_model_info info;
    feat_tap_list taps; /* resolved, in the order given */
    size_t tap_dim[FEAT_TAP_MAX];
    /* From the side-car at load; an extractor may fill in UNKNOWN ones before the probe. */
    feat_layout tap_layout[FEAT_TAP_MAX];
    char tap_names[FEAT_TAP_MAX][FEAT_TAP_PATH_MAX + 32]; /* "path@k:pool" */
    feat_fusion fusion;
    size_t dim; /* fused row length; 0 until feat_tapped_probe */
} feat_tapped;

/* Loads the model onto the options' device with their precision and adds their taps (NULL =
 * the side-car's default) with their fusion. */
feat_status feat_tapped_load(feat_tapped *t, const char *model_path, const feat_model_options *opts, feat_error *err);

/* Checks every tap's pooling against the shapes of a first run and computes the row size. */
feat_status feat_tapped_probe(feat_tapped *t, const feat_shim_outputs *o, feat_error *err);

/* Pools item b of a run into row (t->dim floats). mask: the item's attention mask (token
 * sequences) or NULL. scratch: at least max(tap_dim) floats, for mean fusion. */
void feat_tapped_pool_item(const feat_tapped *t, const feat_shim_outputs *o, int64_t b, const int64_t *mask, float *row,
                           float *scratch);

/* Copies t into out sharing the model (one more reference). */
void feat_tapped_share(const feat_tapped *t, feat_tapped *out);
void feat_tapped_release(feat_tapped *t);

#endif
