/* SPDX-License-Identifier: MIT */
/* Decoding: JPEG with the libjpeg API of libjpeg-turbo, PNG with libpng's low-level API.
 *
 * Both produce what Pillow's Image.open(p).convert("RGB") produces, sample for sample
 * (docs/imaging.md, "Decoding"): libjpeg's defaults (ISLOW IDCT, fancy upsampling, block smoothing)
 * as Pillow leaves them; Adobe-inverted CMYK through Pillow's cmyk2rgb; PNG alpha dropped
 * without compositing, 16-bit samples reduced as Pillow's unpackers do. Gray images stay one
 * channel here and are replicated at the very end, which is the same integer math.
 *
 * The libjpeg API rather than TurboJPEG because we need the things TurboJPEG 2.x hides: the
 * exact warning code for truncation (Pillow rejects truncated files but accepts other
 * corrupt-data warnings), the APP1 EXIF marker, the precision and component count before
 * decoding, and a memory cap for progressive coefficient buffers. */
#include "image/image_priv.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

int feat_buf_reserve(feat_buf *b, size_t n)
{
    if (n <= b->cap && b->p)
        return 0;
    if (n == 0)
        n = 1;
    uint8_t *p = malloc(n);
    if (!p)
        return -1;
    free(b->p);
    b->p = p;
    b->cap = n;
    return 0;
}

void feat_buf_free(feat_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}

/* ---- limits ----------------------------------------------------------------------------- */

static feat_status check_size(const char *fmt, uint32_t w, uint32_t h, const feat_decode_params *p, feat_error *err)
{
    if (w == 0 || h == 0)
        return feat_error_set(err, FEAT_E_DECODE, "%s header gives an empty image (%ux%u)", fmt, w, h);
    if (w > p->max_side || h > p->max_side)
        return feat_error_set(err, FEAT_E_LIMIT, "%s image %ux%u exceeds the side limit %u", fmt, w, h, p->max_side);
    uint64_t px = (uint64_t)w * h;
    if (px > p->max_pixels)
        return feat_error_set(err, FEAT_E_LIMIT,
                              "%s image %ux%u has %llu pixels, above the limit %llu (decompression bomb guard)", fmt, w,
                              h, (unsigned long long)px, (unsigned long long)p->max_pixels);
    return FEAT_OK;
}

/* w * h * ch bytes, or 0 when that does not fit in size_t (never on 64-bit after the limits). */
static size_t img_bytes(uint32_t w, uint32_t h, int ch)
{
    uint64_t row = (uint64_t)w * (uint64_t)ch;
    if (h && row > SIZE_MAX / h)
        return 0;
    return (size_t)(row * h);
}

/* ---- EXIF ------------------------------------------------------------------------------- */

static uint32_t rd16(const uint8_t *p, int be) { return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int feat_exif_orientation(const uint8_t *p, size_t n)
{
    if (n < 8)
        return 1;
    int be;
    if (p[0] == 'I' && p[1] == 'I' && p[2] == 42 && p[3] == 0)
        be = 0;
    else if (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && p[3] == 42)
        be = 1;
    else
        return 1;
    uint32_t ifd = rd32(p + 4, be);
    if (ifd > n || n - ifd < 2)
        return 1;
    uint32_t count = rd16(p + ifd, be);
    size_t pos = (size_t)ifd + 2;
    int orientation = 1;
    for (uint32_t i = 0; i < count; i++, pos += 12) {
        if (pos > n || n - pos < 12)
            break;
        if (rd16(p + pos, be) != 0x0112)
            continue;
        uint32_t type = rd16(p + pos + 2, be), cnt = rd32(p + pos + 4, be);
        uint32_t v;
        if (type == 3 && cnt >= 1) /* SHORT, stored in the first two bytes of the value field */
            v = rd16(p + pos + 8, be);
        else if (type == 4 && cnt == 1) /* LONG: Pillow reads it as a number as well */
            v = rd32(p + pos + 8, be);
        else
            continue;
        /* Like exif_transpose: values outside 1..8 mean "no transform". The last entry wins,
         * as in Pillow's dict-backed IFD. */
        orientation = (v >= 1 && v <= 8) ? (int)v : 1;
    }
    return orientation;
}

/* ---- JPEG ------------------------------------------------------------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int eof_warnings; /* JWRN_JPEG_EOF: the data ended early (truncated file) */
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Pillow's output_message is a no-op and it ignores every warning, except that a file that
 * ends early raises "image file is truncated"; count that one, drop the rest. */
static void jpeg_emit_message_cb(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0) {
        e->pub.num_warnings++;
        if (e->pub.msg_code == JWRN_JPEG_EOF)
            e->eof_warnings++;
    }
}

static void jpeg_output_message_cb(j_common_ptr cinfo) { (void)cinfo; }

/* Progressive JPEGs with thousands of scans are a known CPU denial of service; TurboJPEG's
 * TJFLAG_LIMITSCANS uses the same bound. */
#define FEAT_JPEG_MAX_SCANS 500

typedef struct jpeg_prog {
    struct jpeg_progress_mgr pub;
    j_decompress_ptr cinfo;
} jpeg_prog;

static void jpeg_progress_cb(j_common_ptr c)
{
    jpeg_prog *pr = (jpeg_prog *)c->progress;
    if (pr->cinfo->input_scan_number > FEAT_JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)c->err;
        snprintf(e->msg, sizeof e->msg, "progressive JPEG has more than %d scans", FEAT_JPEG_MAX_SCANS);
        longjmp(e->jb, 2);
    }
}

/* Pillow's cmyk2rgb on Adobe-inverted CMYK ("CMYK;I"): invert, then
 * R = clip(nk - nk*C/255) with MULDIV255's rounding. */
static void cmyk_row_to_rgb(uint8_t *dst, const uint8_t *src, uint32_t w)
{
    for (uint32_t x = 0; x < w; x++, src += 4, dst += 3) {
        int nk = 255 - (255 - src[3]);
        for (int c = 0; c < 3; c++) {
            int t = (255 - src[c]) * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            dst[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* Largest DCT-domain reduction 1/d (d in 8, 4, 2) that keeps the decoded size at least twice
 * the resize target, so the exact resampler still does the final (antialiased) reduction. */
static unsigned fast_denom(const feat_decode_params *p, uint32_t w, uint32_t h)
{
    if (!p->fast_min_short && !p->fast_min_w)
        return 1;
    for (unsigned d = 8; d >= 2; d /= 2) {
        uint32_t sw = (w + d - 1) / d, sh = (h + d - 1) / d;
        uint32_t s = sw < sh ? sw : sh;
        if (p->fast_min_short && (uint64_t)s >= 2ull * p->fast_min_short)
            return d;
        if (!p->fast_min_short && p->fast_min_w && (uint64_t)sw >= 2ull * p->fast_min_w &&
            (uint64_t)sh >= 2ull * p->fast_min_h)
            return d;
    }
    return 1;
}

static feat_status decode_jpeg(const uint8_t *data, size_t n, const feat_decode_params *p, feat_buf *pix, feat_img *out,
                               int *orientation, uint32_t *src_w, uint32_t *src_h, feat_error *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    jpeg_prog prog;
    uint8_t *volatile cmyk_row = NULL;
    feat_status st = FEAT_OK;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_error_exit_cb;
    jerr.pub.emit_message = jpeg_emit_message_cb;
    jerr.pub.output_message = jpeg_output_message_cb;
    jerr.eof_warnings = 0;
    jerr.msg[0] = '\0';
    int jmp = setjmp(jerr.jb);
    if (jmp) {
        int code = jerr.pub.msg_code;
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        if (jmp == 2)
            return feat_error_set(err, FEAT_E_LIMIT, "%s", jerr.msg);
        /* Pillow cannot open these either ("cannot handle N-bit layers", unsupported SOF). */
        if (code == JERR_BAD_PRECISION || code == JERR_SOF_UNSUPPORTED || code == JERR_NOT_COMPILED)
            return feat_error_set(err, FEAT_E_UNSUPPORTED, "unsupported JPEG variant: %s", jerr.msg);
        if (code == JERR_OUT_OF_MEMORY || code == JERR_NO_BACKING_STORE)
            return feat_error_set(err, FEAT_E_LIMIT, "JPEG needs more memory than allowed: %s", jerr.msg);
        if (jerr.eof_warnings)
            return feat_error_set(err, FEAT_E_DECODE, "JPEG data is truncated (%s)", jerr.msg);
        return feat_error_set(err, FEAT_E_DECODE, "corrupt JPEG: %s", jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    prog.pub.progress_monitor = jpeg_progress_cb;
    prog.cinfo = &cinfo;
    cinfo.progress = &prog.pub;
    /* jpeg_mem_src takes an unsigned long size. */
    if ((unsigned long long)n > ULONG_MAX) {
        jpeg_destroy_decompress(&cinfo);
        return feat_error_set(err, FEAT_E_LIMIT, "JPEG data of %zu bytes is too large", n);
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)n);
    if (p->want_orientation)
        jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK || jerr.eof_warnings) {
        jpeg_destroy_decompress(&cinfo);
        return feat_error_set(err, FEAT_E_DECODE, "JPEG data is truncated before the image header ends");
    }
    if (cinfo.data_precision != 8) {
        jpeg_destroy_decompress(&cinfo);
        return feat_error_set(err, FEAT_E_UNSUPPORTED, "unsupported JPEG: %d-bit samples (only 8-bit)",
                              cinfo.data_precision);
    }
    st = check_size("JPEG", cinfo.image_width, cinfo.image_height, p, err);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    *src_w = cinfo.image_width;
    *src_h = cinfo.image_height;
    int cmyk = 0;
    switch (cinfo.num_components) {
    case 1: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 3: cinfo.out_color_space = JCS_EXT_RGB; break;
    case 4:
        /* Pillow opens every 4-component JPEG as Adobe-inverted CMYK; libjpeg turns YCCK into
         * CMYK itself. */
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        jpeg_destroy_decompress(&cinfo);
        return feat_error_set(err, FEAT_E_UNSUPPORTED, "unsupported JPEG with %d components", cinfo.num_components);
    }
    if (p->want_orientation) {
        for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
            if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
                /* Pillow keeps the first Exif APP1 block. */
                *orientation = feat_exif_orientation(m->data + 6, m->data_length - 6);
                break;
            }
        }
    }
    if (p->fast) {
        unsigned d = fast_denom(p, cinfo.image_width, cinfo.image_height);
        cinfo.scale_num = 1;
        cinfo.scale_denom = d;
        cinfo.dct_method = JDCT_IFAST;
    }
    /* Progressive files keep all coefficients in memory (2 bytes per sample); the pixel limit
     * already bounds that, this keeps a hostile header from asking for more. */
#if LONG_MAX > 0xFFFFFFFFL
    cinfo.mem->max_memory_to_use = 4L << 30;
#else
    cinfo.mem->max_memory_to_use = LONG_MAX;
#endif
    jpeg_calc_output_dimensions(&cinfo);
    uint32_t ow = cinfo.output_width, oh = cinfo.output_height;
    int ch = cinfo.num_components == 1 ? 1 : 3;
    size_t need = img_bytes(ow, oh, ch);
    if (!need || feat_buf_reserve(pix, need)) {
        jpeg_destroy_decompress(&cinfo);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory for a %ux%u JPEG", ow, oh);
    }
    if (cmyk) {
        cmyk_row = malloc((size_t)ow * 4);
        if (!cmyk_row) {
            jpeg_destroy_decompress(&cinfo);
            return feat_error_set(err, FEAT_E_NOMEM, "out of memory for a %ux%u JPEG", ow, oh);
        }
    }
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)ow * ch;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *row = pix->p + (size_t)cinfo.output_scanline * stride;
        if (cmyk) {
            JSAMPROW r = cmyk_row;
            if (jpeg_read_scanlines(&cinfo, &r, 1) != 1)
                break;
            cmyk_row_to_rgb(row, cmyk_row, ow);
        } else {
            JSAMPROW rows[16];
            JDIMENSION k = 0, left = cinfo.output_height - cinfo.output_scanline;
            for (; k < 16 && k < left; k++)
                rows[k] = row + (size_t)k * stride;
            if (jpeg_read_scanlines(&cinfo, rows, k) == 0)
                break;
        }
    }
    int complete = cinfo.output_scanline == cinfo.output_height;
    free(cmyk_row);
    cmyk_row = NULL;
    /* Reading up to the EOI marker: Pillow raises "image file is truncated" when only the EOI
     * is missing too (measured with Pillow 9.4), and libjpeg reports that as JWRN_JPEG_EOF. */
    if (complete)
        jpeg_finish_decompress(&cinfo);
    int truncated = jerr.eof_warnings;
    jpeg_destroy_decompress(&cinfo);
    if (truncated || !complete)
        return feat_error_set(err, FEAT_E_DECODE, "JPEG data is truncated (image file ends before all %u rows)",
                              cinfo.output_height);
    out->px = pix->p;
    out->w = ow;
    out->h = oh;
    out->ch = ch;
    out->stride = stride;
    return FEAT_OK;
}

/* ---- PNG -------------------------------------------------------------------------------- */

typedef struct png_src {
    const uint8_t *data;
    size_t n, pos;
    char msg[256];
} png_src;

static void png_read_cb(png_structp png, png_bytep out, size_t len)
{
    png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->pos)
        png_error(png, "PNG data is truncated");
    memcpy(out, s->data + s->pos, len);
    s->pos += len;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (s && !s->msg[0])
        snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* like Pillow, ancillary oddities do not stop decoding */
}

/* Chunk decompression cap (zTXt/iTXt/iCCP): Debian's libpng default, Pillow's MAX_TEXT_CHUNK
 * is of the same order. */
#define FEAT_PNG_CHUNK_MALLOC_MAX 8000000
#define FEAT_PNG_CHUNK_CACHE_MAX 1000

static feat_status decode_png(const uint8_t *data, size_t n, const feat_decode_params *p, feat_buf *pix, feat_img *out,
                              int *orientation, uint32_t *src_w, uint32_t *src_h, feat_error *err)
{
    /* The size limits are checked on the IHDR bytes first: libpng reports a size over its
     * user limit only as "Invalid IHDR data", and the message should say which limit. */
    if (n >= 33 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w0 = rd32(data + 16, 1), h0 = rd32(data + 20, 1);
        if (w0 && h0) {
            feat_status st0 = check_size("PNG", w0, h0, p, err);
            if (st0)
                return st0;
        }
    }
    png_src src = {data, n, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
    if (!png)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory creating a PNG reader");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory creating a PNG reader");
    }
    uint8_t *volatile raw = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(raw);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (strstr(src.msg, "exceeds user limit") || strstr(src.msg, "too large"))
            return feat_error_set(err, FEAT_E_LIMIT, "PNG exceeds a limit: %s", src.msg);
        return feat_error_set(err, FEAT_E_DECODE, "corrupt PNG: %s", src.msg[0] ? src.msg : "decode error");
    }
    png_set_read_fn(png, &src, png_read_cb);
    png_set_user_limits(png, p->max_side, p->max_side);
    png_set_chunk_malloc_max(png, FEAT_PNG_CHUNK_MALLOC_MAX);
    png_set_chunk_cache_max(png, FEAT_PNG_CHUNK_CACHE_MAX);
    /* Pillow verifies the CRC of every chunk it parses before the image data and raises on a
     * mismatch; libpng would only warn for ancillary chunks. (Pillow skips IDAT CRCs; we do
     * not, so a corrupt IDAT CRC is an error here, never a silently different image.) */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    feat_status st = check_size("PNG", w, h, p, err);
    if (st) {
        png_destroy_read_struct(&png, &info, NULL);
        return st;
    }
    *src_w = w;
    *src_h = h;
    if (p->want_orientation) {
        png_uint_32 exif_n = 0;
        png_bytep exif = NULL;
        if (png_get_eXIf_1(png, info, &exif_n, &exif) && exif)
            *orientation = feat_exif_orientation(exif, exif_n);
    }

    /* Palette: expand indices to bytes and look them up ourselves: Pillow's palette has 256
     * entries, unset ones (i, i, i), and ignores tRNS in convert("RGB"). */
    uint8_t pal[256][3];
    int gray16 = 0;
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_colorp plte = NULL;
        int nplte = 0;
        for (int i = 0; i < 256; i++)
            pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
        if (png_get_PLTE(png, info, &plte, &nplte) && plte)
            for (int i = 0; i < nplte && i < 256; i++) {
                pal[i][0] = plte[i].red;
                pal[i][1] = plte[i].green;
                pal[i][2] = plte[i].blue;
            }
        if (depth < 8)
            png_set_packing(png);
    } else if (ctype == PNG_COLOR_TYPE_GRAY) {
        if (depth < 8)
            png_set_expand_gray_1_2_4_to_8(png); /* same x255 / x85 / x17 scaling as Pillow */
        else if (depth == 16)
            gray16 = 1; /* Pillow: mode "I", convert("RGB") clamps to 255; keep 16 bits */
    } else if (depth == 16) {
        png_set_strip_16(png); /* RGB;16B etc.: Pillow keeps the high byte; truncation */
    }
    int passes = png_set_interlace_handling(png);
    (void)passes;
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int nch = png_get_channels(png, info);
    if (h && rowbytes > SIZE_MAX / h) {
        png_destroy_read_struct(&png, &info, NULL);
        return feat_error_set(err, FEAT_E_LIMIT, "PNG image %ux%u is too large", w, h);
    }
    raw = malloc(rowbytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    int out_ch = (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) ? 1 : 3;
    size_t need = img_bytes(w, h, out_ch);
    if (!raw || !rows || !need || feat_buf_reserve(pix, need)) {
        free(raw);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory for a %ux%u PNG", w, h);
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = raw + (size_t)y * rowbytes;
    png_read_image(png, rows);
    /* No png_read_end: Pillow does not look at chunks after the image data either. */

    size_t stride = (size_t)w * out_ch;
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *r = rows[y];
        uint8_t *d = pix->p + (size_t)y * stride;
        if (ctype == PNG_COLOR_TYPE_PALETTE) {
            for (png_uint_32 x = 0; x < w; x++, d += 3)
                memcpy(d, pal[r[x]], 3);
        } else if (gray16) {
            for (png_uint_32 x = 0; x < w; x++) {
                unsigned v = (unsigned)r[2 * x] << 8 | r[2 * x + 1];
                d[x] = (uint8_t)(v > 255 ? 255 : v);
            }
        } else if (nch == out_ch) {
            memcpy(d, r, stride);
        } else {
            /* LA -> L, RGBA -> RGB: Pillow's la2rgb / rgba2rgb drop alpha, no compositing. */
            for (png_uint_32 x = 0; x < w; x++)
                memcpy(d + (size_t)x * out_ch, r + (size_t)x * nch, (size_t)out_ch);
        }
    }
    free(raw);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->px = pix->p;
    out->w = w;
    out->h = h;
    out->ch = out_ch;
    out->stride = stride;
    return FEAT_OK;
}

/* ---- format detection ------------------------------------------------------------------- */

static int has(const uint8_t *d, size_t n, size_t off, const char *sig, size_t len)
{
    return n >= off + len && memcmp(d + off, sig, len) == 0;
}

/* Name of a recognised image format we do not decode, or NULL. */
static const char *other_format(const uint8_t *d, size_t n)
{
    if (has(d, n, 0, "GIF87a", 6) || has(d, n, 0, "GIF89a", 6))
        return "GIF";
    if (has(d, n, 0, "RIFF", 4) && has(d, n, 8, "WEBP", 4))
        return "WebP";
    if (has(d, n, 0, "II*\0", 4) || has(d, n, 0, "MM\0*", 4))
        return "TIFF";
    if (has(d, n, 0, "BM", 2) && n >= 26)
        return "BMP";
    if (has(d, n, 0, "\0\0\0\x0cjP  \r\n\x87\n", 12) || has(d, n, 0, "\xff\x4f\xff\x51", 4))
        return "JPEG 2000";
    if (has(d, n, 0, "\xff\x0a", 2) || has(d, n, 0, "\0\0\0\x0cJXL \r\n\x87\n", 12))
        return "JPEG XL";
    if (has(d, n, 4, "ftyp", 4)) {
        if (has(d, n, 8, "avif", 4) || has(d, n, 8, "avis", 4))
            return "AVIF";
        if (has(d, n, 8, "heic", 4) || has(d, n, 8, "heix", 4) || has(d, n, 8, "mif1", 4) || has(d, n, 8, "msf1", 4))
            return "HEIF";
    }
    if (has(d, n, 0, "8BPS", 4))
        return "PSD";
    if (has(d, n, 0, "qoif", 4))
        return "QOI";
    if (has(d, n, 0, "\0\0\1\0", 4) && n >= 22)
        return "ICO";
    if (has(d, n, 0, "\x8aMNG\r\n\x1a\n", 8))
        return "MNG";
    if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' && (d[2] == '\n' || d[2] == ' ' || d[2] == '\r'))
        return "PNM";
    if (has(d, n, 0, "%PDF", 4))
        return "PDF";
    if (has(d, n, 0, "<svg", 4) || has(d, n, 0, "<?xml", 5))
        return "SVG/XML";
    return NULL;
}

feat_status feat_decode(const uint8_t *data, size_t n, const feat_decode_params *p, feat_buf *pix, feat_img *out,
                        int *orientation, uint32_t *src_w, uint32_t *src_h, feat_error *err)
{
    *orientation = 1;
    if (!data || n == 0)
        return feat_error_set(err, FEAT_E_DECODE, "empty file");
    if (has(data, n, 0, "\xff\xd8\xff", 3))
        return decode_jpeg(data, n, p, pix, out, orientation, src_w, src_h, err);
    if (has(data, n, 0, "\x89PNG\r\n\x1a\n", 8))
        return decode_png(data, n, p, pix, out, orientation, src_w, src_h, err);
    const char *f = other_format(data, n);
    if (f)
        return feat_error_set(err, FEAT_E_UNSUPPORTED, "unsupported image format %s (only JPEG and PNG)", f);
    if (n < 8 && (has(data, n, 0, "\xff\xd8", n < 2 ? n : 2) || has(data, n, 0, "\x89PNG", n < 4 ? n : 4)))
        return feat_error_set(err, FEAT_E_DECODE, "image data is truncated (%zu bytes)", n);
    return feat_error_set(err, FEAT_E_DECODE, "not a JPEG or PNG image (first bytes %02x %02x %02x %02x; %zu bytes)",
                          data[0], n > 1 ? data[1] : 0, n > 2 ? data[2] : 0, n > 3 ? data[3] : 0, n);
}
