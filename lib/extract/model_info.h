/* SPDX-License-Identifier: MIT */
/* The JSON side-car written next to a model by tools/export_models.py (docs/models.md):
 * family, input kind, default taps, preprocessing preset, vocabulary. */
#ifndef FEAT_EXTRACT_MODEL_INFO_H
#define FEAT_EXTRACT_MODEL_INFO_H

#include "core/error.h"
#include "feat/image.h"
#include "feat/text.h"
#include "taps/taps.h"

#include <limits.h>

#define FEAT_LAYOUT_RULES_MAX 64 /* entries of the side-car's "layouts" */
#define FEAT_LAYOUT_KEY_MAX 128  /* bytes per entry's path pattern */

/* One "layouts" entry: a module path prefix, segment by segment, where "*" matches any one
 * segment and "" the whole model (docs/taps.md, "Layouts"). */
typedef struct feat_layout_rule {
    char prefix[FEAT_LAYOUT_KEY_MAX];
    feat_layout layout;
} feat_layout_rule;

typedef struct feat_model_info {
    int has_sidecar;
    char sidecar_path[PATH_MAX];
    char family[32];
    char input[16]; /* "image", "text" or "" when unknown */
    char default_taps[1024];
    feat_image_preset preset;  /* FEAT_PRESET_DEFAULT when not given */
    uint32_t resize, crop;     /* 0 when not given */
    int has_mean, has_std;     /* image.mean / image.std given */
    float mean[3], std[3];     /* model channel order, the preset's scale; valid when has_* */
    char vocab_path[PATH_MAX]; /* resolved against the side-car's folder; "" when none */
    feat_tristate lowercase, strip_accents, chinese_chars; /* text.handle_chinese_chars */
    uint32_t max_length;                                   /* 0 when not given */
    uint32_t n_inputs;                                     /* text: entries of "inputs" (2 or 3), 0 when not given */
    int has_layouts;                                       /* the side-car has "layouts" */
    size_t n_layouts;
    feat_layout_rule layouts[FEAT_LAYOUT_RULES_MAX];
} feat_model_info;

/* The side-car format_version this library reads (tools/export_models.py FORMAT_VERSION). */
#define FEAT_MODEL_SIDECAR_VERSION 1

/* Reads MODEL.json for MODEL.pt (or MODEL.pt.json). A missing side-car is not an error
 * (has_sidecar = 0); a malformed one is (image.mean / image.std: 3 finite numbers, std above
 * 0), and so is a format_version other than
 * FEAT_MODEL_SIDECAR_VERSION (FEAT_E_MODEL naming the field; a side-car without the field is
 * read as version 1, the first). */
feat_status feat_model_info_read(const char *model_path, feat_model_info *out, feat_error *err);

/* The layout of the module at a concrete path: the "layouts" entry with the most segments
 * that matches it (fewer "*" wins a tie). A side-car written before "layouts" existed gets its
 * family's: nchw for vgg16, resnet50, resnet18 and efficientnet_lite0, tokens for bert.
 * FEAT_LAYOUT_UNKNOWN otherwise (and without a side-car). */
feat_layout feat_model_info_layout(const feat_model_info *info, const char *path);

#endif
