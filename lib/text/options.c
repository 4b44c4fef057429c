/* feat_text_options: typed setters with range checks (errors go to the thread slot because an
 * options object has no error slot of its own). */
#include "text/text_options.h"

#include "core/error.h"
#include "core/option_checks.h"

#include <stdlib.h>
#include <string.h>

feat_status feat_text_options_new(feat_text_options **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_text_options_new: out is NULL");
    return feat_text_options_copy(NULL, out);
}

void feat_text_options_free(feat_text_options *opts)
{
    if (!opts)
        return;
    free(opts->taps);
    free(opts->device);
    free(opts);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        *failed = 1;
    else
        memcpy(d, s, n);
    return d;
}

feat_status feat_text_options_copy(const feat_text_options *src, feat_text_options **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_text_options_copy: out is NULL");
    *out = NULL;
    feat_text_options *o = calloc(1, sizeof *o);
    if (!o)
        return feat_error_set_tls(FEAT_E_NOMEM, "text options: out of memory");
    if (src) {
        int failed = 0;
        *o = *src;
        o->taps = dup_or_null(src->taps, &failed);
        o->device = dup_or_null(src->device, &failed);
        if (failed) {
            feat_text_options_free(o);
            return feat_error_set_tls(FEAT_E_NOMEM, "text options: out of memory copying strings");
        }
    }
    *out = o;
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

#define NEED_OPTS(fn)                                                                              \
    do {                                                                                           \
        if (!opts)                                                                                 \
            return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, fn ": opts is NULL");                \
    } while (0)

static feat_status ok(void)
{
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

feat_status feat_text_options_set_lowercase(feat_text_options *opts, feat_tristate lowercase)
{
    NEED_OPTS("feat_text_options_set_lowercase");
    if ((int)lowercase < FEAT_TRISTATE_DEFAULT || (int)lowercase > FEAT_TRISTATE_OFF)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "lowercase: unknown tristate value %d", (int)lowercase);
    opts->lowercase = lowercase;
    return ok();
}

feat_status feat_text_options_set_strip_accents(feat_text_options *opts, feat_tristate strip)
{
    NEED_OPTS("feat_text_options_set_strip_accents");
    if ((int)strip < FEAT_TRISTATE_DEFAULT || (int)strip > FEAT_TRISTATE_OFF)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "strip_accents: unknown tristate value %d", (int)strip);
    opts->strip_accents = strip;
    return ok();
}

feat_status feat_text_options_set_max_length(feat_text_options *opts, uint32_t max_length)
{
    NEED_OPTS("feat_text_options_set_max_length");
    /* [CLS] and [SEP] alone need 2; pairs need 3, which the tokenizer checks per call. Token
     * indices are int32 in the outputs, hence the upper bound. */
    if (max_length != 0 && (max_length < 2 || max_length > (uint32_t)INT32_MAX))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                  "max_length %u out of range: need 2..%d ([CLS] and [SEP] count), or 0 for the default",
                                  max_length, INT32_MAX);
    opts->max_length = max_length;
    return ok();
}

feat_status feat_text_options_set_truncation(feat_text_options *opts, feat_truncation strategy)
{
    NEED_OPTS("feat_text_options_set_truncation");
    if ((int)strategy < FEAT_TRUNCATE_DEFAULT || (int)strategy > FEAT_TRUNCATE_NONE)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "truncation: unknown strategy %d", (int)strategy);
    opts->truncation = strategy;
    return ok();
}

feat_status feat_text_options_set_window_stride(feat_text_options *opts, uint32_t stride)
{
    NEED_OPTS("feat_text_options_set_window_stride");
    /* The stride must also be below max_length - 2; that is checked when both are known. */
    if (stride > (uint32_t)INT32_MAX)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "window stride %u out of range", stride);
    opts->window_stride = stride;
    return ok();
}

feat_status feat_text_options_set_window_pooling(feat_text_options *opts, feat_window_pooling pooling)
{
    NEED_OPTS("feat_text_options_set_window_pooling");
    if ((int)pooling < FEAT_WINDOW_DEFAULT || (int)pooling > FEAT_WINDOW_FIRST)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "window pooling: unknown value %d", (int)pooling);
    opts->window_pooling = pooling;
    return ok();
}

feat_status feat_text_options_set_utf8_policy(feat_text_options *opts, feat_utf8_policy policy)
{
    NEED_OPTS("feat_text_options_set_utf8_policy");
    if ((int)policy < FEAT_UTF8_DEFAULT || (int)policy > FEAT_UTF8_REPLACE)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "utf8 policy: unknown value %d", (int)policy);
    opts->utf8_policy = policy;
    return ok();
}

static feat_status set_string(char **slot, const char *value, const char *what)
{
    char *copy = NULL;
    if (value && *value) {
        size_t n = strlen(value) + 1;
        copy = malloc(n);
        if (!copy)
            return feat_error_set_tls(FEAT_E_NOMEM, "%s: out of memory", what);
        memcpy(copy, value, n);
    }
    free(*slot);
    *slot = copy;
    return ok();
}

feat_status feat_text_options_set_taps(feat_text_options *opts, const char *spec)
{
    NEED_OPTS("feat_text_options_set_taps");
    /* The grammar is checked against the model's layers at load time (lib/taps). */
    return set_string(&opts->taps, spec, "taps");
}

feat_status feat_text_options_set_fusion(feat_text_options *opts, feat_fusion fusion)
{
    NEED_OPTS("feat_text_options_set_fusion");
    if ((int)fusion < FEAT_FUSION_DEFAULT || (int)fusion > FEAT_FUSION_MEAN)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "fusion: unknown value %d", (int)fusion);
    opts->fusion = fusion;
    return ok();
}

feat_status feat_text_options_set_batch_size(feat_text_options *opts, uint32_t batch_size)
{
    NEED_OPTS("feat_text_options_set_batch_size");
    if (batch_size > 65536)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "batch_size %u out of range: 1..65536, or 0 for the default",
                                  batch_size);
    opts->batch_size = batch_size;
    return ok();
}

feat_status feat_text_options_set_device(feat_text_options *opts, const char *device)
{
    NEED_OPTS("feat_text_options_set_device");
    feat_status st = feat_check_device(device);
    if (st != FEAT_OK)
        return st;
    return set_string(&opts->device, device, "device");
}

feat_status feat_text_options_set_precision(feat_text_options *opts, feat_precision precision)
{
    NEED_OPTS("feat_text_options_set_precision");
    feat_status st = feat_check_precision(precision);
    if (st != FEAT_OK)
        return st;
    opts->precision = precision;
    return ok();
}
