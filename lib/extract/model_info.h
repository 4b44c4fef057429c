/* The JSON side-car written next to a model by tools/export_models.py (docs/models.md):
 * family, input kind, default taps, preprocessing preset, vocabulary. */
#ifndef FEAT_EXTRACT_MODEL_INFO_H
#define FEAT_EXTRACT_MODEL_INFO_H

#include "core/error.h"
#include "feat/image.h"
#include "feat/text.h"

#include <limits.h>

typedef struct feat_model_info {
    int has_sidecar;
    char sidecar_path[PATH_MAX];
    char family[32];
    char input[16];             /* "image", "text" or "" when unknown */
    char default_taps[1024];
    feat_image_preset preset;   /* FEAT_PRESET_DEFAULT when not given */
    uint32_t resize, crop;      /* 0 when not given */
    char vocab_path[PATH_MAX];  /* resolved against the side-car's folder; "" when none */
    feat_tristate lowercase, strip_accents;
    uint32_t max_length;        /* 0 when not given */
} feat_model_info;

/* Reads MODEL.json for MODEL.pt (or MODEL.pt.json). A missing side-car is not an error
 * (has_sidecar = 0); a malformed one is (FEAT_E_MODEL naming the field). */
feat_status feat_model_info_read(const char *model_path, feat_model_info *out, feat_error *err);

#endif
