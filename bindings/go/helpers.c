/* SPDX-License-Identifier: MIT */
// C helpers: each makes one libfeat call and copies the failure message in the same C call,
// so no message is read from thread-local state after a goroutine may have moved.
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "_cgo_export.h"


// Copies the message of a failed call; NULL on success. The caller frees it.
static char *feat_go_msg(feat_status st, const char *m) {
	if (st == FEAT_OK) return NULL;
	char *d = strdup(m ? m : "");
	return d;
}

feat_status go_image_options_new(feat_image_options **o, char **msg) {
	feat_status st = feat_image_options_new(o); *msg = feat_go_msg(st, feat_last_error()); return st;
}
feat_status go_text_options_new(feat_text_options **o, char **msg) {
	feat_status st = feat_text_options_new(o); *msg = feat_go_msg(st, feat_last_error()); return st;
}
// Setters: kind selects the setter, so that one helper covers them all.
feat_status go_image_set(feat_image_options *o, int kind, uint64_t a, uint64_t b, const char *s,
                                const float *m, const float *sd, char **msg) {
	feat_status st;
	switch (kind) {
	case 0: st = feat_image_options_set_taps(o, s); break;
	case 1: st = feat_image_options_set_fusion(o, (feat_fusion)a); break;
	case 2: st = feat_image_options_set_preset(o, (feat_image_preset)a); break;
	case 3: st = feat_image_options_set_resize(o, (uint32_t)a); break;
	case 4: st = feat_image_options_set_crop(o, (uint32_t)a, (uint32_t)b); break;
	case 5: st = feat_image_options_set_interpolation(o, (feat_interpolation)a); break;
	case 6: st = feat_image_options_set_mean_std(o, m, sd); break;
	case 7: st = feat_image_options_set_exif_orientation(o, (int32_t)a); break;
	case 8: st = feat_image_options_set_max_pixels(o, a); break;
	case 9: st = feat_image_options_set_decode_mode(o, (feat_decode_mode)a); break;
	case 10: st = feat_image_options_set_batch_size(o, (uint32_t)a); break;
	case 11: st = feat_image_options_set_decode_threads(o, (uint32_t)a); break;
	case 12: st = feat_image_options_set_device(o, s); break;
	case 13: st = feat_image_options_set_precision(o, (feat_precision)a); break;
	default: st = FEAT_E_INVALID_ARGUMENT;
	}
	*msg = feat_go_msg(st, feat_last_error());
	return st;
}
feat_status go_text_set(feat_text_options *o, int kind, uint32_t a, const char *s, char **msg) {
	feat_status st;
	switch (kind) {
	case 0: st = feat_text_options_set_taps(o, s); break;
	case 1: st = feat_text_options_set_lowercase(o, (feat_tristate)a); break;
	case 2: st = feat_text_options_set_strip_accents(o, (feat_tristate)a); break;
	case 3: st = feat_text_options_set_max_length(o, a); break;
	case 4: st = feat_text_options_set_truncation(o, (feat_truncation)a); break;
	case 5: st = feat_text_options_set_window_stride(o, a); break;
	case 6: st = feat_text_options_set_window_pooling(o, (feat_window_pooling)a); break;
	case 7: st = feat_text_options_set_utf8_policy(o, (feat_utf8_policy)a); break;
	case 8: st = feat_text_options_set_fusion(o, (feat_fusion)a); break;
	case 9: st = feat_text_options_set_batch_size(o, a); break;
	case 10: st = feat_text_options_set_device(o, s); break;
	case 11: st = feat_text_options_set_precision(o, (feat_precision)a); break;
	default: st = FEAT_E_INVALID_ARGUMENT;
	}
	*msg = feat_go_msg(st, feat_last_error());
	return st;
}

feat_status go_image_load(const char *model, const feat_image_options *o, feat_image_extractor **out, char **msg) {
	feat_status st = feat_image_extractor_new(out);
	if (st != FEAT_OK) { *msg = feat_go_msg(st, feat_last_error()); return st; }
	st = feat_image_extractor_load(*out, model, o);
	*msg = feat_go_msg(st, feat_image_extractor_last_error(*out));
	if (st != FEAT_OK) { feat_image_extractor_free(*out); *out = NULL; }
	return st;
}
feat_status go_text_load(const char *model, const char *vocab, const feat_text_options *o,
                                feat_text_extractor **out, char **msg) {
	feat_status st = feat_text_extractor_new(out);
	if (st != FEAT_OK) { *msg = feat_go_msg(st, feat_last_error()); return st; }
	st = feat_text_extractor_load(*out, model, vocab, o);
	*msg = feat_go_msg(st, feat_text_extractor_last_error(*out));
	if (st != FEAT_OK) { feat_text_extractor_free(*out); *out = NULL; }
	return st;
}
feat_status go_tokenizer_load(const char *vocab, const feat_text_options *o, feat_tokenizer **out, char **msg) {
	feat_status st = feat_tokenizer_new(out);
	if (st != FEAT_OK) { *msg = feat_go_msg(st, feat_last_error()); return st; }
	st = feat_tokenizer_load(*out, vocab, o);
	*msg = feat_go_msg(st, feat_tokenizer_last_error(*out));
	if (st != FEAT_OK) { feat_tokenizer_free(*out); *out = NULL; }
	return st;
}
feat_status go_image_clone(const feat_image_extractor *ex, feat_image_extractor **out, char **msg) {
	feat_status st = feat_image_extractor_clone(ex, out); *msg = feat_go_msg(st, feat_image_extractor_last_error(ex)); return st;
}
feat_status go_text_clone(const feat_text_extractor *ex, feat_text_extractor **out, char **msg) {
	feat_status st = feat_text_extractor_clone(ex, out); *msg = feat_go_msg(st, feat_text_extractor_last_error(ex)); return st;
}
feat_status go_image_files(feat_image_extractor *ex, feat_image_ensemble *ens, const char *const *p, size_t n,
                           feat_result **out, char **msg) {
	feat_status st;
	if (ens) { st = feat_image_ensemble_extract_files(ens, p, n, out); *msg = feat_go_msg(st, feat_image_ensemble_last_error(ens)); }
	else { st = feat_image_extractor_extract_files(ex, p, n, out); *msg = feat_go_msg(st, feat_image_extractor_last_error(ex)); }
	return st;
}
feat_status go_image_encoded(feat_image_extractor *ex, feat_image_ensemble *ens, const void *const *d,
                             const size_t *s, size_t n, feat_result **out, char **msg) {
	feat_status st;
	if (ens) { st = feat_image_ensemble_extract_encoded(ens, d, s, n, out); *msg = feat_go_msg(st, feat_image_ensemble_last_error(ens)); }
	else { st = feat_image_extractor_extract_encoded(ex, d, s, n, out); *msg = feat_go_msg(st, feat_image_extractor_last_error(ex)); }
	return st;
}
feat_status go_image_rgb8(feat_image_extractor *ex, feat_image_ensemble *ens, const uint8_t *const *px,
                          const uint32_t *w, const uint32_t *h, const size_t *strides, size_t n, feat_result **out,
                          char **msg) {
	feat_status st;
	if (ens) { st = feat_image_ensemble_extract_rgb8(ens, px, w, h, strides, n, out); *msg = feat_go_msg(st, feat_image_ensemble_last_error(ens)); }
	else { st = feat_image_extractor_extract_rgb8(ex, px, w, h, strides, n, out); *msg = feat_go_msg(st, feat_image_extractor_last_error(ex)); }
	return st;
}
feat_status go_text_extract(feat_text_extractor *ex, feat_text_ensemble *ens, const char *const *t, const size_t *l,
                            size_t n, feat_result **out, char **msg) {
	feat_status st;
	if (ens) { st = feat_text_ensemble_extract(ens, t, l, n, out); *msg = feat_go_msg(st, feat_text_ensemble_last_error(ens)); }
	else { st = feat_text_extractor_extract(ex, t, l, n, out); *msg = feat_go_msg(st, feat_text_extractor_last_error(ex)); }
	return st;
}
feat_status go_text_pairs(feat_text_extractor *ex, feat_text_ensemble *ens, const char *const *a, const size_t *la,
                          const char *const *b, const size_t *lb, size_t n, feat_result **out, char **msg) {
	feat_status st;
	if (ens) { st = feat_text_ensemble_extract_pairs(ens, a, la, b, lb, n, out); *msg = feat_go_msg(st, feat_text_ensemble_last_error(ens)); }
	else { st = feat_text_extractor_extract_pairs(ex, a, la, b, lb, n, out); *msg = feat_go_msg(st, feat_text_extractor_last_error(ex)); }
	return st;
}
feat_status go_image_ensemble_new(feat_image_ensemble **out, char **msg) {
	feat_status st = feat_image_ensemble_new(out); *msg = feat_go_msg(st, feat_last_error()); return st;
}
feat_status go_image_ensemble_add(feat_image_ensemble *e, feat_image_extractor *ex, const char *name, char **msg) {
	feat_status st = feat_image_ensemble_add(e, ex, name); *msg = feat_go_msg(st, feat_image_ensemble_last_error(e)); return st;
}
feat_status go_text_ensemble_new(feat_text_ensemble **out, char **msg) {
	feat_status st = feat_text_ensemble_new(out); *msg = feat_go_msg(st, feat_last_error()); return st;
}
feat_status go_text_ensemble_add(feat_text_ensemble *e, feat_text_extractor *ex, const char *name, char **msg) {
	feat_status st = feat_text_ensemble_add(e, ex, name); *msg = feat_go_msg(st, feat_text_ensemble_last_error(e)); return st;
}
feat_status go_finetune_options_new(feat_finetune_options **o, char **msg) {
	feat_status st = feat_finetune_options_new(o); *msg = feat_go_msg(st, feat_last_error()); return st;
}
// Setters: kind selects the setter, as in go_image_set.
feat_status go_finetune_set(feat_finetune_options *o, int kind, uint64_t a, double x, const char *s, const float *w,
                            size_t n, char **msg) {
	feat_status st;
	switch (kind) {
	case 0: st = feat_finetune_options_set_train(o, s); break;
	case 1: st = feat_finetune_options_set_head_tap(o, s); break;
	case 2: st = feat_finetune_options_set_epochs(o, (uint32_t)a); break;
	case 3: st = feat_finetune_options_set_batch_size(o, (uint32_t)a); break;
	case 4: st = feat_finetune_options_set_learning_rate(o, x); break;
	case 5: st = feat_finetune_options_set_schedule(o, (feat_lr_schedule)a); break;
	case 6: st = feat_finetune_options_set_weight_decay(o, x); break;
	case 7: st = feat_finetune_options_set_seed(o, a); break;
	case 8: st = feat_finetune_options_set_validation_fraction(o, x); break;
	case 9: st = feat_finetune_options_set_patience(o, (uint32_t)a); break;
	case 10: st = feat_finetune_options_set_dropout(o, x); break;
	case 11: st = feat_finetune_options_set_class_weights(o, w, n); break;
	case 12: st = feat_finetune_options_set_cache(o, (feat_finetune_cache)a); break;
	case 13: st = feat_finetune_options_set_cache_limit(o, a); break;
	case 14: st = feat_finetune_options_set_checkpoint(o, s, (int)a); break;
	default: st = FEAT_E_INVALID_ARGUMENT;
	}
	*msg = feat_go_msg(st, feat_last_error());
	return st;
}
// The trampoline: a C function pointer for feat_finetune_progress that calls the exported Go
// function (finetune.go) with the handle it was given as user data. It runs on the thread of
// the run, inside the cgo call of go_finetune.
static int go_progress_trampoline(void *user, uint32_t epoch, uint64_t step, double loss, double val_accuracy) {
	return goFinetuneProgress((uintptr_t)user, epoch, step, loss, val_accuracy);
}
feat_status go_finetune_set_progress(feat_finetune_options *o, uintptr_t handle, char **msg) {
	feat_status st = feat_finetune_options_set_progress(o, go_progress_trampoline, (void *)handle);
	*msg = feat_go_msg(st, feat_last_error());
	return st;
}
feat_status go_finetune(int text, const char *model, const char *const *in, const int32_t *labels, size_t n,
                        const feat_finetune_options *o, const char *out, feat_finetune_report **rep, char **msg) {
	feat_status st = text ? feat_finetune_texts(model, in, labels, n, o, out, rep)
	                      : feat_finetune_images(model, in, labels, n, o, out, rep);
	*msg = feat_go_msg(st, feat_last_error());
	return st;
}
// Encode errors live in the calling thread's slot (several threads may encode at once):
// they are read here, in the same C call.
feat_status go_encode(const feat_tokenizer *tok, const char *a, size_t la, const char *b, size_t lb,
                             feat_encoding **out, char **msg) {
	feat_status st = feat_tokenizer_encode(tok, a, la, b, lb, out); *msg = feat_go_msg(st, feat_last_error()); return st;
}
feat_status go_layers(const char *model, uint32_t size, feat_layer_list **out, char **msg) {
	feat_status st = feat_layers_list(model, size, out); *msg = feat_go_msg(st, feat_last_error()); return st;
}
feat_status go_set_threads(int32_t n, char **msg) {
	feat_status st = feat_global_set_threads(n); *msg = feat_go_msg(st, feat_last_error()); return st;
}
feat_status go_copy(const feat_result *r, float *dst, size_t n, char **msg) {
	feat_status st = feat_result_copy_to(r, dst, n, NULL); *msg = feat_go_msg(st, feat_last_error()); return st;
}
