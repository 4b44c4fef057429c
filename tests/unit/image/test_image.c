/* SPDX-License-Identifier: MIT */
/* Imaging unit tests without Python: option validation, decode error paths and limits, tiny
 * and elongated images, buffer queries, file errors, concurrency. Test images are made here
 * (libjpeg for JPEG, zlib + hand-written chunks for PNG) so every corruption is deliberate.
 * Pixel parity with Pillow is tested in test_preprocess_parity.py. */
#include "../check.h"

#include "feat/image.h"
#include "image/image_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <zlib.h>

/* ---- test image makers ------------------------------------------------------------------ */

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

/* A w x h JPEG (comps 1 or 3) with a smooth gradient, baseline unless progressive. */
static bytes make_jpeg(int w, int h, int comps, int progressive)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long outn = 0;
    jpeg_mem_dest(&c, &out, &outn);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * comps);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w * comps; x++)
            row[x] = (unsigned char)((x * 7 + (int)c.next_scanline * 3) & 255);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return (bytes){out, outn};
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Appends a PNG chunk with a correct CRC. */
static size_t chunk(unsigned char *dst, const char *type, const unsigned char *data, uint32_t n)
{
    put32(dst, n);
    memcpy(dst + 4, type, 4);
    if (n)
        memcpy(dst + 8, data, n);
    uLong crc = crc32(0, dst + 4, n + 4);
    put32(dst + 8 + n, (uint32_t)crc);
    return 12 + (size_t)n;
}

/* An 8-bit RGB PNG whose IHDR says w x h; the IDAT holds real data only when the size is
 * small (big headers are for the limit checks, which must fire before any pixel is read). */
static bytes make_png(uint32_t w, uint32_t h)
{
    size_t raw_n = (uint64_t)h * (1 + 3 * (uint64_t)w) <= (1u << 24) ? (size_t)h * (1 + 3 * (size_t)w) : 16;
    unsigned char *raw = calloc(1, raw_n);
    for (size_t i = 0; i < raw_n; i++)
        raw[i] = (i % (1 + 3 * (size_t)w) == 0) ? 0 : (unsigned char)(i * 13);
    uLongf zn = compressBound((uLong)raw_n);
    unsigned char *z = malloc(zn);
    compress(z, &zn, raw, (uLong)raw_n);
    unsigned char *out = malloc(8 + 25 + 12 + zn + 12);
    size_t n = 0;
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    unsigned char ihdr[13];
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0;
    n += chunk(out + n, "IHDR", ihdr, 13);
    n += chunk(out + n, "IDAT", z, (uint32_t)zn);
    n += chunk(out + n, "IEND", NULL, 0);
    free(raw);
    free(z);
    return (bytes){out, n};
}

/* Offset of the first JPEG marker m (0xFFm) after SOI, or 0. */
static size_t find_marker(const bytes *b, unsigned char m)
{
    for (size_t i = 2; i + 1 < b->n; i++)
        if (b->p[i] == 0xFF && b->p[i + 1] == m)
            return i;
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static float out_buf[3 * 224 * 224];

static feat_status pp_encoded(const feat_image_options *o, const bytes *b)
{
    return feat_image_preprocess_encoded(o, b->p, b->n, out_buf, sizeof out_buf / sizeof *out_buf, NULL);
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_options(void)
{
    feat_image_options *o = NULL;
    CHECK_EQ_INT(feat_image_options_new(NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_new(&o), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_preset(NULL, FEAT_PRESET_TORCHVISION), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "opts is NULL");
    CHECK_EQ_INT(feat_image_options_set_preset(o, (feat_image_preset)7), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "7");
    CHECK_EQ_INT(feat_image_options_set_preset(o, FEAT_PRESET_KERAS_VGG16), FEAT_OK);
    CHECK_EQ_INT(strlen(feat_last_error()), 0);
    CHECK_EQ_INT(feat_image_options_set_resize(o, 70000), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_resize(o, 232), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_crop(o, 10, 0), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_crop(o, 100000, 10), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_crop(o, 0, 0), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_interpolation(o, (feat_interpolation)5), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_interpolation(o, FEAT_INTERP_LANCZOS), FEAT_OK);
    float mean[3] = {0.5f, 0.5f, 0.5f}, bad_std[3] = {1.0f, 0.0f, 1.0f}, nan_mean[3] = {0, NAN, 0};
    CHECK_EQ_INT(feat_image_options_set_mean_std(o, mean, bad_std), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "std[1]");
    CHECK_EQ_INT(feat_image_options_set_mean_std(o, nan_mean, NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_mean_std(o, mean, NULL), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_exif_orientation(o, 2), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_exif_orientation(o, 1), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_decode_mode(o, (feat_decode_mode)3), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_fusion(o, (feat_fusion)3), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_batch_size(o, 1u << 20), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_decode_threads(o, 5000), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_device(o, "gpu"), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "gpu");
    CHECK_EQ_INT(feat_image_options_set_device(o, "cuda:1"), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_precision(o, (feat_precision)3), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_precision(o, (feat_precision)-1), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_precision(o, FEAT_PRECISION_BF16), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_taps(o, "features.29:gap"), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_taps(o, "a\x01"), FEAT_E_INVALID_ARGUMENT);
    /* One batch limit, checked when set (the extractor used to accept up to 65536 here and
     * refuse anything above 4096 only at load). */
    CHECK_EQ_INT(feat_image_options_set_batch_size(o, 4097), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "1..4096");
    CHECK_EQ_INT(feat_image_options_set_batch_size(o, 4096), FEAT_OK);
    CHECK_EQ_INT(feat_image_options_set_batch_size(o, 0), FEAT_OK);
    /* The tap grammar is checked when set; the paths only at load. */
    CHECK_EQ_INT(feat_image_options_set_taps(o, "features.29:avg"), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "avg");
    CHECK_EQ_INT(feat_image_options_set_taps(o, "features..1"), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_taps(o, "   "), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_options_set_taps(NULL, "features.1"), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(feat_last_error(), "feat_image_options_set_taps: opts is NULL");
    CHECK_EQ_INT(feat_image_options_set_taps(o, "features.29:gap"), FEAT_OK);
    CHECK(feat_last_error()[0] == '\0');

    feat_image_options *c = NULL;
    CHECK_EQ_INT(feat_image_options_copy(o, &c), FEAT_OK);
    CHECK(c && c->model.taps && c->model.taps != o->model.taps && strcmp(c->model.taps, "features.29:gap") == 0);
    CHECK(c && c->model.device && strcmp(c->model.device, "cuda:1") == 0);
    CHECK(c && c->preset == FEAT_PRESET_KERAS_VGG16 && c->resize == 232 && c->mean_set && !c->std_set);
    feat_image_options_free(c);

    /* resolve: explicit option > model default > built-in default */
    feat_preprocess pp;
    feat_error err = {0};
    CHECK_EQ_INT(feat_preprocess_resolve(NULL, FEAT_PRESET_DEFAULT, 0, &pp, &err), FEAT_OK);
    CHECK(pp.preset == FEAT_PRESET_TORCHVISION && pp.resize == 256 && pp.crop_w == 224 && pp.crop_h == 224);
    CHECK(pp.interp == FEAT_INTERP_BILINEAR && !pp.bgr && pp.max_pixels == 178956970ull);
    CHECK_EQ_INT(feat_preprocess_resolve(NULL, FEAT_PRESET_TORCHVISION, 232, &pp, &err), FEAT_OK);
    CHECK_EQ_INT(pp.resize, 232);
    CHECK_EQ_INT(feat_preprocess_resolve(NULL, FEAT_PRESET_KERAS_VGG16, 0, &pp, &err), FEAT_OK);
    CHECK(pp.preset == FEAT_PRESET_KERAS_VGG16 && pp.interp == FEAT_INTERP_NEAREST && pp.bgr);
    CHECK(pp.lut[0][0] == -103.939f && pp.lut[2][255] == 255.0f - 123.68f);
    feat_image_options_free(o);
    feat_image_options_free(NULL);
}

static void test_buffer_and_null(void)
{
    size_t need = 0;
    CHECK_EQ_INT(feat_image_preprocess_encoded(NULL, "", 0, NULL, 0, &need), FEAT_E_BUFFER_TOO_SMALL);
    CHECK_EQ_INT(need, 3 * 224 * 224);
    CHECK_STR_HAS(feat_last_error(), "150528");
    CHECK_EQ_INT(feat_image_preprocess_file(NULL, "/nonexistent", out_buf, 10, &need), FEAT_E_BUFFER_TOO_SMALL);
    CHECK_EQ_INT(feat_image_preprocess_file(NULL, NULL, out_buf, 3 * 224 * 224, NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_preprocess_encoded(NULL, NULL, 10, out_buf, 3 * 224 * 224, NULL), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_preprocess_encoded(NULL, "x", 1, NULL, 3 * 224 * 224, NULL), FEAT_E_INVALID_ARGUMENT);

    feat_preprocess pp;
    feat_error err = {0};
    feat_preprocess_resolve(NULL, 0, 0, &pp, &err);
    unsigned char px[12] = {0};
    CHECK_EQ_INT(feat_image_preprocess_bytes(NULL, px, 12, out_buf, &err), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_preprocess_bytes(&pp, px, 12, NULL, &err), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_preprocess_rgb8(&pp, NULL, 2, 2, 0, out_buf, &err), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_preprocess_rgb8(&pp, px, 0, 2, 0, out_buf, &err), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_image_preprocess_rgb8(&pp, px, 2, 2, 5, out_buf, &err), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(err.msg, "stride 5");
    CHECK_EQ_INT(feat_preprocess_resolve(NULL, 0, 0, NULL, &err), FEAT_E_INVALID_ARGUMENT);
}

static void test_decode_errors(void)
{
    feat_image_options *o;
    feat_image_options_new(&o);
    bytes empty = {(unsigned char *)"", 0};
    CHECK_EQ_INT(pp_encoded(o, &empty), FEAT_E_DECODE);
    CHECK_STR_HAS(feat_last_error(), "empty file");

    unsigned char rnd[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) {
        s = s * 1103515245u + 12345u;
        rnd[i] = (unsigned char)(s >> 16);
    }
    rnd[0] = 0x13; /* not accidentally a signature */
    bytes r = {rnd, sizeof rnd};
    CHECK_EQ_INT(pp_encoded(o, &r), FEAT_E_DECODE);
    CHECK_STR_HAS(feat_last_error(), "not a JPEG or PNG");

    static const struct {
        const char *sig;
        size_t n;
        const char *name;
    } formats[] = {
        {"GIF89a\x01\x00\x01\x00\x00\x00\x00", 13, "GIF"},
        {"RIFF\x10\x00\x00\x00WEBPVP8 ", 16, "WebP"},
        {"II*\x00\x08\x00\x00\x00\x00\x00", 10, "TIFF"},
        {"MM\x00*\x00\x00\x00\x08\x00\x00", 10, "TIFF"},
        {"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00", 26,
         "BMP"},
        {"\x00\x00\x00\x1c"
         "ftypavif\x00\x00\x00\x00",
         16, "AVIF"},
    };
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        bytes b = {(unsigned char *)formats[i].sig, formats[i].n};
        CHECK_EQ_INT(pp_encoded(o, &b), FEAT_E_UNSUPPORTED);
        CHECK_STR_HAS(feat_last_error(), formats[i].name);
    }

    /* truncated JPEGs (baseline and progressive) at several cuts: never an image */
    for (int prog = 0; prog < 2; prog++) {
        bytes j = make_jpeg(300, 200, 3, prog);
        CHECK_EQ_INT(pp_encoded(o, &j), FEAT_OK);
        size_t cuts[] = {2, 3, 20, j.n / 3, j.n / 2, j.n - 200};
        for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
            bytes t = {j.p, cuts[k]};
            feat_status st = pp_encoded(o, &t);
            CHECK_EQ_INT(st, FEAT_E_DECODE);
            if (k >= 3)
                CHECK_STR_HAS(feat_last_error(), "truncated");
        }
        /* Only the EOI marker missing: Pillow 9.4 raises "image file is truncated" too. */
        bytes no_eoi = {j.p, j.n - 2};
        CHECK_EQ_INT(pp_encoded(o, &no_eoi), FEAT_E_DECODE);
        free(j.p);
    }

    /* 12-bit JPEG: patch the SOF precision byte */
    bytes j = make_jpeg(16, 16, 3, 0);
    size_t sof = find_marker(&j, 0xC0);
    CHECK(sof > 0);
    j.p[sof + 4] = 12;
    CHECK_EQ_INT(pp_encoded(o, &j), FEAT_E_UNSUPPORTED);
    CHECK_STR_HAS(feat_last_error(), "JPEG");
    /* 65000 x 65000 JPEG header: over the pixel limit before any allocation */
    j.p[sof + 4] = 8;
    j.p[sof + 5] = 0xFD, j.p[sof + 6] = 0xE8, j.p[sof + 7] = 0xFD, j.p[sof + 8] = 0xE8;
    CHECK_EQ_INT(pp_encoded(o, &j), FEAT_E_LIMIT);
    CHECK_STR_HAS(feat_last_error(), "65000x65000");
    free(j.p);

    /* PNG with a bad CRC (IHDR, then IDAT) */
    bytes p = make_png(5, 4);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_OK);
    p.p[8 + 8 + 3] ^= 1; /* IHDR data changed, CRC not */
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_DECODE);
    CHECK_STR_HAS(feat_last_error(), "CRC");
    p.p[8 + 8 + 3] ^= 1;
    p.p[8 + 25 + 8] ^= 0x40; /* first IDAT byte */
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_DECODE);
    p.p[8 + 25 + 8] ^= 0x40;
    bytes pt = {p.p, p.n - 20}; /* truncated inside IDAT */
    CHECK_EQ_INT(pp_encoded(o, &pt), FEAT_E_DECODE);
    free(p.p);

    /* 100000 x 100000 PNG: 10^10 pixels */
    p = make_png(100000, 100000);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_LIMIT);
    CHECK_STR_HAS(feat_last_error(), "100000x100000");
    free(p.p);
    /* a side over the per-side limit even with few pixels */
    p = make_png(2000000, 1);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_LIMIT);
    free(p.p);
    /* zero width: malformed */
    p = make_png(0, 5);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_DECODE);
    free(p.p);

    /* the configurable pixel limit */
    p = make_png(100, 100);
    CHECK_EQ_INT(feat_image_options_set_max_pixels(o, 9999), FEAT_OK);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_LIMIT);
    CHECK_STR_HAS(feat_last_error(), "9999");
    CHECK_EQ_INT(feat_image_options_set_max_pixels(o, 10000), FEAT_OK);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_OK);
    free(p.p);
    feat_image_options_free(o);
}

static void test_small_and_elongated(void)
{
    feat_image_options *o;
    feat_image_options_new(&o);
    const int sizes[][2] = {{1, 1}, {2, 3}, {1, 5000}, {5000, 1}, {7, 4000}};
    for (int k = 0; k < 2; k++) {
        if (k)
            feat_image_options_set_preset(o, FEAT_PRESET_KERAS_VGG16);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            bytes p = make_png((uint32_t)sizes[i][0], (uint32_t)sizes[i][1]);
            for (size_t q = 0; q < 3 * 224 * 224; q++)
                out_buf[q] = NAN;
            CHECK_EQ_INT(pp_encoded(o, &p), FEAT_OK);
            CHECK(all_finite(out_buf, 3 * 224 * 224));
            free(p.p);
            bytes j = make_jpeg(sizes[i][0], sizes[i][1], 1 + 2 * (int)(i & 1), 0);
            CHECK_EQ_INT(pp_encoded(o, &j), FEAT_OK);
            CHECK(all_finite(out_buf, 3 * 224 * 224));
            free(j.p);
        }
    }
    /* A 1-pixel image upsamples to a constant: the exact normalised value of each channel. */
    feat_preprocess pp;
    feat_error err = {0};
    feat_preprocess_resolve(NULL, 0, 0, &pp, &err);
    const uint8_t px[3] = {200, 100, 0};
    CHECK_EQ_INT(feat_image_preprocess_rgb8(&pp, px, 1, 1, 0, out_buf, &err), FEAT_OK);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; c++) {
        float expect = ((float)px[c] / 255.0f - mean[c]) / std[c];
        CHECK(out_buf[(size_t)c * 224 * 224] == expect && out_buf[(size_t)c * 224 * 224 + 224 * 224 - 1] == expect);
    }
    /* An elongation whose resized side does not fit in 31 bits is refused, not allocated. */
    feat_image_options_set_preset(o, FEAT_PRESET_TORCHVISION);
    feat_image_options_set_resize(o, 65535);
    bytes p = make_png(1, 900000);
    CHECK_EQ_INT(pp_encoded(o, &p), FEAT_E_LIMIT);
    CHECK_STR_HAS(feat_last_error(), "elongated");
    free(p.p);
    feat_image_options_free(o);
}

static void test_files(void)
{
    char dir[] = "/tmp/feat_image_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    CHECK_EQ_INT(feat_image_preprocess_file(NULL, "/nonexistent/x.jpg", out_buf, 3 * 224 * 224, NULL),
                 FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(feat_last_error(), "/nonexistent/x.jpg");
    CHECK_EQ_INT(feat_image_preprocess_file(NULL, dir, out_buf, 3 * 224 * 224, NULL), FEAT_E_IO);
    CHECK_STR_HAS(feat_last_error(), "directory");
    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    FILE *f = fopen(path, "wb");
    fclose(f);
    CHECK_EQ_INT(feat_image_preprocess_file(NULL, path, out_buf, 3 * 224 * 224, NULL), FEAT_E_DECODE);
    CHECK_STR_HAS(feat_last_error(), "empty file");
    unlink(path);
    snprintf(path, sizeof path, "%s/ok.jpg", dir);
    bytes j = make_jpeg(50, 40, 3, 1);
    f = fopen(path, "wb");
    fwrite(j.p, 1, j.n, f);
    fclose(f);
    CHECK_EQ_INT(feat_image_preprocess_file(NULL, path, out_buf, 3 * 224 * 224, NULL), FEAT_OK);
    CHECK_EQ_INT(strlen(feat_last_error()), 0);
    /* the file path and the in-memory path agree */
    static float b2[3 * 224 * 224];
    CHECK_EQ_INT(feat_image_preprocess_encoded(NULL, j.p, j.n, b2, 3 * 224 * 224, NULL), FEAT_OK);
    CHECK(memcmp(out_buf, b2, sizeof b2) == 0);
    if (geteuid() != 0) { /* root reads anything */
        chmod(path, 0);
        CHECK_EQ_INT(feat_image_preprocess_file(NULL, path, out_buf, 3 * 224 * 224, NULL), FEAT_E_IO);
    }
    unlink(path);
    rmdir(dir);
    free(j.p);
}

/* Several threads on one resolved config, each with its own scratch and output. */
typedef struct job {
    const feat_preprocess *pp;
    const bytes *img;
    float *out;
    int rounds;
    feat_status st;
} job;

static void *worker(void *arg)
{
    job *jb = arg;
    feat_image_scratch *s = feat_image_scratch_new();
    feat_error err = {0};
    jb->st = FEAT_OK;
    for (int r = 0; r < jb->rounds && jb->st == FEAT_OK; r++)
        jb->st = feat_image_preprocess_bytes_s(jb->pp, s, jb->img->p, jb->img->n, jb->out, &err);
    feat_image_scratch_free(s);
    return NULL;
}

static void test_threads(void)
{
    feat_preprocess pp;
    feat_error err = {0};
    feat_preprocess_resolve(NULL, 0, 0, &pp, &err);
    bytes imgs[2] = {make_jpeg(640, 480, 3, 1), make_png(300, 400)};
    static float serial[2][3 * 224 * 224], par[4][3 * 224 * 224];
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(feat_image_preprocess_bytes(&pp, imgs[i].p, imgs[i].n, serial[i], &err), FEAT_OK);
    pthread_t t[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){&pp, &imgs[i & 1], par[i], 5, FEAT_OK};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(jobs[i].st, FEAT_OK);
        CHECK(memcmp(par[i], serial[i & 1], sizeof par[i]) == 0);
    }
    free(imgs[0].p);
    free(imgs[1].p);
}

/* Random byte damage anywhere (headers included) must end in a status, never a crash or a
 * hang; run under ASan/UBSan this is a small deterministic fuzz pass. */
static void test_mutations(void)
{
    bytes src[3] = {make_jpeg(120, 90, 3, 1), make_jpeg(64, 48, 1, 0), make_png(70, 50)};
    uint32_t s = 99;
    int outcomes[4] = {0};
    for (int k = 0; k < 3; k++) {
        unsigned char *b = malloc(src[k].n);
        for (int round = 0; round < 150; round++) {
            memcpy(b, src[k].p, src[k].n);
            int flips = 1 + round % 4;
            for (int f = 0; f < flips; f++) {
                s = s * 1103515245u + 12345u;
                size_t pos = (s >> 8) % src[k].n;
                s = s * 1103515245u + 12345u;
                b[pos] = (unsigned char)(s >> 16);
            }
            bytes m = {b, src[k].n - (size_t)(round % 7 == 0 ? (s >> 4) % (src[k].n / 2) : 0)};
            feat_status st = pp_encoded(NULL, &m);
            CHECK(st == FEAT_OK || st == FEAT_E_DECODE || st == FEAT_E_UNSUPPORTED || st == FEAT_E_LIMIT);
            outcomes[st == FEAT_OK ? 0 : st == FEAT_E_DECODE ? 1 : st == FEAT_E_UNSUPPORTED ? 2 : 3]++;
            if (st == FEAT_OK)
                CHECK(all_finite(out_buf, 3 * 224 * 224));
            else
                CHECK(strlen(feat_last_error()) > 0);
        }
        free(b);
        free(src[k].p);
    }
    CHECK(outcomes[0] > 0 && outcomes[1] > 0);
}

int main(void)
{
    test_options();
    test_buffer_and_null();
    test_decode_errors();
    test_small_and_elongated();
    test_files();
    test_threads();
    test_mutations();
    return check_report("test_image");
}
