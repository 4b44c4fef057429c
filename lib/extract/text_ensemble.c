/* SPDX-License-Identifier: MIT */
/* The text ensemble (feat/text.h): each member runs the whole call with its own tokenizer,
 * and the rows are joined side by side (extract/ensemble.h). */
#include "extract/ensemble.h"
#include "extract/text_extractor.h"
#include "feat/text.h"

#include <stdlib.h>

struct feat_text_ensemble {
    feat_ensemble e; /* first: feat_ensemble_new allocates the whole struct */
};

feat_status feat_text_ensemble_new(feat_text_ensemble **out)
{
    return feat_ensemble_new(sizeof(feat_text_ensemble), (void **)out, "feat_text_ensemble");
}

void feat_text_ensemble_free(feat_text_ensemble *ens) { free(ens); }

const char *feat_text_ensemble_last_error(const feat_text_ensemble *ens)
{
    return ens ? ens->e.err.msg : "feat_text_ensemble_last_error: ensemble is NULL";
}

feat_status feat_text_ensemble_add(feat_text_ensemble *ens, feat_text_extractor *ex, const char *name)
{
    if (!ens)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "ensemble is NULL");
    size_t dim = feat_text_extractor_dim(ex);
    return feat_ensemble_add(&ens->e, ex, dim > 0, dim, name);
}

size_t feat_text_ensemble_n_members(const feat_text_ensemble *ens) { return ens ? ens->e.n : 0; }

size_t feat_text_ensemble_dim(const feat_text_ensemble *ens) { return ens ? ens->e.dim : 0; }

/* Every member on the texts (pairs: texts_a with texts_b), in member order. */
static feat_status run(feat_text_ensemble *ens, const char *const *a, const size_t *la, const char *const *b,
                       const size_t *lb, int pairs, size_t n, feat_result **out)
{
    feat_status st = feat_text_args_check(ens, "ensemble", a, b, pairs, n, ens ? &ens->e.err : NULL);
    if (st != FEAT_OK)
        return st;
    feat_ensemble_call call;
    st = feat_ensemble_begin(&ens->e, n, &call, out);
    for (size_t k = 0; st == FEAT_OK && k < ens->e.n; k++) {
        feat_text_extractor *ex = ens->e.m[k].ex;
        feat_result *mr = NULL;
        feat_status ms = pairs ? feat_text_extractor_extract_pairs(ex, a, la, b, lb, n, &mr)
                               : feat_text_extractor_extract(ex, a, la, n, &mr);
        if (ms != FEAT_OK)
            st = feat_ensemble_member_failed(&call, k, ms, feat_text_extractor_last_error(ex));
        else
            feat_ensemble_take(&call, k, mr, 0, NULL);
        feat_result_free(mr);
    }
    return call.r ? feat_ensemble_finish(&call, st, out) : st;
}

feat_status feat_text_ensemble_extract(feat_text_ensemble *ens, const char *const *texts, const size_t *lens, size_t n,
                                       feat_result **out)
{
    return run(ens, texts, lens, NULL, NULL, 0, n, out);
}

feat_status feat_text_ensemble_extract_pairs(feat_text_ensemble *ens, const char *const *texts_a, const size_t *lens_a,
                                             const char *const *texts_b, const size_t *lens_b, size_t n,
                                             feat_result **out)
{
    return run(ens, texts_a, lens_a, texts_b, lens_b, 1, n, out);
}
