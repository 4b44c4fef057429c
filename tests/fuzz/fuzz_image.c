/* SPDX-License-Identifier: MIT */
/* libFuzzer target: decode + preprocess of untrusted bytes (JPEG, PNG, anything else).
 * Built three times with different seed corpora: fuzz_jpeg, fuzz_png (exact decode, the
 * torchvision preset) and fuzz_preprocess, where the first input byte also picks the preset,
 * interpolation, EXIF handling, decode mode and crop size. */
#include "image/image_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static feat_image_scratch *scratch;
    if (!scratch)
        scratch = feat_image_scratch_new();
    feat_image_options *o;
    if (feat_image_options_new(&o) != FEAT_OK)
        return 0;
    /* Keep the work per input small: a 32x32 output and a 4-megapixel decode limit. */
    feat_image_options_set_crop(o, 32, 32);
    feat_image_options_set_resize(o, 36);
    feat_image_options_set_max_pixels(o, 4u << 20);
#ifdef FUZZ_OPTIONS
    if (size) {
        uint8_t k = data[0];
        feat_image_options_set_preset(o, (feat_image_preset)(1 + (k & 1)));
        feat_image_options_set_interpolation(o, (feat_interpolation)(1 + ((k >> 1) & 3)));
        feat_image_options_set_exif_orientation(o, (k >> 3) & 1);
        feat_image_options_set_decode_mode(o, (k >> 4) & 1 ? FEAT_DECODE_FAST : FEAT_DECODE_EXACT);
        feat_image_options_set_crop(o, 1 + (k >> 5) * 9, 1 + (k >> 5) * 7);
        data++;
        size--;
    }
#endif
    feat_preprocess pp;
    feat_error err = {0};
    if (feat_preprocess_resolve(o, FEAT_PRESET_DEFAULT, 0, &pp, &err) == FEAT_OK) {
        float *dst = malloc(feat_preprocess_tensor_count(&pp) * sizeof *dst);
        if (dst)
            feat_image_preprocess_bytes_s(&pp, scratch, data, size, dst, &err);
        free(dst);
    }
    feat_image_options_free(o);
    return 0;
}
