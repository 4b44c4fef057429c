/* SPDX-License-Identifier: MIT */
/* The training half of shim/shim.h for the backends that cannot train: the build without
 * libtorch (with shim/shim_none.c) and the test backend (with shim/shim_test.c). Every entry
 * point fails with FEAT_E_UNSUPPORTED; the queries answer "nothing". */
#include "shim/shim.h"

#include <stddef.h>

static feat_status cannot_train(feat_error *err)
{
    return feat_error_set(err, FEAT_E_UNSUPPORTED,
                          "this build of libfeat cannot train (it needs the libtorch backend)");
}

feat_status feat_shim_trainer_new(feat_shim_model *m, const feat_shim_train_setup *setup, feat_shim_trainer **out,
                                  feat_error *err)
{
    *out = NULL;
    return cannot_train(err);
}

void feat_shim_trainer_free(feat_shim_trainer *t) { (void)t; }
int feat_shim_trainer_can_cache(const feat_shim_trainer *t) { return 0; }
feat_status feat_shim_trainer_cache(feat_shim_trainer *t, const feat_shim_batch *b, feat_error *err)
{
    return cannot_train(err);
}
int feat_shim_trainer_cached(const feat_shim_trainer *t, int64_t item) { return 0; }
int64_t feat_shim_trainer_head_dim(const feat_shim_trainer *t) { return 0; }
feat_status feat_shim_trainer_permutation(feat_shim_trainer *t, int64_t n, int64_t *out, feat_error *err)
{
    return cannot_train(err);
}
feat_status feat_shim_trainer_set_lr(feat_shim_trainer *t, double lr, feat_error *err) { return cannot_train(err); }
feat_status feat_shim_trainer_step(feat_shim_trainer *t, const feat_shim_batch *b, float *loss, feat_error *err)
{
    return cannot_train(err);
}
feat_status feat_shim_trainer_predict(feat_shim_trainer *t, const feat_shim_batch *b, int64_t *pred, feat_error *err)
{
    return cannot_train(err);
}
feat_status feat_shim_trainer_snapshot(feat_shim_trainer *t, feat_error *err) { return cannot_train(err); }
feat_status feat_shim_trainer_restore(feat_shim_trainer *t, feat_error *err) { return cannot_train(err); }
feat_status feat_shim_trainer_save(feat_shim_trainer *t, const char *path, feat_error *err)
{
    return cannot_train(err);
}
feat_status feat_shim_trainer_checkpoint(feat_shim_trainer *t, const char *path, const double *state, size_t n,
                                         feat_error *err)
{
    return cannot_train(err);
}
feat_status feat_shim_trainer_resume(feat_shim_trainer *t, const char *path, double **state, size_t *n, feat_error *err)
{
    *state = NULL;
    *n = 0;
    return cannot_train(err);
}
feat_status feat_shim_trainer_head(const feat_shim_trainer *t, float *dst, feat_error *err)
{
    return cannot_train(err);
}
