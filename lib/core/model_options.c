/* SPDX-License-Identifier: MIT */
/* The option fields and checks that image and text options share (core/model_options.h). */
#include "core/model_options.h"

#include <stdlib.h>
#include <string.h>

feat_status feat_option_ok(void)
{
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

feat_status feat_option_check_object(const void *opts, const char *fn)
{
    return opts ? feat_option_ok() : feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: opts is NULL", fn);
}

feat_status feat_option_check_enum(const void *opts, const char *fn, int value, int last, const char *what)
{
    feat_status st = feat_option_check_object(opts, fn);
    if (st == FEAT_OK && (value < 0 || value > last))
        st = feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: unknown value %d", what, value);
    return st;
}

feat_status feat_option_check_range(const void *opts, const char *fn, uint64_t value, uint64_t lo, uint64_t hi,
                                    const char *what)
{
    feat_status st = feat_option_check_object(opts, fn);
    if (st == FEAT_OK && value != 0 && (value < lo || value > hi))
        st = feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s %llu out of range: %llu..%llu, or 0 for the default", what,
                                (unsigned long long)value, (unsigned long long)lo, (unsigned long long)hi);
    return st;
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

feat_status feat_option_set_string(char **slot, const char *value, const char *what)
{
    int failed = 0;
    char *copy = value && *value ? dup_or_null(value, &failed) : NULL;
    if (failed)
        return feat_error_set_tls(FEAT_E_NOMEM, "%s: out of memory", what);
    free(*slot);
    *slot = copy;
    return feat_option_ok();
}

feat_status feat_options_dup(const void *src, size_t size, void **out, const char *fn)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    feat_model_options *o = calloc(1, size);
    if (!o)
        return feat_error_set_tls(FEAT_E_NOMEM, "%s: out of memory", fn);
    if (src) {
        const feat_model_options *from = src;
        int failed = 0;
        memcpy(o, src, size);
        o->taps = dup_or_null(from->taps, &failed);
        o->device = dup_or_null(from->device, &failed);
        if (failed) {
            feat_options_free(o);
            return feat_error_set_tls(FEAT_E_NOMEM, "%s: out of memory copying strings", fn);
        }
    }
    *out = o;
    return feat_option_ok();
}

void feat_options_free(void *opts)
{
    feat_model_options *o = opts;
    if (!o)
        return;
    free(o->taps);
    free(o->device);
    free(o);
}

feat_status feat_model_options_set_fusion(feat_model_options *o, const char *fn, feat_fusion fusion)
{
    feat_status st = feat_option_check_enum(o, fn, (int)fusion, FEAT_FUSION_MEAN, "fusion");
    if (st == FEAT_OK)
        o->fusion = fusion;
    return st;
}

feat_status feat_model_options_set_batch_size(feat_model_options *o, const char *fn, uint32_t batch_size)
{
    feat_status st = feat_option_check_range(o, fn, batch_size, 1, FEAT_MAX_BATCH_SIZE, "batch_size");
    if (st == FEAT_OK)
        o->batch_size = batch_size;
    return st;
}

/* "cpu", "cuda" or "cuda:N": syntax only, whether the device exists is known at load. */
static int device_syntax_ok(const char *device)
{
    if (!device || !*device || strcmp(device, "cpu") == 0 || strcmp(device, "cuda") == 0)
        return 1;
    if (strncmp(device, "cuda:", 5) != 0 || !device[5] || strlen(device) > 10)
        return 0;
    for (const char *p = device + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

feat_status feat_model_options_set_device(feat_model_options *o, const char *fn, const char *device)
{
    feat_status st = feat_option_check_object(o, fn);
    if (st != FEAT_OK)
        return st;
    if (!device_syntax_ok(device))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "device '%s' not understood: use \"cpu\" or \"cuda:N\"",
                                  device);
    return feat_option_set_string(&o->device, device, "device");
}

feat_status feat_model_options_set_precision(feat_model_options *o, const char *fn, feat_precision precision)
{
    feat_status st = feat_option_check_object(o, fn);
    if (st != FEAT_OK)
        return st;
    if ((int)precision < FEAT_PRECISION_DEFAULT || (int)precision > FEAT_PRECISION_BF16)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                  "precision %d not understood: use FEAT_PRECISION_DEFAULT (0), _FP32 (1) or _BF16 (2)",
                                  (int)precision);
    o->precision = precision;
    return FEAT_OK;
}
