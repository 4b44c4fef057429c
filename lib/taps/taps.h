/* SPDX-License-Identifier: MIT */
/* Layer taps: the spec grammar, its resolution against a model's module list, and pooling.
 * Pure C; the shim only adds the resolved paths as graph outputs, and the fusion of the pooled
 * taps into one row is in lib/extract/tapped.c.
 *
 * Grammar (docs/taps.md):
 *   spec    := tap ( ',' tap )*
 *   tap     := path [ '@' call ] [ ':' pool ]
 *   path    := segment ( '.' segment )*
 *   segment := NAME | INT | INT '..' INT          (INT may be negative: -1 = last child)
 *   pool    := none | flatten | gap | gmp | cls | mean | max
 * Whitespace around taps is ignored. A range segment expands into one tap per index, in
 * order, so 'encoder.layer.-4..-1:cls' is four taps. */
#ifndef FEAT_TAPS_H
#define FEAT_TAPS_H

#include "core/error.h"

#include <stdint.h>

typedef enum feat_pool {
    FEAT_POOL_AUTO = 0, /* not given: flatten for feature maps, cls for token sequences */
    FEAT_POOL_NONE,     /* the tensor as is (flattened per item; fixed-size tensors only) */
    FEAT_POOL_FLATTEN,
    FEAT_POOL_GAP,  /* global average over H, W of a feature map (NCHW or NHWC) */
    FEAT_POOL_GMP,  /* global max over H, W */
    FEAT_POOL_CLS,  /* token 0 of [B, S, H] */
    FEAT_POOL_MEAN, /* attention-mask-aware mean over tokens (patch tokens for cls-tokens) */
    FEAT_POOL_MAX   /* attention-mask-aware max over tokens (patch tokens for cls-tokens) */
} feat_pool;

const char *feat_pool_name(feat_pool pool);

/* What the dimensions of a tapped tensor mean (docs/taps.md, "Layouts"): the model's side-car
 * declares it per module path ("layouts"), because the shape alone cannot tell [B, C, H, W]
 * from [B, H, W, C] (torchvision's Swin gives 1 x 28 x 28 x 192). gap and gmp need a feature
 * map layout, cls, mean and max a token one; UNKNOWN refuses them rather than guess. */
typedef enum feat_layout {
    FEAT_LAYOUT_UNKNOWN = 0,
    FEAT_LAYOUT_NCHW,      /* "nchw": feature map, channels first */
    FEAT_LAYOUT_NHWC,      /* "nhwc": feature map, channels last (Swin, ConvNeXt block insides) */
    FEAT_LAYOUT_TOKENS,    /* "tokens": [B, S, H]; mean and max over every (unmasked) token */
    FEAT_LAYOUT_CLS_TOKENS /* "cls-tokens": [B, 1 + P, H], a class token at 0 (ViT); mean and
                              max over the P patch tokens only */
} feat_layout;

const char *feat_layout_name(feat_layout layout);
/* The layout named by s ("nchw", "nhwc", "tokens", "cls-tokens"); 0 when s names none. */
int feat_layout_parse(const char *s, feat_layout *out);

#define FEAT_TAP_MAX 64       /* taps per spec after range expansion */
#define FEAT_TAP_PATH_MAX 256 /* bytes per path */

/* One parsed tap. Segments keep negative indices and ranges until resolution. */
typedef struct feat_tap_spec {
    char path[FEAT_TAP_PATH_MAX]; /* as written, without @call and :pool */
    int32_t call;                 /* k of '@k', -1 when not given */
    feat_pool pool;
} feat_tap_spec;

typedef struct feat_tap_list {
    size_t n;
    feat_tap_spec taps[FEAT_TAP_MAX];
} feat_tap_list;

/* Parses a spec; syntax errors name the position and the offending text. */
feat_status feat_taps_parse(const char *spec, feat_tap_list *out, feat_error *err);

/* The tap-spec setter of the image and text options: checks the grammar of spec (NULL or ""
 * mean the model's default taps and are stored as NULL), then replaces *slot with a copy.
 * slot NULL (the options object was NULL) is the error "<fn>: opts is NULL". Errors go to
 * the thread slot. Whether the paths exist is known only when the model is loaded. */
feat_status feat_taps_set_spec(char **slot, const char *fn, const char *spec);

/* The model's module paths (dotted, in definition order), as the shim lists them. */
typedef struct feat_module_list {
    size_t n;
    const char *const *paths;
} feat_module_list;

/* Resolves negative indices and ranges against the module list; on an unknown path the
 * message names the closest existing paths. Output taps have concrete paths. */
feat_status feat_taps_resolve(const feat_tap_list *in, const feat_module_list *modules, feat_tap_list *out,
                              feat_error *err);

/* Shape of one tapped tensor for a batch: dims[0] is the batch. */
typedef struct feat_tensor_shape {
    size_t ndim;
    int64_t dims[8];
} feat_tensor_shape;

/* Chooses the pooling for AUTO and checks that a pooling fits the tensor's rank and layout;
 * returns the pooled length per item in *dim_out. A pooling that needs the layout of a tensor
 * whose layout is UNKNOWN, or a layout that contradicts the rank, is FEAT_E_MODEL. */
feat_status feat_pool_check(const char *path, feat_pool *pool, feat_layout layout, const feat_tensor_shape *shape,
                            size_t *dim_out, feat_error *err);

/* Pools item b of a batch tensor (row-major, shape as given) into dst (dim_out floats); the
 * pooling and layout passed feat_pool_check for this shape. mask: the item's attention mask of
 * S values (token sequences only; NULL = all tokens). */
void feat_pool_apply(feat_pool pool, feat_layout layout, const float *data, const feat_tensor_shape *shape, int64_t b,
                     const int64_t *mask, float *dst);

#endif
