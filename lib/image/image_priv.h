/* SPDX-License-Identifier: MIT */
/* Private to lib/image: growable buffers, the decoded-image view, and the decode / orient /
 * resample stages that preprocess.c chains together. */
#ifndef FEAT_IMAGE_PRIV_H
#define FEAT_IMAGE_PRIV_H

#include "image/image_internal.h"

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; memory is kept between images. */
typedef struct feat_buf {
    uint8_t *p;
    size_t cap;
} feat_buf;

/* Makes b->p hold at least n bytes (contents not preserved). 0 on success, -1 when out of
 * memory. */
int feat_buf_reserve(feat_buf *b, size_t n);
void feat_buf_free(feat_buf *b);

struct feat_image_scratch {
    feat_buf file; /* encoded bytes read from a file */
    feat_buf pix;  /* decoded pixels */
    feat_buf pix2; /* EXIF-oriented pixels */
    feat_buf win;  /* the resized crop window, 8-bit */
    feat_buf tmp;  /* horizontal-pass output rows */
};

/* A decoded image: 8-bit samples, ch = 1 (gray, replicated to RGB at the end, which is what
 * Pillow's convert("RGB") does) or 3 (RGB). Rows are stride bytes apart. */
typedef struct feat_img {
    const uint8_t *px;
    uint32_t w, h;
    int ch;
    size_t stride;
} feat_img;

/* What the decoder needs to know besides the bytes. */
typedef struct feat_decode_params {
    uint64_t max_pixels;
    uint32_t max_side;
    int want_orientation; /* read the EXIF Orientation tag into *orientation */
    int fast;             /* FEAT_DECODE_FAST: fast IDCT, DCT-domain downscaling */
    /* FAST only: the decoded image may be DCT-downscaled while both sides stay >= these
     * (computed from the final size the resize step will produce). */
    uint32_t fast_min_short;         /* shorter side >= this (TORCHVISION) */
    uint32_t fast_min_w, fast_min_h; /* both sides (KERAS) */
} feat_decode_params;

/* Decodes JPEG or PNG bytes into pix. *orientation is 1 unless want_orientation and the
 * image carries an EXIF Orientation tag in 1..8. *src_w / *src_h receive the full-resolution
 * size (it differs from out->w/h only after FAST DCT scaling). Errors as documented for
 * feat_image_preprocess_bytes(). */
feat_status feat_decode(const uint8_t *data, size_t n, const feat_decode_params *p, feat_buf *pix, feat_img *out,
                        int *orientation, uint32_t *src_w, uint32_t *src_h, feat_error *err);

/* Returns the orientation (1..8) found in an EXIF block that starts with the TIFF header
 * ("II*\0" / "MM\0*"), or 1 when absent or malformed. Never reads outside [p, p+n). */
int feat_exif_orientation(const uint8_t *p, size_t n);

/* Applies Pillow's ImageOps.exif_transpose mapping for orientation 2..8 into buf. */
feat_status feat_img_orient(const feat_img *src, int orientation, feat_buf *buf, feat_img *out, feat_error *err);

/* Resizes src to out_w x out_h with Pillow's algorithm for the given filter (NEAREST as
 * Image.resize does it: the affine-transform path; the others as Pillow's Resample.c does,
 * 8-bit fixed point, horizontal pass first, rounded to 8 bits in between) but computes only the window
 * [wx0, wx0 + ww) x [wy0, wy0 + wh) of the result; window pixels outside the resized image
 * are 0 (torchvision's zero padding when the crop is larger than the image). dst receives
 * ww * wh * src->ch bytes, packed. out_w == src->w and out_h == src->h copies without
 * resampling, as Pillow does. */
feat_status feat_resize_window(const feat_img *src, uint32_t out_w, uint32_t out_h, feat_interpolation interp,
                               int64_t wx0, int64_t wy0, uint32_t ww, uint32_t wh, uint8_t *dst, feat_image_scratch *s,
                               feat_error *err);

#endif
