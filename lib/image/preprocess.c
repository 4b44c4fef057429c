/* SPDX-License-Identifier: MIT */
/* The preprocessing pipeline: resolve options into a feat_preprocess, then
 * decode -> (EXIF orientation) -> resize + crop window -> float32 CHW through a lookup table.
 *
 * Geometry follows torchvision 0.14-0.2x on PIL images and keras.utils.load_img exactly
 * (docs/imaging.md, "Presets"); the normalisation tables are computed in float32 in the order torch
 * and numpy evaluate them, so every float of the tensor is bit-identical. This file must be
 * compiled without FMA contraction (-ffp-contract=off) for the same reason. */
#include "image/image_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* torchvision's ImageNet statistics and Keras' caffe means (BGR). */
static const float TV_MEAN[3] = {0.485f, 0.456f, 0.406f};
static const float TV_STD[3] = {0.229f, 0.224f, 0.225f};
static const float CAFFE_MEAN_BGR[3] = {103.939f, 116.779f, 123.68f};

feat_status feat_preprocess_resolve(const feat_image_options *opts, feat_image_preset model_default_preset,
                                    uint32_t model_default_resize, feat_preprocess *out, feat_error *err)
{
    static const feat_image_options defaults; /* all zero: every field "default" */
    if (!out)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_preprocess_resolve: out is NULL");
    if (!opts)
        opts = &defaults;
    memset(out, 0, sizeof *out);
    feat_image_preset preset = opts->preset != FEAT_PRESET_DEFAULT ? opts->preset : model_default_preset;
    if (preset == FEAT_PRESET_DEFAULT)
        preset = FEAT_PRESET_TORCHVISION;
    if (preset != FEAT_PRESET_TORCHVISION && preset != FEAT_PRESET_KERAS_VGG16)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "unknown preprocessing preset %d", (int)preset);
    out->preset = preset;
    if (preset == FEAT_PRESET_TORCHVISION) {
        out->resize = opts->resize           ? opts->resize
                      : model_default_resize ? model_default_resize
                                             : FEAT_IMAGE_DEFAULT_RESIZE;
        if (out->resize > FEAT_IMAGE_MAX_TARGET)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "resize %u out of range 1..%u", out->resize,
                                  FEAT_IMAGE_MAX_TARGET);
    }
    if ((opts->crop_w == 0) != (opts->crop_h == 0))
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "crop %ux%u: give both sides or neither", opts->crop_w,
                              opts->crop_h);
    out->crop_w = opts->crop_w ? opts->crop_w : FEAT_IMAGE_DEFAULT_CROP;
    out->crop_h = opts->crop_h ? opts->crop_h : FEAT_IMAGE_DEFAULT_CROP;
    if (out->crop_w > FEAT_IMAGE_MAX_TARGET || out->crop_h > FEAT_IMAGE_MAX_TARGET)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "crop %ux%u out of range (max %u)", out->crop_w,
                              out->crop_h, FEAT_IMAGE_MAX_TARGET);
    out->interp = opts->interpolation != FEAT_INTERP_DEFAULT ? opts->interpolation
                  : preset == FEAT_PRESET_KERAS_VGG16        ? FEAT_INTERP_NEAREST
                                                             : FEAT_INTERP_BILINEAR;
    if (out->interp < FEAT_INTERP_NEAREST || out->interp > FEAT_INTERP_LANCZOS)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "unknown interpolation %d", (int)out->interp);
    out->bgr = preset == FEAT_PRESET_KERAS_VGG16;
    for (int c = 0; c < 3; c++) {
        if (preset == FEAT_PRESET_TORCHVISION) {
            out->mean[c] = opts->mean_set ? opts->mean[c] : TV_MEAN[c];
            out->std[c] = opts->std_set ? opts->std[c] : TV_STD[c];
            if (!(out->std[c] != 0.0f) || !isfinite(out->std[c]) || !isfinite(out->mean[c]))
                return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "mean/std channel %d: mean %g std %g not usable", c,
                                      (double)out->mean[c], (double)out->std[c]);
            /* torch: x.to(float32).div(255) then Normalize: sub_(mean).div_(std), each a
             * correctly rounded float32 operation. */
            for (int v = 0; v < 256; v++) {
                float x = (float)v / 255.0f;
                x = x - out->mean[c];
                out->lut[c][v] = x / out->std[c];
            }
        } else {
            out->mean[c] = opts->mean_set ? opts->mean[c] : CAFFE_MEAN_BGR[c];
            out->std[c] = 1.0f;
            if (!isfinite(out->mean[c]))
                return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "mean channel %d: %g not usable", c,
                                      (double)out->mean[c]);
            /* numpy float32 array minus a Python float: float32 subtraction. */
            for (int v = 0; v < 256; v++)
                out->lut[c][v] = (float)v - out->mean[c];
        }
    }
    out->exif_orientation = opts->exif_orientation != 0;
    out->max_pixels = opts->max_pixels ? opts->max_pixels : FEAT_IMAGE_DEFAULT_MAX_PIXELS;
    out->max_side = FEAT_IMAGE_MAX_SIDE;
    out->decode_mode = opts->decode_mode == FEAT_DECODE_FAST ? FEAT_DECODE_FAST : FEAT_DECODE_EXACT;
    return FEAT_OK;
}

size_t feat_preprocess_tensor_count(const feat_preprocess *pp) { return pp ? (size_t)3 * pp->crop_w * pp->crop_h : 0; }

feat_image_scratch *feat_image_scratch_new(void) { return calloc(1, sizeof(feat_image_scratch)); }

void feat_image_scratch_trim(feat_image_scratch *s)
{
    if (!s)
        return;
    feat_buf_free(&s->file);
    feat_buf_free(&s->pix);
    feat_buf_free(&s->pix2);
    feat_buf_free(&s->win);
    feat_buf_free(&s->tmp);
}

void feat_image_scratch_free(feat_image_scratch *s)
{
    feat_image_scratch_trim(s);
    free(s);
}

/* ---- EXIF orientation ------------------------------------------------------------------- */

feat_status feat_img_orient(const feat_img *src, int orientation, feat_buf *buf, feat_img *out, feat_error *err)
{
    const int ch = src->ch;
    const int swap = orientation >= 5; /* TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90 */
    const uint32_t W = src->w, H = src->h;
    const uint32_t ow = swap ? H : W, oh = swap ? W : H;
    const size_t stride = (size_t)ow * ch;
    if (feat_buf_reserve(buf, stride * oh))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory rotating a %ux%u image", W, H);
    for (uint32_t y = 0; y < oh; y++) {
        uint8_t *o = buf->p + (size_t)y * stride;
        for (uint32_t x = 0; x < ow; x++) {
            uint32_t sx, sy; /* Pillow's Image.transpose mapping, output (x, y) <- input (sx, sy) */
            switch (orientation) {
            case 2:
                sx = W - 1 - x;
                sy = y;
                break; /* FLIP_LEFT_RIGHT */
            case 3:
                sx = W - 1 - x;
                sy = H - 1 - y;
                break; /* ROTATE_180 */
            case 4:
                sx = x;
                sy = H - 1 - y;
                break; /* FLIP_TOP_BOTTOM */
            case 5:
                sx = y;
                sy = x;
                break; /* TRANSPOSE */
            case 6:
                sx = y;
                sy = H - 1 - x;
                break; /* ROTATE_270 */
            case 7:
                sx = W - 1 - y;
                sy = H - 1 - x;
                break; /* TRANSVERSE */
            case 8:
                sx = W - 1 - y;
                sy = x;
                break; /* ROTATE_90 */
            default:
                sx = x;
                sy = y;
                break;
            }
            memcpy(o + (size_t)x * ch, src->px + (size_t)sy * src->stride + (size_t)sx * ch, (size_t)ch);
        }
    }
    out->px = buf->p;
    out->w = ow;
    out->h = oh;
    out->ch = ch;
    out->stride = stride;
    return FEAT_OK;
}

/* ---- geometry --------------------------------------------------------------------------- */

/* Python's round() of d / 2 for d >= 0: half to even. */
static int64_t half_even_half(int64_t d)
{
    int64_t q = d >> 1;
    if ((d & 1) && (q & 1))
        q++;
    return q;
}

/* The resized size and the crop window (in resized coordinates) for an image of w x h. */
static feat_status plan(const feat_preprocess *pp, uint32_t w, uint32_t h, uint32_t *rw, uint32_t *rh, int64_t *wx0,
                        int64_t *wy0, feat_error *err)
{
    if (pp->preset == FEAT_PRESET_KERAS_VGG16) {
        /* load_img(target_size=(h, w)): squash to exactly the target, no crop. */
        *rw = pp->crop_w;
        *rh = pp->crop_h;
        *wx0 = *wy0 = 0;
        return FEAT_OK;
    }
    /* torchvision _compute_resized_output_size: new_long = int(S * long / short), one float64
     * division of exact integers, truncated. */
    const uint64_t S = pp->resize;
    uint64_t shortside = w <= h ? w : h, longside = w <= h ? h : w;
    double q = (double)(S * longside) / (double)shortside;
    if (q >= (double)INT32_MAX)
        return feat_error_set(
            err, FEAT_E_LIMIT,
            "image %ux%u is too elongated: resizing its shorter side to %u gives a side of %.0f pixels", w, h,
            pp->resize, q);
    uint32_t new_long = (uint32_t)q;
    *rw = w <= h ? (uint32_t)S : new_long;
    *rh = w <= h ? new_long : (uint32_t)S;
    /* center_crop: zero-pad a side shorter than the crop ((c - size) // 2 on the left/top),
     * otherwise crop_left = int(round((size - c) / 2.0)) with Python's half-to-even round. */
    *wx0 = pp->crop_w > *rw ? -(int64_t)((pp->crop_w - *rw) / 2) : half_even_half((int64_t)*rw - pp->crop_w);
    *wy0 = pp->crop_h > *rh ? -(int64_t)((pp->crop_h - *rh) / 2) : half_even_half((int64_t)*rh - pp->crop_h);
    return FEAT_OK;
}

/* Resize + crop + normalise an oriented image. (full_w, full_h) is the image size the
 * geometry is computed from; it differs from img's size only after FAST DCT scaling. */
static feat_status finish(const feat_preprocess *pp, feat_image_scratch *s, const feat_img *img, uint32_t full_w,
                          uint32_t full_h, float *dst, feat_error *err)
{
    uint32_t rw = 0, rh = 0;
    int64_t wx0 = 0, wy0 = 0;
    feat_status st = plan(pp, full_w, full_h, &rw, &rh, &wx0, &wy0, err);
    if (st)
        return st;
    const uint32_t cw = pp->crop_w, chh = pp->crop_h;
    const size_t plane = (size_t)cw * chh;
    if (feat_buf_reserve(&s->win, plane * img->ch))
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory for a %ux%u crop", cw, chh);
    st = feat_resize_window(img, rw, rh, pp->interp, wx0, wy0, cw, chh, s->win.p, s, err);
    if (st)
        return st;
    const uint8_t *win = s->win.p;
    for (int c = 0; c < 3; c++) {
        /* Output channel c takes source channel c (RGB) or 2 - c (BGR); gray replicates. */
        const int sc = img->ch == 1 ? 0 : pp->bgr ? 2 - c : c;
        const float *lut = pp->lut[c];
        float *o = dst + (size_t)c * plane;
        const uint8_t *p = win + sc;
        const int step = img->ch;
        for (size_t i = 0; i < plane; i++, p += step)
            o[i] = lut[*p];
    }
    return FEAT_OK;
}

/* What the decoder needs from a resolved preprocessing. */
static feat_decode_params decode_params(const feat_preprocess *pp)
{
    feat_decode_params dp = {0};
    dp.max_pixels = pp->max_pixels;
    dp.max_side = pp->max_side;
    dp.want_orientation = pp->exif_orientation;
    dp.fast = pp->decode_mode == FEAT_DECODE_FAST;
    if (!dp.fast || pp->interp == FEAT_INTERP_NEAREST) {
        /* Nearest neighbour samples single source pixels: on a DCT-downscaled grid it picks
         * other pixels (measured: up to 153 steps off on the mate photos), so FAST keeps
         * only the fast IDCT there. */
    } else if (pp->preset == FEAT_PRESET_TORCHVISION) {
        dp.fast_min_short = pp->resize;
    } else {
        /* EXIF may swap the sides; require the larger target on both. */
        uint32_t m = pp->crop_w > pp->crop_h ? pp->crop_w : pp->crop_h;
        dp.fast_min_w = dp.fast_min_h = m;
    }
    return dp;
}

int feat_preprocess_same_decode(const feat_preprocess *a, const feat_preprocess *b)
{
    feat_decode_params x = decode_params(a), y = decode_params(b);
    return x.max_pixels == y.max_pixels && x.max_side == y.max_side && x.want_orientation == y.want_orientation &&
           x.fast == y.fast && x.fast_min_short == y.fast_min_short && x.fast_min_w == y.fast_min_w &&
           x.fast_min_h == y.fast_min_h;
}

int feat_preprocess_equal(const feat_preprocess *a, const feat_preprocess *b)
{
    /* Field by field: the struct has padding, and the tables follow from mean/std/bgr. */
    return feat_preprocess_same_decode(a, b) && a->preset == b->preset && a->resize == b->resize &&
           a->crop_w == b->crop_w && a->crop_h == b->crop_h && a->interp == b->interp && a->bgr == b->bgr &&
           memcmp(a->lut, b->lut, sizeof a->lut) == 0;
}

feat_status feat_image_decode_s(const feat_preprocess *pp, feat_image_scratch *s, const uint8_t *data, size_t n,
                                feat_image_decoded *out, feat_error *err)
{
    if (!pp || !s || !out || (!data && n))
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "decode: NULL argument");
    feat_decode_params dp = decode_params(pp);
    feat_img img;
    int orientation = 1;
    uint32_t sw = 0, sh = 0;
    feat_status st = feat_decode(data, n, &dp, &s->pix, &img, &orientation, &sw, &sh, err);
    if (st)
        return st;
    if (orientation >= 2 && orientation <= 8) {
        feat_img o;
        st = feat_img_orient(&img, orientation, &s->pix2, &o, err);
        if (st)
            return st;
        img = o;
        if (orientation >= 5) {
            uint32_t t = sw;
            sw = sh;
            sh = t;
        }
    }
    const feat_img *im = &img;
    *out = (feat_image_decoded){im->px, im->w, im->h, im->ch, im->stride, sw, sh};
    return FEAT_OK;
}

feat_status feat_image_preprocess_decoded(const feat_preprocess *pp, feat_image_scratch *s, const feat_image_decoded *d,
                                          float *dst, feat_error *err)
{
    if (!pp || !s || !d || !dst)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: NULL argument");
    feat_img img = {d->px, d->w, d->h, d->ch, d->stride};
    return finish(pp, s, &img, d->full_w, d->full_h, dst, err);
}

static feat_status run_bytes(const feat_preprocess *pp, feat_image_scratch *s, const uint8_t *data, size_t n,
                             float *dst, feat_error *err)
{
    feat_image_decoded d;
    feat_status st = feat_image_decode_s(pp, s, data, n, &d, err);
    return st ? st : feat_image_preprocess_decoded(pp, s, &d, dst, err);
}

feat_status feat_image_preprocess_bytes_s(const feat_preprocess *pp, feat_image_scratch *scratch, const uint8_t *data,
                                          size_t n, float *dst, feat_error *err)
{
    if (!pp || !dst)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: %s is NULL", !pp ? "config" : "dst");
    if (!data && n)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: data is NULL with size %zu", n);
    if (scratch)
        return run_bytes(pp, scratch, data, n, dst, err);
    feat_image_scratch local = {0};
    feat_status st = run_bytes(pp, &local, data, n, dst, err);
    feat_image_scratch_trim(&local);
    return st;
}

feat_status feat_image_preprocess_bytes(const feat_preprocess *pp, const uint8_t *data, size_t n, float *dst,
                                        feat_error *err)
{
    return feat_image_preprocess_bytes_s(pp, NULL, data, n, dst, err);
}

feat_status feat_image_preprocess_rgb8_s(const feat_preprocess *pp, feat_image_scratch *scratch, const uint8_t *rgb,
                                         uint32_t w, uint32_t h, size_t stride, float *dst, feat_error *err)
{
    if (!pp || !dst || !rgb)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: %s is NULL",
                              !pp    ? "config"
                              : !dst ? "dst"
                                     : "pixels");
    if (w == 0 || h == 0)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: empty image %ux%u", w, h);
    if (stride == 0)
        stride = (size_t)w * 3;
    if (stride < (size_t)w * 3)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: stride %zu below 3 * width %u", stride, w);
    if (w > pp->max_side || h > pp->max_side || (uint64_t)w * h > pp->max_pixels)
        return feat_error_set(err, FEAT_E_LIMIT, "image %ux%u exceeds the pixel limit %llu or side limit %u", w, h,
                              (unsigned long long)pp->max_pixels, pp->max_side);
    feat_img img = {rgb, w, h, 3, stride};
    if (scratch)
        return finish(pp, scratch, &img, w, h, dst, err);
    feat_image_scratch local = {0};
    feat_status st = finish(pp, &local, &img, w, h, dst, err);
    feat_image_scratch_trim(&local);
    return st;
}

feat_status feat_image_preprocess_rgb8(const feat_preprocess *pp, const uint8_t *rgb, uint32_t w, uint32_t h,
                                       size_t stride, float *dst, feat_error *err)
{
    return feat_image_preprocess_rgb8_s(pp, NULL, rgb, w, h, stride, dst, err);
}

/* ---- files ------------------------------------------------------------------------------ */

/* Encoded files above this are refused before reading (no JPEG or PNG within the pixel
 * limit needs more). */
#define FEAT_IMAGE_MAX_FILE ((size_t)2 << 30)

/* Opens path for reading into *fd_out: a regular file within the size limit, in blocking
 * mode; *size gets its size. */
static feat_status open_image_file(const char *path, int *fd_out, size_t *size, feat_error *err)
{
    /* O_NONBLOCK: opening a FIFO without a writer would otherwise block forever (a hostile
     * directory can hold one); non-regular files are refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return feat_error_set(err, (e == ENOENT || e == ENOTDIR) ? FEAT_E_NOT_FOUND : FEAT_E_IO, "%s: cannot open: %s",
                              path, strerror(e));
    }
    struct stat sb;
    feat_status st = FEAT_OK;
    if (fstat(fd, &sb) != 0)
        st = feat_error_set(err, FEAT_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = feat_error_set(err, FEAT_E_IO, "%s: is a directory, not an image file", path);
    else if (!S_ISREG(sb.st_mode))
        st = feat_error_set(err, FEAT_E_IO,
                            "%s: not a regular file (a FIFO, socket or device); pass its bytes "
                            "with feat_image_extractor_extract_encoded instead",
                            path);
    else if ((uint64_t)sb.st_size > FEAT_IMAGE_MAX_FILE)
        st = feat_error_set(err, FEAT_E_LIMIT, "%s: file of %lld bytes is above the %zu-byte limit", path,
                            (long long)sb.st_size, FEAT_IMAGE_MAX_FILE);
    else {
        /* Back to blocking reads for the regular file. */
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        *size = (size_t)sb.st_size;
        *fd_out = fd;
        return FEAT_OK;
    }
    close(fd);
    return st;
}

/* Reads fd to its end into b (which grows if the file does), *len bytes. */
static feat_status read_all(int fd, const char *path, feat_buf *b, size_t *len, feat_error *err)
{
    for (;;) {
        if (*len == b->cap) {
            if (*len >= FEAT_IMAGE_MAX_FILE)
                return feat_error_set(err, FEAT_E_LIMIT, "%s: more than %zu bytes", path, FEAT_IMAGE_MAX_FILE);
            uint8_t *p = realloc(b->p, b->cap * 2);
            if (!p)
                return feat_error_set(err, FEAT_E_NOMEM, "%s: out of memory reading", path);
            b->p = p;
            b->cap *= 2;
        }
        ssize_t r = read(fd, b->p + *len, b->cap - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return feat_error_set(err, FEAT_E_IO, "%s: read error: %s", path, strerror(errno));
        if (r == 0)
            return FEAT_OK;
        *len += (size_t)r;
    }
}

feat_status feat_image_read_file(const char *path, feat_image_scratch *scratch, uint8_t **data, size_t *n,
                                 feat_error *err)
{
    if (!path || !data || !n)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "read file: %s is NULL", !path ? "path" : "output");
    *data = NULL;
    *n = 0;
    size_t size = 0, len = 0;
    int fd = -1;
    feat_status st = open_image_file(path, &fd, &size, err);
    if (st != FEAT_OK)
        return st;
    feat_buf local = {0};
    feat_buf *b = scratch ? &scratch->file : &local;
    /* The file's size (+1 to see EOF in one read); the buffer still grows if the file does. */
    st = feat_buf_reserve(b, size + 1)
             ? feat_error_set(err, FEAT_E_NOMEM, "%s: out of memory for %zu bytes", path, size + 1)
             : read_all(fd, path, b, &len, err);
    close(fd);
    if (st == FEAT_OK && len == 0)
        st = feat_error_set(err, FEAT_E_DECODE, "%s: empty file", path);
    if (st != FEAT_OK) {
        feat_buf_free(&local);
        return st;
    }
    *data = b->p;
    *n = len;
    return FEAT_OK;
}

feat_status feat_image_preprocess_path(const feat_preprocess *pp, feat_image_scratch *scratch, const char *path,
                                       float *dst, feat_error *err)
{
    if (!pp || !dst || !path)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "preprocess: %s is NULL",
                              !pp    ? "config"
                              : !dst ? "dst"
                                     : "path");
    feat_image_scratch local = {0};
    feat_image_scratch *s = scratch ? scratch : &local;
    uint8_t *data;
    size_t n;
    feat_status st = feat_image_read_file(path, s, &data, &n, err);
    if (st == FEAT_OK) {
        st = run_bytes(pp, s, data, n, dst, err);
        if (st)
            feat_error_prefix(err, "%s", path);
    }
    if (!scratch)
        feat_image_scratch_trim(&local);
    return st;
}
