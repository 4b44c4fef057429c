/* feat_text_options: the public setters, on the shared option checks of core/model_options.h
 * (errors go to the thread slot because an options object has no error slot of its own). */
#include "text/text_options.h"

#include "core/model_options.h"
#include "taps/taps.h"

#include <stddef.h>

_Static_assert(offsetof(feat_text_options, model) == 0, "feat_options_dup needs the model options first");

feat_status feat_text_options_new(feat_text_options **out) { return feat_text_options_copy(NULL, out); }

void feat_text_options_free(feat_text_options *opts) { feat_options_free(opts); }

feat_status feat_text_options_copy(const feat_text_options *src, feat_text_options **out)
{
    return feat_options_dup(src, sizeof(feat_text_options), (void **)out, __func__);
}

/* ---- the options every extractor has ---------------------------------------------------- */

#define MODEL_OPTIONS(opts) ((opts) ? &(opts)->model : NULL)

feat_status feat_text_options_set_taps(feat_text_options *opts, const char *spec)
{
    return feat_taps_set_spec(opts ? &opts->model.taps : NULL, __func__, spec);
}

feat_status feat_text_options_set_fusion(feat_text_options *opts, feat_fusion fusion)
{
    return feat_model_options_set_fusion(MODEL_OPTIONS(opts), __func__, fusion);
}

feat_status feat_text_options_set_batch_size(feat_text_options *opts, uint32_t batch_size)
{
    return feat_model_options_set_batch_size(MODEL_OPTIONS(opts), __func__, batch_size);
}

feat_status feat_text_options_set_device(feat_text_options *opts, const char *device)
{
    return feat_model_options_set_device(MODEL_OPTIONS(opts), __func__, device);
}

feat_status feat_text_options_set_precision(feat_text_options *opts, feat_precision precision)
{
    return feat_model_options_set_precision(MODEL_OPTIONS(opts), __func__, precision);
}

/* ---- tokenizer and windows ----------------------------------------------------------------- */

feat_status feat_text_options_set_lowercase(feat_text_options *opts, feat_tristate lowercase)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)lowercase, FEAT_TRISTATE_OFF, "lowercase");
    if (st == FEAT_OK)
        opts->lowercase = lowercase;
    return st;
}

feat_status feat_text_options_set_strip_accents(feat_text_options *opts, feat_tristate strip)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)strip, FEAT_TRISTATE_OFF, "strip_accents");
    if (st == FEAT_OK)
        opts->strip_accents = strip;
    return st;
}

feat_status feat_text_options_set_max_length(feat_text_options *opts, uint32_t max_length)
{
    /* [CLS] and [SEP] alone need 2; pairs need 3, which the tokenizer checks per call. Token
     * indices are int32 in the outputs, hence the upper bound. */
    feat_status st = feat_option_check_range(opts, __func__, max_length, 2, INT32_MAX, "max_length");
    if (st == FEAT_OK)
        opts->max_length = max_length;
    return st;
}

feat_status feat_text_options_set_truncation(feat_text_options *opts, feat_truncation strategy)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)strategy, FEAT_TRUNCATE_NONE, "truncation");
    if (st == FEAT_OK)
        opts->truncation = strategy;
    return st;
}

feat_status feat_text_options_set_window_stride(feat_text_options *opts, uint32_t stride)
{
    /* The stride must also be below max_length - 2; that is checked when both are known. */
    feat_status st = feat_option_check_range(opts, __func__, stride, 1, INT32_MAX, "window stride");
    if (st == FEAT_OK)
        opts->window_stride = stride;
    return st;
}

feat_status feat_text_options_set_window_pooling(feat_text_options *opts, feat_window_pooling pooling)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)pooling, FEAT_WINDOW_FIRST, "window pooling");
    if (st == FEAT_OK)
        opts->window_pooling = pooling;
    return st;
}

feat_status feat_text_options_set_utf8_policy(feat_text_options *opts, feat_utf8_policy policy)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)policy, FEAT_UTF8_REPLACE, "utf8 policy");
    if (st == FEAT_OK)
        opts->utf8_policy = policy;
    return st;
}
