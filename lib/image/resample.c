/* SPDX-License-Identifier: MIT */
/* Pillow-exact resizing, restricted to a window of the output.
 *
 * BILINEAR / BICUBIC / LANCZOS port Pillow's src/libImaging/Resample.c (8-bit path):
 * coefficients in double, normalised, quantised to 22 fractional bits; the horizontal pass
 * runs first and is rounded and clamped to uint8 before the vertical pass. NEAREST ports
 * Image.resize's affine path (Pillow's Geometry.c, ImagingScaleAffine), whose source coordinate
 * is accumulated in double: the closed form picks other pixels for some sizes (docs/imaging.md,
 * "Presets").
 *
 * Every output sample depends only on its own row of the intermediate image and its own
 * column of the source, so computing just the crop window gives the same bytes as resizing
 * everything and cropping afterwards (docs/imaging.md, "Presets"). This file must be
 * compiled without FMA contraction (-ffp-contract=off): the coefficients are rounded to 22
 * bits and a fused multiply-add can move one across a rounding boundary. */
#include "image/image_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#  define M_PI 3.14159265358979323846
#endif

#define PRECISION_BITS (32 - 8 - 2)

typedef struct filter {
    double (*fn)(double x);
    double support;
} filter;

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static double bicubic_filter(double x)
{
    /* Keys' cubic with a = -0.5, written exactly as Pillow does (operation order matters). */
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x)
{
    /* truncated sinc, as Pillow: -3 <= x < 3 */
    if (-3.0 <= x && x < 3.0)
        return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

static const filter FILTER_BILINEAR = {bilinear_filter, 1.0};
static const filter FILTER_BICUBIC = {bicubic_filter, 2.0};
static const filter FILTER_LANCZOS = {lanczos_filter, 3.0};

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for output indices [o0, o1) of an
 * outSize-long axis (box 0..inSize). bounds[2*i] = first source index, bounds[2*i+1] = tap
 * count; kk[i*ksize ..] = 22-bit integer weights. Returns ksize, or -1 when out of memory. */
static int precompute(const filter *f, uint32_t inSize, uint32_t outSize, uint32_t o0, uint32_t o1, int **boundsp,
                      int32_t **kkp)
{
    /* box edges are float in Pillow (in0 = 0, in1 = inSize); the difference is exact */
    float in0 = 0.0f, in1 = (float)inSize;
    double scale = (double)(in1 - in0) / outSize;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    size_t n = (size_t)(o1 - o0);
    double *k = malloc((size_t)ksize * sizeof(double));
    int *bounds = malloc(n * 2 * sizeof(int) + 1);
    int32_t *kk = malloc(n * (size_t)ksize * sizeof(int32_t) + 1);
    if (!k || !bounds || !kk) {
        free(k);
        free(bounds);
        free(kk);
        return -1;
    }
    for (uint32_t xx = o0; xx < o1; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > (int)inSize)
            xmax = (int)inSize;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                k[x] /= ww;
        int32_t *kq = kk + (size_t)(xx - o0) * ksize;
        for (x = 0; x < ksize; x++) {
            double v = x < xmax ? k[x] : 0.0;
            kq[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[(xx - o0) * 2 + 0] = xmin;
        bounds[(xx - o0) * 2 + 1] = xmax;
    }
    free(k);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

/* Pillow's clip8: arithmetic shift then clamp (its lookup table covers the same range). */
static inline uint8_t clip8(int32_t v)
{
    int32_t s = v >> PRECISION_BITS;
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

/* Source rows [*r0, *r1) that the vertical pass reads for output rows cy0..cy1. */
static void vertical_rows(const int *bv, uint32_t cy0, uint32_t cy1, uint32_t *r0, uint32_t *r1)
{
    *r0 = (uint32_t)bv[0];
    *r1 = (uint32_t)(bv[(cy1 - cy0 - 1) * 2] + bv[(cy1 - cy0 - 1) * 2 + 1]);
    for (uint32_t i = 0; i < cy1 - cy0; i++) {
        if ((uint32_t)bv[2 * i] < *r0)
            *r0 = (uint32_t)bv[2 * i];
        if ((uint32_t)(bv[2 * i] + bv[2 * i + 1]) > *r1)
            *r1 = (uint32_t)(bv[2 * i] + bv[2 * i + 1]);
    }
}

/* Horizontal pass over source rows r0..r1: ncols output columns per row into o (ncols * ch
 * bytes a row), Pillow's ImagingResampleHorizontal_8bpc. */
static void horizontal_pass(const feat_img *src, uint32_t r0, uint32_t r1, uint32_t ncols, const int *bh,
                            const int32_t *kh, int ksh, uint8_t *out)
{
    const int ch = src->ch;
    const size_t out_stride = (size_t)ncols * ch;
    for (uint32_t y = r0; y < r1; y++) {
        const uint8_t *in = src->px + (size_t)y * src->stride;
        uint8_t *o = out + (size_t)(y - r0) * out_stride;
        for (uint32_t i = 0; i < ncols; i++) {
            const int xmin = bh[2 * i], xmax = bh[2 * i + 1];
            const int32_t *k = kh + (size_t)i * ksh;
            const uint8_t *p = in + (size_t)xmin * ch;
            if (ch == 3) {
                int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++, p += 3) {
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                o[3 * i] = clip8(s0);
                o[3 * i + 1] = clip8(s1);
                o[3 * i + 2] = clip8(s2);
            } else {
                int32_t s0 = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < xmax; x++)
                    s0 += p[x] * k[x];
                o[i] = clip8(s0);
            }
        }
    }
}

/* Vertical pass (ImagingResampleVertical_8bpc): output rows 0..rows-1 of `row_bytes` bytes from
 * mid, whose first row holds source row mid_r0. */
static void vertical_pass(const uint8_t *mid, size_t mid_stride, uint32_t mid_r0, uint32_t rows, size_t row_bytes,
                          const int *bv, const int32_t *kv, int ksv, uint8_t *dst, size_t dst_stride)
{
    for (uint32_t j = 0; j < rows; j++) {
        uint8_t *o = dst + (size_t)j * dst_stride;
        const int ymin = bv[2 * j], ymax = bv[2 * j + 1];
        const int32_t *k = kv + (size_t)j * ksv;
        for (size_t i = 0; i < row_bytes; i++) {
            int32_t s0 = 1 << (PRECISION_BITS - 1);
            const uint8_t *p = mid + (size_t)(ymin - (int)mid_r0) * mid_stride + i;
            for (int y = 0; y < ymax; y++, p += mid_stride)
                s0 += *p * k[y];
            o[i] = clip8(s0);
        }
    }
}

static feat_status resize_conv(const feat_img *src, uint32_t out_w, uint32_t out_h, const filter *f, uint32_t cx0,
                               uint32_t cx1, uint32_t cy0, uint32_t cy1, uint8_t *dst, size_t dst_stride,
                               feat_image_scratch *s, feat_error *err)
{
    const int ch = src->ch;
    const int need_h = out_w != src->w, need_v = out_h != src->h;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh = 0, ksv = 0;
    feat_status st = FEAT_OK;
    if (need_h && (ksh = precompute(f, src->w, out_w, cx0, cx1, &bh, &kh)) < 0)
        goto nomem;
    if (need_v && (ksv = precompute(f, src->h, out_h, cy0, cy1, &bv, &kv)) < 0)
        goto nomem;
    uint32_t r0 = cy0, r1 = cy1;
    if (need_v)
        vertical_rows(bv, cy0, cy1, &r0, &r1);
    const uint32_t ncols = cx1 - cx0;
    /* Intermediate image: rows r0..r1 of the horizontally resized image, window columns. */
    const uint8_t *mid = src->px + (size_t)cx0 * ch;
    size_t mid_stride = src->stride;
    uint32_t mid_r0 = 0; /* source row held in mid's first row */
    if (need_h) {
        mid_stride = (size_t)ncols * ch;
        if (feat_buf_reserve(&s->tmp, mid_stride * (r1 - r0)))
            goto nomem;
        horizontal_pass(src, r0, r1, ncols, bh, kh, ksh, s->tmp.p);
        mid = s->tmp.p;
        mid_r0 = r0;
    }
    if (need_v)
        vertical_pass(mid, mid_stride, mid_r0, cy1 - cy0, (size_t)ncols * ch, bv, kv, ksv, dst, dst_stride);
    else
        for (uint32_t j = 0; j < cy1 - cy0; j++)
            memcpy(dst + (size_t)j * dst_stride, mid + (size_t)(cy0 + j - mid_r0) * mid_stride, (size_t)ncols * ch);
    goto done;
nomem:
    st = feat_error_set(err, FEAT_E_NOMEM, "out of memory resizing %ux%u to %ux%u", src->w, src->h, out_w, out_h);
done:
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    return st;
}

/* Image.resize(NEAREST) -> ImagingScaleAffine with a[0] = in/out, a[2] = 0: the source index
 * of output x is (int)xo with xo = a[0]*0.5 accumulated by += a[0] (x times). */
static feat_status resize_nearest(const feat_img *src, uint32_t out_w, uint32_t out_h, uint32_t cx0, uint32_t cx1,
                                  uint32_t cy0, uint32_t cy1, uint8_t *dst, size_t dst_stride, feat_error *err)
{
    const int ch = src->ch;
    /* box is float in Pillow: (double)(box[2] - box[0]) / xsize with float box edges */
    const double a0 = (double)((float)src->w - 0.0f) / out_w;
    const double a4 = (double)((float)src->h - 0.0f) / out_h;
    int32_t *xin = malloc((size_t)(cx1 - cx0) * sizeof *xin + 1);
    if (!xin)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory resizing %ux%u", src->w, src->h);
    double xo = 0.0 + a0 * 0.5;
    for (uint32_t x = 0; x < cx1; x++) {
        if (x >= cx0) {
            int v = xo < 0.0 ? -1 : (int)xo;
            xin[x - cx0] = (v >= 0 && (uint32_t)v < src->w) ? v : -1;
        }
        xo += a0;
    }
    double yo = 0.0 + a4 * 0.5;
    for (uint32_t y = 0; y < cy1; y++) {
        if (y >= cy0) {
            uint8_t *o = dst + (size_t)(y - cy0) * dst_stride;
            int yi = yo < 0.0 ? -1 : (int)yo;
            if (yi < 0 || (uint32_t)yi >= src->h) {
                memset(o, 0, (size_t)(cx1 - cx0) * ch); /* Pillow's fill value */
            } else {
                const uint8_t *in = src->px + (size_t)yi * src->stride;
                for (uint32_t i = 0; i < cx1 - cx0; i++) {
                    if (xin[i] < 0)
                        memset(o + (size_t)i * ch, 0, (size_t)ch);
                    else
                        memcpy(o + (size_t)i * ch, in + (size_t)xin[i] * ch, (size_t)ch);
                }
            }
        }
        yo += a4;
    }
    free(xin);
    return FEAT_OK;
}

feat_status feat_resize_window(const feat_img *src, uint32_t out_w, uint32_t out_h, feat_interpolation interp,
                               int64_t wx0, int64_t wy0, uint32_t ww, uint32_t wh, uint8_t *dst, feat_image_scratch *s,
                               feat_error *err)
{
    const int ch = src->ch;
    const size_t dst_stride = (size_t)ww * ch;
    /* The part of the window that lies inside the resized image; the rest is zero padding. */
    int64_t x0 = wx0 < 0 ? 0 : wx0, y0 = wy0 < 0 ? 0 : wy0;
    int64_t x1 = wx0 + ww > (int64_t)out_w ? (int64_t)out_w : wx0 + ww;
    int64_t y1 = wy0 + wh > (int64_t)out_h ? (int64_t)out_h : wy0 + wh;
    if (x1 <= x0 || y1 <= y0) {
        memset(dst, 0, dst_stride * wh);
        return FEAT_OK;
    }
    if (x0 != wx0 || y0 != wy0 || x1 != wx0 + ww || y1 != wy0 + wh)
        memset(dst, 0, dst_stride * wh);
    uint8_t *d = dst + (size_t)(y0 - wy0) * dst_stride + (size_t)(x0 - wx0) * ch;
    uint32_t cx0 = (uint32_t)x0, cx1 = (uint32_t)x1, cy0 = (uint32_t)y0, cy1 = (uint32_t)y1;

    if (out_w == src->w && out_h == src->h) { /* Pillow returns a copy; no resampling */
        for (uint32_t y = cy0; y < cy1; y++)
            memcpy(d + (size_t)(y - cy0) * dst_stride, src->px + (size_t)y * src->stride + (size_t)cx0 * ch,
                   (size_t)(cx1 - cx0) * ch);
        return FEAT_OK;
    }
    switch (interp) {
    case FEAT_INTERP_NEAREST: return resize_nearest(src, out_w, out_h, cx0, cx1, cy0, cy1, d, dst_stride, err);
    case FEAT_INTERP_BILINEAR:
        return resize_conv(src, out_w, out_h, &FILTER_BILINEAR, cx0, cx1, cy0, cy1, d, dst_stride, s, err);
    case FEAT_INTERP_BICUBIC:
        return resize_conv(src, out_w, out_h, &FILTER_BICUBIC, cx0, cx1, cy0, cy1, d, dst_stride, s, err);
    case FEAT_INTERP_LANCZOS:
        return resize_conv(src, out_w, out_h, &FILTER_LANCZOS, cx0, cx1, cy0, cy1, d, dst_stride, s, err);
    default: return feat_error_set(err, FEAT_E_INTERNAL, "unresolved interpolation %d", (int)interp);
    }
}
