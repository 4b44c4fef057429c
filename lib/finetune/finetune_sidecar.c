/* SPDX-License-Identifier: MIT */
/* The side-car of a tuned model: the base model's side-car, so that the extractors load the
 * tuned file with the same input kind, preprocessing, tokenizer and default taps, plus a
 * "finetune" object recording the origin (docs/adapting.md, "Fine-tuning"). */
#include "finetune/finetune_priv.h"

#include "core/json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_num(FILE *f, double v)
{
    if (!isfinite(v))
        fputs("null", f);
    else if (v == floor(v) && fabs(v) < 1e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.17g", v);
}

/* A file name of the base side-car, relative to its folder, as an absolute path. */
static void put_path(FILE *f, const char *sidecar, const char *name)
{
    char buf[PATH_MAX * 2];
    const char *slash = strrchr(sidecar, '/');
    char dir[PATH_MAX] = ".";
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - sidecar), sidecar);
    char abs_dir[PATH_MAX];
    if (name[0] == '/' || !realpath(dir, abs_dir))
        snprintf(buf, sizeof buf, "%s", name);
    else
        snprintf(buf, sizeof buf, "%s/%s", abs_dir, name);
    feat_json_write_str(f, buf);
}

static void put_value(FILE *f, const feat_json *j, const char *sidecar, int in_text)
{
    switch (j->type) {
    case FEAT_JSON_NULL: fputs("null", f); break;
    case FEAT_JSON_BOOL: fputs(j->num ? "true" : "false", f); break;
    case FEAT_JSON_NUMBER: put_num(f, j->num); break;
    case FEAT_JSON_STRING:
        /* file names the side-car resolves against its own folder */
        if (j->key && ((in_text && !strcmp(j->key, "vocab")) || (!in_text && !strcmp(j->key, "hf_config"))))
            put_path(f, sidecar, j->str);
        else
            feat_json_write_str(f, j->str);
        break;
    default:
        fputc(j->type == FEAT_JSON_ARRAY ? '[' : '{', f);
        for (const feat_json *c = j->child; c; c = c->next) {
            if (c->key) {
                feat_json_write_str(f, c->key);
                fputs(": ", f);
            }
            put_value(f, c, sidecar, j->key && !strcmp(j->key, "text"));
            if (c->next)
                fputs(", ", f);
        }
        fputc(j->type == FEAT_JSON_ARRAY ? ']' : '}', f);
    }
}

static void put_doubles(FILE *f, const double *v, uint32_t n)
{
    fputc('[', f);
    for (uint32_t i = 0; i < n; i++) {
        put_num(f, v[i]);
        fputs(i + 1 < n ? ", " : "", f);
    }
    fputc(']', f);
}

static void put_origin(FILE *f, const feat_finetune_origin *o)
{
    const feat_finetune_resolved *p = o->opts;
    fputs("  \"finetune\": {\"base_model\": ", f);
    feat_json_write_str(f, o->base_model);
    fputs(", \"train\": [", f);
    for (size_t i = 0; i < o->train->n; i++) {
        feat_json_write_str(f, o->train->taps[i].path);
        fputs(i + 1 < o->train->n ? ", " : "", f);
    }
    fputs("], \"head_tap\": ", f);
    feat_json_write_str(f, o->head_tap);
    fputs(", \"head\": ", f);
    feat_json_write_str(f, o->head_file);
    fprintf(f, ", \"classes\": %lld, \"train_items\": %zu, \"validation_items\": %zu", (long long)o->n_classes,
            o->n_train, o->n_val);
    fprintf(f, ", \"epochs\": %u, \"batch_size\": %u, \"learning_rate\": %.17g, \"schedule\": \"%s\"", p->epochs,
            p->batch, p->lr, p->schedule == FEAT_SCHEDULE_COSINE ? "cosine" : "constant");
    fprintf(f, ", \"weight_decay\": %.17g, \"seed\": %llu, \"dropout\": %.17g, \"cached\": %s", p->weight_decay,
            (unsigned long long)p->seed, p->dropout, o->report->cached ? "true" : "false");
    fputs(", \"train_loss\": ", f);
    put_doubles(f, o->report->train_loss, o->report->n_epochs);
    fputs(", \"validation_accuracy\": ", f);
    put_doubles(f, o->report->val_acc, o->report->n_epochs);
    fprintf(f, ", \"chosen_epoch\": %u}\n", o->report->chosen);
}

/* OUT.json for OUT.pt, else OUT.pt.json (the names feat_model_info_read looks for). */
static void sidecar_name(const char *out_path, char *buf, size_t size)
{
    size_t n = strlen(out_path);
    if (n > 3 && !strcmp(out_path + n - 3, ".pt"))
        snprintf(buf, size, "%.*s.json", (int)(n - 3), out_path);
    else
        snprintf(buf, size, "%s.json", out_path);
}

feat_status feat_finetune_write_sidecar(const char *out_path, const feat_model_info *base,
                                        const feat_finetune_origin *origin, feat_error *err)
{
    feat_json *root = NULL;
    feat_status st = base->has_sidecar ? feat_json_parse_file(base->sidecar_path, &root, err) : FEAT_OK;
    if (st != FEAT_OK)
        return st;
    char path[PATH_MAX + 8];
    sidecar_name(out_path, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) {
        feat_json_free(root);
        return feat_error_set(err, FEAT_E_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    fputs("{\n", f);
    for (const feat_json *c = root ? root->child : NULL; c; c = c->next) {
        if (!strcmp(c->key, "finetune"))
            continue; /* a tuned model tuned again records its own origin */
        fputs("  ", f);
        feat_json_write_str(f, c->key);
        fputs(": ", f);
        put_value(f, c, base->sidecar_path, 0);
        fputs(",\n", f);
    }
    put_origin(f, origin);
    fputs("}\n", f);
    feat_json_free(root);
    if (fclose(f) != 0)
        return feat_error_set(err, FEAT_E_IO, "cannot write '%s': %s", path, strerror(errno));
    return FEAT_OK;
}
