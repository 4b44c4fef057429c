/* SPDX-License-Identifier: MIT */
#ifndef FEAT_GO_HELPERS_H
#define FEAT_GO_HELPERS_H
#include <feat/feat.h>

feat_status go_image_options_new(feat_image_options **o, char **msg);
feat_status go_text_options_new(feat_text_options **o, char **msg);
feat_status go_image_set(feat_image_options *o, int kind, uint64_t a, uint64_t b, const char *s,
                                const float *m, const float *sd, char **msg);
feat_status go_text_set(feat_text_options *o, int kind, uint32_t a, const char *s, char **msg);
feat_status go_image_load(const char *model, const feat_image_options *o, feat_image_extractor **out, char **msg);
feat_status go_text_load(const char *model, const char *vocab, const feat_text_options *o,
                                feat_text_extractor **out, char **msg);
feat_status go_tokenizer_load(const char *vocab, const feat_text_options *o, feat_tokenizer **out, char **msg);
feat_status go_image_clone(const feat_image_extractor *ex, feat_image_extractor **out, char **msg);
feat_status go_text_clone(const feat_text_extractor *ex, feat_text_extractor **out, char **msg);
// Extraction helpers take an extractor or an ensemble (the other NULL): one helper per input
// kind serves both.
feat_status go_image_files(feat_image_extractor *ex, feat_image_ensemble *ens, const char *const *p, size_t n,
                           feat_result **out, char **msg);
feat_status go_image_encoded(feat_image_extractor *ex, feat_image_ensemble *ens, const void *const *d,
                             const size_t *s, size_t n, feat_result **out, char **msg);
feat_status go_image_rgb8(feat_image_extractor *ex, feat_image_ensemble *ens, const uint8_t *const *px,
                          const uint32_t *w, const uint32_t *h, const size_t *strides, size_t n, feat_result **out,
                          char **msg);
feat_status go_text_extract(feat_text_extractor *ex, feat_text_ensemble *ens, const char *const *t, const size_t *l,
                            size_t n, feat_result **out, char **msg);
feat_status go_text_pairs(feat_text_extractor *ex, feat_text_ensemble *ens, const char *const *a, const size_t *la,
                          const char *const *b, const size_t *lb, size_t n, feat_result **out, char **msg);
feat_status go_image_ensemble_new(feat_image_ensemble **out, char **msg);
feat_status go_image_ensemble_add(feat_image_ensemble *e, feat_image_extractor *ex, const char *name, char **msg);
feat_status go_text_ensemble_new(feat_text_ensemble **out, char **msg);
feat_status go_text_ensemble_add(feat_text_ensemble *e, feat_text_extractor *ex, const char *name, char **msg);
feat_status go_finetune_options_new(feat_finetune_options **o, char **msg);
feat_status go_finetune_set(feat_finetune_options *o, int kind, uint64_t a, double x, const char *s, const float *w,
                            size_t n, char **msg);
// Installs the progress trampoline: the run calls back into Go with handle, a cgo.Handle.
feat_status go_finetune_set_progress(feat_finetune_options *o, uintptr_t handle, char **msg);
feat_status go_finetune(int text, const char *model, const char *const *in, const int32_t *labels, size_t n,
                        const feat_finetune_options *o, const char *out, feat_finetune_report **rep, char **msg);
feat_status go_encode(const feat_tokenizer *tok, const char *a, size_t la, const char *b, size_t lb,
                             feat_encoding **out, char **msg);
feat_status go_layers(const char *model, uint32_t size, feat_layer_list **out, char **msg);
feat_status go_set_threads(int32_t n, char **msg);
feat_status go_copy(const feat_result *r, float *dst, size_t n, char **msg);

#endif
