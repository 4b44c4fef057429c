/* SPDX-License-Identifier: MIT */
/* Component tier: the option fields and setter checks that image and text options share.
 *
 * feat_image_options and feat_text_options each embed a feat_model_options (the model-side
 * settings every extractor has) and implement their public setters with the helpers below, so
 * a range check or a message is written once. Errors go to the thread slot (feat_last_error):
 * an options object has no error slot of its own. */
#ifndef FEAT_CORE_MODEL_OPTIONS_H
#define FEAT_CORE_MODEL_OPTIONS_H

#include "core/error.h"
#include "feat/common.h"

#include <stddef.h>
#include <stdint.h>

/* Images or sequences per forward pass at most: a batch of 4096 224x224 images is 2.4 GB of
 * input already. */
#define FEAT_MAX_BATCH_SIZE 4096u

typedef struct feat_model_options {
    char *taps;               /* NULL: the model's default taps; owned, grammar checked */
    feat_fusion fusion;       /* DEFAULT: CONCAT */
    uint32_t batch_size;      /* 0: the extractor's default */
    char *device;             /* NULL: "cpu"; owned, syntax checked */
    feat_precision precision; /* DEFAULT: float32 */
} feat_model_options;

/* An options object of `size` bytes whose first member is a feat_model_options (image and
 * text options both are; they check it with a static assertion): a new object in *out, a copy
 * of src with its own strings, or all defaults when src is NULL. FEAT_E_INVALID_ARGUMENT for
 * a NULL out, FEAT_E_NOMEM; *out is NULL on failure. */
feat_status feat_options_dup(const void *src, size_t size, void **out, const char *fn);
/* Frees such an object and its strings; NULL is a no-op. */
void feat_options_free(void *opts);

/* The shared setters; o may be NULL (the caller's options object was NULL), which is the
 * error "<fn>: opts is NULL". The tap spec setter lives with the grammar (feat_taps_set_spec,
 * lib/taps), which this component cannot call. */
feat_status feat_model_options_set_fusion(feat_model_options *o, const char *fn, feat_fusion fusion);
feat_status feat_model_options_set_batch_size(feat_model_options *o, const char *fn, uint32_t batch_size);
feat_status feat_model_options_set_device(feat_model_options *o, const char *fn, const char *device);
feat_status feat_model_options_set_precision(feat_model_options *o, const char *fn, feat_precision precision);

/* The shape of every setter: FEAT_E_INVALID_ARGUMENT "<fn>: opts is NULL" for a NULL object,
 * FEAT_E_INVALID_ARGUMENT "<what>: unknown value N" for an enumeration value above last (or
 * below 0); otherwise the thread's message is cleared and FEAT_OK returned. */
feat_status feat_option_check_enum(const void *opts, const char *fn, int value, int last, const char *what);
/* The same for a number: 0 (the default) or lo..hi. */
feat_status feat_option_check_range(const void *opts, const char *fn, uint64_t value, uint64_t lo, uint64_t hi,
                                    const char *what);
/* FEAT_E_INVALID_ARGUMENT "<fn>: opts is NULL" when opts is NULL, else the thread's message is
 * cleared and FEAT_OK returned. */
feat_status feat_option_check_object(const void *opts, const char *fn);
/* Clears the thread's message; FEAT_OK. */
feat_status feat_option_ok(void);

/* Replaces *slot with a copy of value (NULL or "" store NULL). */
feat_status feat_option_set_string(char **slot, const char *value, const char *what);

/* ---- setter definitions -------------------------------------------------------------------
 * The public setters of feat_<kind>_options are generated from one row each, so every setter
 * has the same NULL check, range check, message and thread-slot rule; lib/image/options.c and
 * lib/text/options.c are the tables. Adding an option of one of these shapes is one row there
 * (plus its declaration in include/feat, its field, each binding and a test). */

/* feat_<kind>_options_new/_free/_copy and the setters of the embedded feat_model_options
 * (taps, fusion, batch size, device, precision). The file that expands it includes
 * taps/taps.h: the taps setter is feat_taps_set_spec, which this component cannot call. */
#define FEAT_OPTIONS_DEFINE_COMMON(kind)                                                                               \
  _Static_assert(offsetof(feat_##kind##_options, model) == 0, "the model options must come first");                    \
  feat_status feat_##kind##_options_copy(const feat_##kind##_options *src, feat_##kind##_options **out)                \
  {                                                                                                                    \
    return feat_options_dup(src, sizeof(feat_##kind##_options), (void **)out, __func__);                               \
  }                                                                                                                    \
  feat_status feat_##kind##_options_new(feat_##kind##_options **out) { return feat_##kind##_options_copy(NULL, out); } \
  void feat_##kind##_options_free(feat_##kind##_options *opts) { feat_options_free(opts); }                            \
  feat_status feat_##kind##_options_set_taps(feat_##kind##_options *opts, const char *spec)                            \
  {                                                                                                                    \
    return feat_taps_set_spec(opts ? &opts->model.taps : NULL, __func__, spec);                                        \
  }                                                                                                                    \
  FEAT_OPTIONS_DEFINE_MODEL(kind, fusion, feat_fusion)                                                                 \
  FEAT_OPTIONS_DEFINE_MODEL(kind, batch_size, uint32_t)                                                                \
  FEAT_OPTIONS_DEFINE_MODEL(kind, device, const char *)                                                                \
  FEAT_OPTIONS_DEFINE_MODEL(kind, precision, feat_precision)

#define FEAT_OPTIONS_DEFINE_MODEL(kind, name, type)                                                                    \
  feat_status feat_##kind##_options_set_##name(feat_##kind##_options *opts, type value)                                \
  {                                                                                                                    \
    return feat_model_options_set_##name(opts ? &opts->model : NULL, __func__, value);                                 \
  }

/* feat_<kind>_options_set_<name>(opts, value) for an enumeration whose last value is `last`,
 * stored in the field of the same name. */
#define FEAT_OPTIONS_DEFINE_ENUM(kind, name, type, last, what)                                                         \
  feat_status feat_##kind##_options_set_##name(feat_##kind##_options *opts, type value)                                \
  {                                                                                                                    \
    feat_status st = feat_option_check_enum(opts, __func__, (int)value, last, what);                                   \
    if (st == FEAT_OK)                                                                                                 \
      opts->name = value;                                                                                              \
    return st;                                                                                                         \
  }

/* The same for a number: 0 (the default) or lo..hi. */
#define FEAT_OPTIONS_DEFINE_RANGE(kind, name, type, lo, hi, what)                                                      \
  feat_status feat_##kind##_options_set_##name(feat_##kind##_options *opts, type value)                                \
  {                                                                                                                    \
    feat_status st = feat_option_check_range(opts, __func__, value, lo, hi, what);                                     \
    if (st == FEAT_OK)                                                                                                 \
      opts->name = value;                                                                                              \
    return st;                                                                                                         \
  }

#endif /* FEAT_CORE_MODEL_OPTIONS_H */
