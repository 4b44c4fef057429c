/* SPDX-License-Identifier: MIT */
/* Internal interface of the imaging component: decode (JPEG via libjpeg-turbo, PNG via
 * libpng) -> 8-bit pixels -> Pillow-exact resize / center crop -> float32 CHW tensor.
 *
 * Exactness target (docs/imaging.md): with FEAT_DECODE_EXACT the tensor is bit-identical to
 *   TORCHVISION:  Image.open(p).convert("RGB") -> Resize(S) -> CenterCrop(c) -> ToTensor -> Normalize
 *   KERAS_VGG16:  keras.utils.load_img(p, target_size=(h, w)) -> img_to_array -> preprocess_input
 * run with Pillow on the same libjpeg-turbo.
 *
 * Thread-safety: a resolved feat_preprocess is read-only and may be shared by any number of
 * threads; each thread needs its own feat_image_scratch (or passes NULL to allocate per call). */
#ifndef FEAT_IMAGE_INTERNAL_H
#define FEAT_IMAGE_INTERNAL_H

#include "core/error.h"
#include "image/image_options.h"

#include <stddef.h>
#include <stdint.h>

FEAT_BEGIN_DECLS

/* A resolved preprocessing configuration: every default filled in, normalization folded into
 * per-channel lookup tables. Plain data; copy it freely. */
typedef struct feat_preprocess {
    feat_image_preset preset;  /* TORCHVISION or KERAS_VGG16, never DEFAULT */
    uint32_t resize;           /* TORCHVISION: shorter side after resize; KERAS: 0 */
    uint32_t crop_w, crop_h;   /* output tensor is 3 x crop_h x crop_w */
    feat_interpolation interp; /* never DEFAULT */
    int bgr;                   /* 1: output channel 0 is blue (KERAS_VGG16) */
    float mean[3], std[3];     /* in output channel order; std is 1 for KERAS_VGG16 */
    /* lut[c][v]: value of output channel c for an 8-bit sample v of that channel, computed in
     * float32 in the order torch / numpy use, so the tensor is bit-identical. */
    float lut[3][256];
    int exif_orientation;         /* apply the EXIF Orientation tag before resizing */
    uint64_t max_pixels;          /* decoded-pixel limit (width * height) */
    uint32_t max_side;            /* limit on width and height */
    feat_decode_mode decode_mode; /* EXACT or FAST */
} feat_preprocess;

/* Fills *out from the options (NULL = all defaults) and the model's defaults from its JSON
 * side-car (model_default_preset FEAT_PRESET_DEFAULT / model_default_resize 0 = none). An
 * explicit option wins over the model default, which wins over the built-in default.
 * Returns FEAT_OK or FEAT_E_INVALID_ARGUMENT (e.g. crop width set without height). */
feat_status feat_preprocess_resolve(const feat_image_options *opts, feat_image_preset model_default_preset,
                                    uint32_t model_default_resize, feat_preprocess *out, feat_error *err);

/* Number of floats one preprocessed image occupies: 3 * crop_h * crop_w. */
size_t feat_preprocess_tensor_count(const feat_preprocess *pp);

/* Reusable working memory for one thread: the file bytes, decoded pixels and resampling
 * buffers grow to the largest image seen and are kept, so a worker that processes many
 * images does not allocate per image. Never share one scratch between threads at once. */
typedef struct feat_image_scratch feat_image_scratch;

/* Returns a new empty scratch, or NULL when out of memory. */
feat_image_scratch *feat_image_scratch_new(void);
/* Frees a scratch and its buffers. NULL is a no-op. */
void feat_image_scratch_free(feat_image_scratch *s);
/* Releases the buffers (keeps the object), e.g. after an unusually large image. */
void feat_image_scratch_trim(feat_image_scratch *s);

/* Decodes an encoded JPEG or PNG of @p n bytes and writes the preprocessed tensor
 * (feat_preprocess_tensor_count(pp) floats, CHW) to @p dst.
 * Errors (message in *err, which may be NULL):
 *   FEAT_E_DECODE       empty, truncated or corrupt data, unrecognised format
 *   FEAT_E_UNSUPPORTED  a recognised but unsupported format (WebP, GIF, TIFF, BMP, 12-bit or
 *                       lossless JPEG, ...), named in the message
 *   FEAT_E_LIMIT        width * height above pp->max_pixels, a side above pp->max_side, or a
 *                       resize target too large
 *   FEAT_E_NOMEM        an allocation failed
 * @p scratch may be NULL (buffers are then allocated and freed within the call). On error
 * @p dst may have been partly written. */
feat_status feat_image_preprocess_bytes_s(const feat_preprocess *pp, feat_image_scratch *scratch, const uint8_t *data,
                                          size_t n, float *dst, feat_error *err);
/* feat_image_preprocess_bytes_s() without a scratch. */
feat_status feat_image_preprocess_bytes(const feat_preprocess *pp, const uint8_t *data, size_t n, float *dst,
                                        feat_error *err);

/* Preprocesses packed 8-bit RGB pixels (row stride in bytes, 0 = 3 * w) as if they were a
 * decoded RGB image (EXIF and decode mode do not apply). Same errors as above, plus
 * FEAT_E_INVALID_ARGUMENT for NULL pixels, a zero side or a stride below 3 * w. */
feat_status feat_image_preprocess_rgb8_s(const feat_preprocess *pp, feat_image_scratch *scratch, const uint8_t *rgb,
                                         uint32_t w, uint32_t h, size_t stride, float *dst, feat_error *err);
/* feat_image_preprocess_rgb8_s() without a scratch. */
feat_status feat_image_preprocess_rgb8(const feat_preprocess *pp, const uint8_t *rgb, uint32_t w, uint32_t h,
                                       size_t stride, float *dst, feat_error *err);

/* ---- Decoding once for several preprocessings (the image ensemble) -----------------------
 * feat_image_preprocess_bytes_s() is feat_image_decode_s() followed by
 * feat_image_preprocess_decoded(); splitting them lets one decoded image be preprocessed
 * under several configurations with the same bits as separate calls. */

/* 1 when a and b decode every input to the same pixels (limits, EXIF, decode mode and, in
 * FAST mode, the DCT-scaling bound all agree), so one decode can serve both. */
int feat_preprocess_same_decode(const feat_preprocess *a, const feat_preprocess *b);
/* 1 when a and b give the same tensor for every input. */
int feat_preprocess_equal(const feat_preprocess *a, const feat_preprocess *b);

/* A decoded (and EXIF-oriented) image. Its pixels live in the scratch that decoded it, until
 * that scratch decodes again; preprocessing it does not disturb them. */
typedef struct feat_image_decoded {
    const uint8_t *px;
    uint32_t w, h;
    int ch; /* 1 (gray) or 3 (RGB) */
    size_t stride;
    uint32_t full_w, full_h; /* the size the geometry uses (differs from w, h after FAST DCT scaling) */
} feat_image_decoded;

/* Decodes as feat_image_preprocess_bytes_s() does under pp (same errors); scratch required. */
feat_status feat_image_decode_s(const feat_preprocess *pp, feat_image_scratch *scratch, const uint8_t *data, size_t n,
                                feat_image_decoded *out, feat_error *err);
/* The tensor of a decoded image under pp, which must decode like the pp it was decoded with
 * (feat_preprocess_same_decode); scratch required (it may be the one holding the pixels). */
feat_status feat_image_preprocess_decoded(const feat_preprocess *pp, feat_image_scratch *scratch,
                                          const feat_image_decoded *img, float *dst, feat_error *err);

/* Reads a whole file into *data (malloc'd, or the scratch's buffer when @p scratch is not
 * NULL, in which case the caller must not free it) and its size into *n.
 * Errors: FEAT_E_NOT_FOUND (missing file or directory in the path), FEAT_E_IO (permission,
 * a directory, a read error), FEAT_E_DECODE ("empty file"), FEAT_E_LIMIT (file over 2 GiB),
 * FEAT_E_NOMEM. Messages name the path. */
feat_status feat_image_read_file(const char *path, feat_image_scratch *scratch, uint8_t **data, size_t *n,
                                 feat_error *err);

/* Reads and preprocesses one file: feat_image_read_file() + feat_image_preprocess_bytes_s().
 * Messages are prefixed with the path. */
feat_status feat_image_preprocess_path(const feat_preprocess *pp, feat_image_scratch *scratch, const char *path,
                                       float *dst, feat_error *err);

FEAT_END_DECLS

#endif
