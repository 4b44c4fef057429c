/* SPDX-License-Identifier: MIT */
/* The fine-tuning run of feat/finetune.h: the data (decoded or tokenized as the extractors
 * do), the train/validation split, the epochs on the shim's trainer (shim/shim.h), the chosen
 * epoch, the tuned model and its side-car. */
#include "finetune/finetune_priv.h"

#include "core/npy.h"
#include "image/image_internal.h"
#include "image/image_options.h"
#include "shim/shim.h"
#include "text/text_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ft_data {
    int text;
    size_t n;    /* usable items */
    size_t *src; /* their input indices */
    int64_t *label;
    const char *const *paths;
    feat_preprocess pp;
    size_t floats;       /* per image */
    int64_t *ids, *mask; /* text: n rows of s, padded to the longest */
    int64_t *types;
    int64_t s;
} ft_data;

typedef struct ft_run {
    feat_finetune_resolved o;
    const feat_finetune_options *user;
    feat_model_info info;
    feat_shim_model *model;
    feat_shim_trainer *tr;
    ft_data d;
    size_t *order; /* d indices: n_train training items, then n_val validation items */
    size_t n_train, n_val;
    int64_t n_classes;
    feat_tap_list train;
    feat_tap_spec head;
    char head_name[FEAT_TAP_PATH_MAX + 16];
    feat_finetune_report *rep;
    float *x;
    int64_t *items, *labels, *pred, *bids, *bmask, *btypes, *perm;
    feat_image_scratch *scratch;
    feat_error err;
} ft_run;

/* ---- model, taps ------------------------------------------------------------------------- */

/* The default modules to train: the last module, in definition order, named by an index (the
 * last of the repeated blocks: _blocks.15, encoder.layer.5, layer4.2). */
static feat_status default_train(const feat_module_list *ml, char *out, feat_error *err)
{
    for (size_t i = ml->n; i-- > 0;) {
        const char *dot = strrchr(ml->paths[i], '.');
        const char *last = dot ? dot + 1 : ml->paths[i];
        if (*last >= '0' && *last <= '9' && strlen(ml->paths[i]) < FEAT_TAP_PATH_MAX) {
            strcpy(out, ml->paths[i]);
            return FEAT_OK;
        }
    }
    return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "the model has no repeated blocks; name the modules to train");
}

/* The head tap's layout from the side-car; a text model's undescribed taps are token
 * sequences, as in the text extractor. */
static feat_layout head_layout(const ft_run *r)
{
    feat_layout l = feat_model_info_layout(&r->info, r->head.path);
    return l == FEAT_LAYOUT_UNKNOWN && r->d.text ? FEAT_LAYOUT_TOKENS : l;
}

static feat_status resolve_taps(ft_run *r, const char *model_path)
{
    feat_module_list ml;
    feat_shim_modules(r->model, &ml.paths, &ml.n);
    feat_tap_list in, out;
    char spec[FEAT_TAP_PATH_MAX];
    const char *train = r->user && r->user->train ? r->user->train : NULL;
    feat_status st;
    if (!train && (st = default_train(&ml, spec, &r->err)) != FEAT_OK)
        return st;
    if ((st = feat_taps_parse(train ? train : spec, &in, &r->err)) ||
        (st = feat_taps_resolve(&in, &ml, &r->train, &r->err)))
        return st;
    const char *head = r->user && r->user->head_tap ? r->user->head_tap : r->info.default_taps;
    if (!head[0])
        return feat_error_set(&r->err, FEAT_E_INVALID_ARGUMENT, "%s has no default taps; name the head's tap",
                              model_path);
    if ((st = feat_taps_parse(head, &in, &r->err)) || (st = feat_taps_resolve(&in, &ml, &out, &r->err)))
        return st;
    r->head = out.taps[out.n - 1]; /* the last default tap */
    if (r->head.call >= 0)
        return feat_error_set(&r->err, FEAT_E_UNSUPPORTED, "head tap '%s@%d': a call number is not supported here",
                              r->head.path, r->head.call);
    if (r->head.pool == FEAT_POOL_AUTO)
        r->head.pool = r->d.text ? FEAT_POOL_CLS : FEAT_POOL_FLATTEN;
    snprintf(r->head_name, sizeof r->head_name, "%s:%s", r->head.path, feat_pool_name(r->head.pool));
    feat_pool p = r->head.pool;
    if (p != FEAT_POOL_FLATTEN && p != FEAT_POOL_NONE && head_layout(r) == FEAT_LAYOUT_UNKNOWN)
        return feat_error_set(&r->err, FEAT_E_MODEL,
                              "head tap '%s': the layout of its output is unknown and the model's side-car declares "
                              "none for it: export the model with tools/export_models.py, or add a \"layouts\" "
                              "entry to the side-car (docs/taps.md)",
                              r->head_name);
    return FEAT_OK;
}

/* ---- data -------------------------------------------------------------------------------- */

/* The image extractor's preprocessing with the model's defaults: the side-car's crop,
 * mean/std (on its own preset's scale), preset and resize. */
static feat_status image_preprocessing(ft_run *r)
{
    feat_image_options *io;
    if (feat_image_options_new(&io) != FEAT_OK)
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    io->crop_w = io->crop_h = r->info.crop;
    memcpy(io->mean, r->info.mean, sizeof io->mean);
    memcpy(io->std, r->info.std, sizeof io->std);
    io->mean_set = r->info.has_mean;
    io->std_set = r->info.has_std;
    feat_status st = feat_preprocess_resolve(io, r->info.preset, r->info.resize, &r->d.pp, &r->err);
    feat_image_options_free(io);
    r->d.floats = feat_preprocess_tensor_count(&r->d.pp);
    return st;
}

/* Decodes every image once: the ones that fail are left out (their error in the report). */
static feat_status check_images(ft_run *r, const char *const *paths, size_t n)
{
    feat_status st = image_preprocessing(r);
    if (st != FEAT_OK)
        return st;
    r->x = malloc(r->d.floats * r->o.batch * sizeof *r->x);
    if (!r->x || !(r->scratch = feat_image_scratch_new()))
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    r->d.paths = paths;
    for (size_t i = 0; i < n; i++)
        if (feat_image_preprocess_path(&r->d.pp, r->scratch, paths[i], r->x, &r->rep->items[i]) == FEAT_OK)
            r->d.src[r->d.n++] = i;
    return FEAT_OK;
}

static feat_status load_tokenizer(ft_run *r, feat_tokenizer **tok)
{
    feat_text_options *to;
    if (!r->info.vocab_path[0])
        return feat_error_set(&r->err, FEAT_E_MODEL, "the model's side-car names no vocabulary");
    if (feat_text_options_new(&to) != FEAT_OK)
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    to->lowercase = r->info.lowercase;
    to->strip_accents = r->info.strip_accents;
    to->chinese_chars = r->info.chinese_chars;
    to->max_length = r->info.max_length;
    feat_status st = feat_tokenizer_new(tok);
    if (st == FEAT_OK && (st = feat_tokenizer_load(*tok, r->info.vocab_path, to)) != FEAT_OK)
        feat_error_set(&r->err, st, "%s", feat_tokenizer_last_error(*tok));
    else if (st != FEAT_OK)
        feat_error_set(&r->err, st, "%s", feat_last_error());
    feat_text_options_free(to);
    return st;
}

/* Stores the encoded rows padded to the longest (pad id, mask 0, type 0). */
static feat_status pad_texts(ft_run *r, feat_tok_output *enc, const feat_tok_special *sp)
{
    size_t s = 0, n = r->d.n;
    for (size_t k = 0; k < n; k++)
        s = enc[k].n_tokens > s ? enc[k].n_tokens : s;
    r->d.s = (int64_t)s;
    r->d.ids = malloc(n * s * sizeof(int64_t));
    r->d.mask = calloc(n * s, sizeof(int64_t));
    r->d.types = calloc(n * s, sizeof(int64_t));
    if (!r->d.ids || !r->d.mask || !r->d.types)
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < s; j++) {
            int in = j < enc[k].n_tokens;
            r->d.ids[k * s + j] = in ? enc[k].ids[j] : sp->pad;
            r->d.mask[k * s + j] = in ? enc[k].attention_mask[j] : 0;
            r->d.types[k * s + j] = in ? enc[k].type_ids[j] : 0;
        }
    return FEAT_OK;
}

static feat_status tokenize_texts(ft_run *r, const char *const *texts, size_t n)
{
    feat_tokenizer *tok = NULL;
    feat_tok_scratch *ts = NULL;
    feat_tok_output *enc = calloc(n, sizeof *enc);
    feat_status st = enc ? load_tokenizer(r, &tok) : feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    if (st == FEAT_OK && (st = feat_tok_scratch_new(&ts)) != FEAT_OK)
        feat_error_set(&r->err, st, "out of memory");
    if (st == FEAT_OK) {
        feat_tok_params p;
        feat_tok_special sp;
        feat_tok_params_from_tokenizer(tok, &p);
        feat_tokenizer_special_ids(tok, &sp);
        for (size_t i = 0; i < n; i++) {
            feat_error *e = &r->rep->items[i];
            if (!texts[i]) {
                feat_error_set(e, FEAT_E_INVALID_ARGUMENT, "text %zu is NULL", i);
                continue;
            }
            if (feat_tok_encode(tok, ts, texts[i], (size_t)-1, NULL, 0, &p, &enc[r->d.n], e) == FEAT_OK)
                r->d.src[r->d.n++] = i;
            else
                feat_error_prefix(e, "text %zu", i);
        }
        st = r->d.n ? pad_texts(r, enc, &sp) : FEAT_OK;
    }
    for (size_t i = 0; enc && i < n; i++)
        feat_tok_output_free(&enc[i]);
    free(enc);
    feat_tok_scratch_free(ts);
    feat_tokenizer_free(tok);
    return st;
}

/* Labels of the usable items, the class count, and the split: of each class the last
 * ceil(f * count) items in input order validate (none for a class of one item). */
static feat_status split(ft_run *r, const int32_t *labels)
{
    int64_t k = 0;
    for (size_t j = 0; j < r->d.n; j++) {
        int32_t l = labels[r->d.src[j]];
        if (l < 0 || l >= FEAT_FINETUNE_MAX_CLASSES)
            return feat_error_set(&r->err, FEAT_E_INVALID_ARGUMENT, "label %d of item %zu is outside 0..%d", l,
                                  r->d.src[j], FEAT_FINETUNE_MAX_CLASSES - 1);
        r->d.label[j] = l;
        k = l + 1 > k ? l + 1 : k;
    }
    size_t *count = calloc((size_t)k + 1, sizeof *count), *seen = calloc((size_t)k + 1, sizeof *seen);
    if (!count || !seen) {
        free(count);
        free(seen);
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    }
    for (size_t j = 0; j < r->d.n; j++)
        count[r->d.label[j]]++;
    feat_status st = FEAT_OK;
    for (int64_t c = 0; c < k && st == FEAT_OK; c++)
        if (!count[c])
            st = feat_error_set(&r->err, FEAT_E_INVALID_ARGUMENT, "class %lld has no usable item", (long long)c);
    if (st == FEAT_OK && k < 2)
        st = feat_error_set(&r->err, FEAT_E_INVALID_ARGUMENT, "fine-tuning needs two or more classes");
    size_t *val = r->order + r->d.n, nv = 0; /* the validation items, collected behind the end */
    for (size_t j = 0; j < r->d.n && st == FEAT_OK; j++) {
        int64_t c = r->d.label[j];
        size_t hold = count[c] > 1 ? (size_t)ceil(r->o.val_fraction * (double)count[c]) : 0;
        if (seen[c]++ >= count[c] - hold)
            val[nv++] = j;
        else
            r->order[r->n_train++] = j;
    }
    memmove(r->order + r->n_train, val, nv * sizeof *val);
    r->n_val = nv;
    r->n_classes = k;
    free(count);
    free(seen);
    return st;
}

/* ---- batches ----------------------------------------------------------------------------- */

/* The batch of data items idx[0..b): images decoded unless every one is cached. */
static feat_status make_batch(ft_run *r, const size_t *idx, size_t b, feat_shim_batch *out)
{
    memset(out, 0, sizeof *out);
    out->b = (int64_t)b;
    out->items = r->items;
    out->labels = r->labels;
    int all_cached = 1;
    for (size_t k = 0; k < b; k++) {
        r->items[k] = (int64_t)idx[k];
        r->labels[k] = r->d.label[idx[k]];
        all_cached &= feat_shim_trainer_cached(r->tr, (int64_t)idx[k]);
    }
    if (r->d.text) {
        size_t s = (size_t)r->d.s;
        for (size_t k = 0; k < b; k++) {
            memcpy(r->bids + k * s, r->d.ids + idx[k] * s, s * sizeof *r->bids);
            memcpy(r->bmask + k * s, r->d.mask + idx[k] * s, s * sizeof *r->bmask);
            memcpy(r->btypes + k * s, r->d.types + idx[k] * s, s * sizeof *r->btypes);
        }
        out->ids = r->bids, out->mask = r->bmask, out->types = r->btypes, out->s = r->d.s;
        return FEAT_OK;
    }
    out->channels = 3, out->height = (int64_t)r->d.pp.crop_h, out->width = (int64_t)r->d.pp.crop_w;
    if (all_cached)
        return FEAT_OK;
    for (size_t k = 0; k < b; k++) {
        feat_status st = feat_image_preprocess_path(&r->d.pp, r->scratch, r->d.paths[r->d.src[idx[k]]],
                                                    r->x + k * r->d.floats, &r->err);
        if (st != FEAT_OK) /* it decoded in check_images: the file changed since */
            return st;
    }
    out->x = r->x;
    return FEAT_OK;
}

static feat_status alloc_batches(ft_run *r)
{
    size_t b = r->o.batch, s = r->d.text ? (size_t)r->d.s : 0;
    r->items = malloc(b * sizeof *r->items);
    r->labels = malloc(b * sizeof *r->labels);
    r->pred = malloc(b * sizeof *r->pred);
    r->perm = malloc((r->n_train ? r->n_train : 1) * sizeof *r->perm);
    r->bids = malloc((b * s + 1) * sizeof *r->bids);
    r->bmask = malloc((b * s + 1) * sizeof *r->bmask);
    r->btypes = malloc((b * s + 1) * sizeof *r->btypes);
    if (!r->items || !r->labels || !r->pred || !r->perm || !r->bids || !r->bmask || !r->btypes)
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    return FEAT_OK;
}

/* Fills the prefix cache over every item, in data order. Over its limit the run goes on
 * uncached, unless the cache was required. */
static feat_status fill_cache(ft_run *r)
{
    if (r->o.cache == FEAT_CACHE_OFF)
        return FEAT_OK;
    if (!feat_shim_trainer_can_cache(r->tr))
        return r->o.cache == FEAT_CACHE_ON
                   ? feat_error_set(&r->err, FEAT_E_UNSUPPORTED,
                                    "the activations cannot be cached exactly for these trained modules")
                   : FEAT_OK;
    size_t n = r->n_train + r->n_val;
    for (size_t i = 0; i < n; i += r->o.batch) {
        size_t b = n - i < r->o.batch ? n - i : r->o.batch;
        feat_shim_batch batch;
        feat_status st = make_batch(r, r->order + i, b, &batch);
        if (st == FEAT_OK)
            st = feat_shim_trainer_cache(r->tr, &batch, &r->err);
        if (st == FEAT_E_LIMIT && r->o.cache != FEAT_CACHE_ON)
            return FEAT_OK;
        if (st != FEAT_OK)
            return st;
    }
    r->rep->cached = 1;
    return FEAT_OK;
}

/* ---- epochs ------------------------------------------------------------------------------ */

static double step_lr(const ft_run *r, uint64_t step, uint64_t steps)
{
    if (r->o.schedule == FEAT_SCHEDULE_COSINE)
        return r->o.lr * 0.5 * (1.0 + cos(M_PI * (double)step / (double)steps));
    return r->o.lr;
}

static int cancelled(const ft_run *r, uint32_t epoch, double loss, double acc)
{
    if (!r->user || !r->user->progress)
        return 0;
    return r->user->progress(r->user->progress_user, epoch, r->rep->n_steps, loss, acc) != 0;
}

static feat_status train_epoch(ft_run *r, uint32_t epoch, uint64_t steps)
{
    feat_status st = feat_shim_trainer_permutation(r->tr, (int64_t)r->n_train, r->perm, &r->err);
    size_t *idx = malloc(r->o.batch * sizeof *idx);
    double sum = 0;
    size_t n_steps = 0;
    if (!idx && st == FEAT_OK)
        st = feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_train && st == FEAT_OK; i += r->o.batch) {
        size_t b = r->n_train - i < r->o.batch ? r->n_train - i : r->o.batch;
        for (size_t k = 0; k < b; k++)
            idx[k] = r->order[r->perm[i + k]];
        feat_shim_batch batch;
        float loss = 0;
        if ((st = make_batch(r, idx, b, &batch)) ||
            (st = feat_shim_trainer_set_lr(r->tr, step_lr(r, r->rep->n_steps, steps), &r->err)) ||
            (st = feat_shim_trainer_step(r->tr, &batch, &loss, &r->err)))
            break;
        r->rep->step_loss[r->rep->n_steps++] = loss;
        sum += loss;
        n_steps++;
        if (cancelled(r, epoch, loss, NAN))
            st = feat_error_set(&r->err, FEAT_E_CANCELLED, "fine-tuning cancelled at step %llu",
                                (unsigned long long)r->rep->n_steps);
    }
    free(idx);
    r->rep->train_loss[epoch] = n_steps ? sum / (double)n_steps : NAN;
    return st;
}

static feat_status validate(ft_run *r, double *acc)
{
    size_t right = 0;
    *acc = NAN;
    for (size_t i = 0; i < r->n_val; i += r->o.batch) {
        size_t b = r->n_val - i < r->o.batch ? r->n_val - i : r->o.batch;
        feat_shim_batch batch;
        feat_status st = make_batch(r, r->order + r->n_train + i, b, &batch);
        if (st == FEAT_OK)
            st = feat_shim_trainer_predict(r->tr, &batch, r->pred, &r->err);
        if (st != FEAT_OK)
            return st;
        for (size_t k = 0; k < b; k++)
            right += r->pred[k] == r->labels[k];
    }
    if (r->n_val)
        *acc = (double)right / (double)r->n_val;
    return FEAT_OK;
}

/* ---- checkpoints ------------------------------------------------------------------------- */

enum {
    CK_VERSION,
    CK_EPOCHS_DONE,
    CK_STEPS,
    CK_CHOSEN,
    CK_BEST,
    CK_TRAIN,
    CK_VAL,
    CK_CLASSES,
    CK_SEED,
    CK_EPOCHS,
    CK_BATCH,
    CK_HEADER
};

/* The run's own state after `done` epochs: the header, then train_loss, val_acc and the step
 * losses so far. */
static feat_status write_checkpoint(ft_run *r, uint32_t done, double best)
{
    const feat_finetune_report *p = r->rep;
    size_t n = CK_HEADER + 2 * (size_t)done + p->n_steps;
    double *v = malloc(n * sizeof *v);
    if (!v)
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    double head[CK_HEADER] = {1,
                              done,
                              (double)p->n_steps,
                              p->chosen,
                              best,
                              (double)r->n_train,
                              (double)r->n_val,
                              (double)r->n_classes,
                              (double)r->o.seed,
                              r->o.epochs,
                              r->o.batch};
    memcpy(v, head, sizeof head);
    memcpy(v + CK_HEADER, p->train_loss, done * sizeof *v);
    memcpy(v + CK_HEADER + done, p->val_acc, done * sizeof *v);
    for (uint64_t i = 0; i < p->n_steps; i++)
        v[CK_HEADER + 2 * done + i] = p->step_loss[i];
    feat_status st = feat_shim_trainer_checkpoint(r->tr, r->user->checkpoint, v, n, &r->err);
    free(v);
    return st;
}

/* Continues from the checkpoint when asked and it exists: *done epochs, *best accuracy. */
static feat_status read_checkpoint(ft_run *r, uint32_t *done, double *best)
{
    *done = 0;
    *best = -1;
    FILE *f = r->user && r->user->checkpoint && r->user->resume ? fopen(r->user->checkpoint, "rb") : NULL;
    if (!f)
        return FEAT_OK;
    fclose(f);
    double *v;
    size_t n;
    feat_status st = feat_shim_trainer_resume(r->tr, r->user->checkpoint, &v, &n, &r->err);
    if (st != FEAT_OK)
        return st;
    double want[] = {
        1,           0,         0, 0, 0, (double)r->n_train, (double)r->n_val, (double)r->n_classes, (double)r->o.seed,
        r->o.epochs, r->o.batch};
    int same = n >= CK_HEADER && v[CK_EPOCHS_DONE] <= r->o.epochs;
    for (size_t i = CK_TRAIN; same && i < CK_HEADER; i++)
        same = v[i] == want[i];
    uint32_t e = same ? (uint32_t)v[CK_EPOCHS_DONE] : 0;
    uint64_t steps = same ? (uint64_t)v[CK_STEPS] : 0;
    if (!same || n != CK_HEADER + 2 * (size_t)e + steps) {
        free(v);
        return feat_error_set(&r->err, FEAT_E_STATE, "the checkpoint '%s' is not of this run (other data or options)",
                              r->user->checkpoint);
    }
    memcpy(r->rep->train_loss, v + CK_HEADER, e * sizeof *v);
    memcpy(r->rep->val_acc, v + CK_HEADER + e, e * sizeof *v);
    for (uint64_t i = 0; i < steps; i++)
        r->rep->step_loss[i] = (float)v[CK_HEADER + 2 * e + i];
    r->rep->n_steps = steps;
    r->rep->n_epochs = e;
    r->rep->chosen = (uint32_t)v[CK_CHOSEN];
    *best = v[CK_BEST];
    *done = e;
    free(v);
    return FEAT_OK;
}

/* After epoch e: the best epoch's weights kept, the checkpoint written. */
static feat_status end_epoch(ft_run *r, uint32_t e, double acc, double *best)
{
    feat_status st = FEAT_OK;
    r->rep->val_acc[e] = acc;
    r->rep->n_epochs = e + 1;
    if (r->n_val && acc > *best) {
        *best = acc;
        r->rep->chosen = e;
        st = feat_shim_trainer_snapshot(r->tr, &r->err);
    } else if (!r->n_val) {
        r->rep->chosen = e;
    }
    if (st == FEAT_OK && r->user && r->user->checkpoint)
        st = write_checkpoint(r, e + 1, *best);
    return st;
}

/* The epochs, keeping the best validation epoch's weights (or the last's without validation). */
static feat_status run_epochs(ft_run *r)
{
    uint64_t per_epoch = (r->n_train + r->o.batch - 1) / r->o.batch, steps = per_epoch * r->o.epochs;
    double best;
    uint32_t done;
    feat_status st = read_checkpoint(r, &done, &best);
    for (uint32_t e = done; e < r->o.epochs && st == FEAT_OK; e++) {
        double acc;
        if ((st = train_epoch(r, e, steps)) || (st = validate(r, &acc)) || (st = end_epoch(r, e, acc, &best)))
            break;
        if (cancelled(r, e, r->rep->train_loss[e], r->n_val ? acc : -1))
            return feat_error_set(&r->err, FEAT_E_CANCELLED, "fine-tuning cancelled after epoch %u", e);
        if (r->o.patience && r->n_val && e - r->rep->chosen >= r->o.patience)
            break;
    }
    if (st == FEAT_OK && r->n_val && r->rep->chosen + 1 != r->rep->n_epochs)
        st = feat_shim_trainer_restore(r->tr, &r->err);
    return st;
}

/* ---- the run ----------------------------------------------------------------------------- */

static feat_status make_trainer(ft_run *r)
{
    const char *paths[FEAT_TAP_MAX];
    for (size_t i = 0; i < r->train.n; i++)
        paths[i] = r->train.taps[i].path;
    const feat_finetune_options *u = r->user;
    if (u && u->class_weights && (int64_t)u->n_class_weights != r->n_classes)
        return feat_error_set(&r->err, FEAT_E_INVALID_ARGUMENT, "%zu class weights for %lld classes",
                              u->n_class_weights, (long long)r->n_classes);
    feat_shim_train_setup s = {
        .train = paths,
        .n_train = r->train.n,
        .tap = r->head.path,
        .pool = (int32_t)r->head.pool,
        .layout = (int32_t)head_layout(r),
        .n_classes = r->n_classes,
        .lr = r->o.lr,
        .weight_decay = r->o.weight_decay,
        .seed = r->o.seed,
        .dropout = r->o.dropout,
        .class_weights = u ? u->class_weights : NULL,
        .cache = r->o.cache != FEAT_CACHE_OFF,
        .n_items = r->d.n,
        .cache_limit = (size_t)r->o.cache_limit,
    };
    return feat_shim_trainer_new(r->model, &s, &r->tr, &r->err);
}

/* Model, side-car and data: everything before the first step. */
static feat_status prepare_run(ft_run *r, const char *model_path, const char *const *inputs, const int32_t *labels,
                               size_t n)
{
    feat_status st = feat_model_info_read(model_path, &r->info, &r->err);
    if (st != FEAT_OK)
        return st;
    const char *want = r->d.text ? "text" : "image";
    if (r->info.input[0] && strcmp(r->info.input, want) != 0)
        return feat_error_set(&r->err, FEAT_E_MODEL, "%s is a%s %s model, not a%s %s model", model_path,
                              r->info.input[0] == 'i' ? "n" : "", r->info.input, r->d.text ? "" : "n", want);
    if ((st = feat_shim_load(model_path, "cpu", &r->model, &r->err)) || (st = resolve_taps(r, model_path)))
        return st;
    r->d.src = malloc(n * sizeof *r->d.src);
    r->d.label = malloc(n * sizeof *r->d.label);
    r->order = malloc(2 * n * sizeof *r->order);
    if (!r->d.src || !r->d.label || !r->order)
        return feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    st = r->d.text ? tokenize_texts(r, inputs, n) : check_images(r, inputs, n);
    if (st == FEAT_OK)
        st = split(r, labels);
    if (st == FEAT_OK && r->n_train == 0)
        st = feat_error_set(&r->err, FEAT_E_INVALID_ARGUMENT, "no item is left to train on");
    if (st == FEAT_OK)
        st = alloc_batches(r);
    return st == FEAT_OK ? make_trainer(r) : st;
}

static void release_run(ft_run *r)
{
    feat_shim_trainer_free(r->tr);
    feat_shim_unref(r->model);
    feat_image_scratch_free(r->scratch);
    void *bufs[] = {r->d.src, r->d.label, r->d.ids, r->d.mask, r->d.types, r->order,  r->x,
                    r->items, r->labels,  r->pred,  r->bids,   r->bmask,   r->btypes, r->perm};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

/* OUT.head.npy for OUT.pt (else OUT.head.npy appended): the head readable without libtorch,
 * [K, dim + 1] (the bias last), for `feat predict`. */
static feat_status save_head(ft_run *r, const char *out_path, char *name, size_t cap)
{
    size_t n = strlen(out_path), dim = (size_t)feat_shim_trainer_head_dim(r->tr), k = (size_t)r->n_classes;
    snprintf(name, cap, "%.*s.head.npy", (int)(n > 3 && !strcmp(out_path + n - 3, ".pt") ? n - 3 : n), out_path);
    float *wb = malloc(k * (dim + 1) * sizeof *wb);
    feat_npy_writer *w = NULL;
    feat_status st =
        wb ? feat_shim_trainer_head(r->tr, wb, &r->err) : feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    if (st == FEAT_OK && (st = feat_npy_open(name, dim + 1, &w, &r->err)) == FEAT_OK) {
        st = feat_npy_append(w, wb, k, &r->err);
        if (st == FEAT_OK)
            st = feat_npy_close(w, &r->err);
        else
            feat_npy_abort(w);
    }
    free(wb);
    return st;
}

static feat_status save(ft_run *r, const char *model_path, const char *out_path)
{
    char head[4096];
    feat_status st = feat_shim_trainer_save(r->tr, out_path, &r->err);
    if (st == FEAT_OK)
        st = save_head(r, out_path, head, sizeof head);
    if (st != FEAT_OK)
        return st;
    feat_finetune_origin origin = {.base_model = model_path,
                                   .train = &r->train,
                                   .head_tap = r->head_name,
                                   .n_classes = r->n_classes,
                                   .opts = &r->o,
                                   .report = r->rep,
                                   .n_train = r->n_train,
                                   .n_val = r->n_val,
                                   .head_file = strrchr(head, '/') ? strrchr(head, '/') + 1 : head};
    return feat_finetune_write_sidecar(out_path, &r->info, &origin, &r->err);
}

static feat_status run(int text, const char *model_path, const char *const *inputs, const int32_t *labels, size_t n,
                       const feat_finetune_options *opts, const char *out_path, feat_finetune_report **report)
{
    const char *fn = text ? "feat_finetune_texts" : "feat_finetune_images";
    if (report)
        *report = NULL;
    if (!model_path || !inputs || !labels || !out_path)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: model_path, inputs, labels and out_path are required",
                                  fn);
    if (n < 2)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "%s: %zu items; fine-tuning needs two or more", fn, n);
    ft_run *r = calloc(1, sizeof *r);
    if (!r)
        return feat_error_set_tls(FEAT_E_NOMEM, "%s: out of memory", fn);
    r->user = opts;
    r->d.text = text;
    feat_finetune_resolve(opts, &r->o);
    uint64_t steps = ((uint64_t)n + r->o.batch - 1) / r->o.batch * r->o.epochs;
    r->rep = feat_finetune_report_alloc(n, r->o.epochs, steps);
    feat_status st =
        r->rep ? prepare_run(r, model_path, inputs, labels, n) : feat_error_set(&r->err, FEAT_E_NOMEM, "out of memory");
    if (st == FEAT_OK && (st = fill_cache(r)) == FEAT_OK && (st = run_epochs(r)) == FEAT_OK)
        st = save(r, model_path, out_path);
    if (st == FEAT_OK && opts && opts->checkpoint)
        remove(opts->checkpoint); /* the run is complete: nothing to resume */
    if (st != FEAT_OK)
        feat_error_set_tls(st, "%s: %s", fn, r->err.msg);
    else
        feat_error_clear(feat_error_tls());
    if (report)
        *report = r->rep;
    else
        feat_finetune_report_free(r->rep);
    release_run(r);
    free(r);
    return st;
}

feat_status feat_finetune_images(const char *model_path, const char *const *paths, const int32_t *labels, size_t n,
                                 const feat_finetune_options *opts, const char *out_path, feat_finetune_report **report)
{
    return run(0, model_path, paths, labels, n, opts, out_path, report);
}

feat_status feat_finetune_texts(const char *model_path, const char *const *texts, const int32_t *labels, size_t n,
                                const feat_finetune_options *opts, const char *out_path, feat_finetune_report **report)
{
    return run(1, model_path, texts, labels, n, opts, out_path, report);
}
