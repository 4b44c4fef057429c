/* SPDX-License-Identifier: MIT */
/* The JSON report of a probe (format in docs/adapting.md). */
#include "probe/probe.h"
#include "probe/probe_priv.h"

#include "core/json.h"

#include <stdio.h>
#include <string.h>

#include <linear.h>

static void json_i32s(FILE *f, const int32_t *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? "," : "", v[i]);
    fputc(']', f);
}

/* The set as a tap spec: its names joined by ',' (what --taps takes). */
static void json_spec(FILE *f, const feat_probe_eval *ev, const feat_probe_block *blocks)
{
    fputc('"', f);
    for (size_t i = 0; i < ev->n_blocks; i++) {
        if (i)
            fputc(',', f);
        feat_json_write_escaped(f, blocks[ev->blocks[i]].name);
    }
    fputc('"', f);
}

static void json_eval(FILE *f, const feat_probe_report *rep, const feat_probe_eval *ev, const feat_probe_block *blocks,
                      int fused, int predictions)
{
    fprintf(f, "    {\"spec\": ");
    json_spec(f, ev, blocks);
    if (!fused)
        fprintf(f, ", \"first\": %zu", blocks[ev->blocks[0]].first);
    fprintf(f, ", \"taps\": [");
    for (size_t i = 0; i < ev->n_blocks; i++)
        fprintf(f, "%s%zu", i ? ", " : "", ev->blocks[i]);
    fprintf(f, "], \"cols\": %zu, \"n_rows\": %zu, \"n_classes\": %zu", ev->cols, rep->n_used, rep->n_classes);
    fprintf(f, ", \"accuracy_mean\": %.17g, \"accuracy_std\": %.17g, \"fold_accuracy\": [", ev->mean, ev->std);
    for (uint32_t k = 0; k < rep->folds; k++)
        fprintf(f, "%s%.17g", k ? ", " : "", ev->fold_acc[k]);
    fprintf(f, "], \"row_space_folds\": %u", ev->row_space_folds);
    if (fused)
        fprintf(f, ", \"accepted\": %s", ev->accepted ? "true" : "false");
    if (predictions) {
        fprintf(f, ", \"predictions\": ");
        json_i32s(f, ev->pred, rep->rows);
    }
    fputc('}', f);
}

static void json_head(FILE *f, const feat_probe_report *rep, const feat_probe_labels *labels,
                      const char *const *source_kv, size_t n_source)
{
    fprintf(f, "{\n  \"format\": \"libfeat-probe\",\n  \"format_version\": 1,\n  \"source\": {");
    for (size_t i = 0; i + 1 < 2 * n_source; i += 2) {
        fprintf(f, "%s", i ? ", " : "");
        feat_json_write_str(f, source_kv[i]);
        fprintf(f, ": ");
        feat_json_write_str(f, source_kv[i + 1]);
    }
    fprintf(f,
            "},\n  \"method\": {\"folds\": %u, \"seed\": %llu, \"scaler\": \"standard, fit on each training fold\", "
            "\"classifier\": \"liblinear L2R_LR one-vs-rest\", \"C\": 1, \"tol\": 0.0001, \"bias\": 1, "
            "\"liblinear_version\": %d},\n",
            rep->folds, (unsigned long long)rep->seed, liblinear_version);
    fprintf(f, "  \"rows\": %zu,\n  \"rows_used\": %zu,\n  \"rows_excluded\": %zu,\n  \"excluded_rows\": [", rep->rows,
            rep->n_used, rep->n_excluded);
    for (size_t r = 0, k = 0; r < rep->rows; r++)
        if (rep->fold[r] < 0)
            fprintf(f, "%s%zu", k++ ? ", " : "", r);
    fprintf(f, "],\n  \"classes\": [");
    for (size_t c = 0; c < labels->n_classes; c++) {
        fprintf(f, "%s", c ? ", " : "");
        feat_json_write_str(f, labels->names[c]);
    }
    fprintf(f, "],\n  \"class_rows\": [");
    for (size_t c = 0; c < labels->n_classes; c++)
        fprintf(f, "%s%zu", c ? ", " : "", rep->class_rows[c]);
    fprintf(f, "],\n");
}

static void json_body(FILE *f, const feat_probe_report *rep, const feat_probe_block *blocks, int predictions)
{
    fprintf(f, "  \"taps\": [\n");
    for (size_t i = 0; i < rep->n_taps; i++) {
        json_eval(f, rep, &rep->taps[i], blocks, 0, predictions);
        fprintf(f, "%s\n", i + 1 < rep->n_taps ? "," : "");
    }
    fprintf(f, "  ],\n  \"fused\": [\n");
    for (size_t i = 0; i < rep->n_fused; i++) {
        json_eval(f, rep, &rep->fused[i], blocks, 1, predictions);
        fprintf(f, "%s\n", i + 1 < rep->n_fused ? "," : "");
    }
    fprintf(f, "  ],\n  \"best_tap\": ");
    json_spec(f, rep->best_tap, blocks);
    fprintf(f, ",\n  \"winner\": ");
    json_spec(f, rep->winner, blocks);
    fprintf(f, ",\n  \"winner_accuracy_mean\": %.17g,\n  \"winner_accuracy_std\": %.17g", rep->winner->mean,
            rep->winner->std);
    if (predictions) {
        fprintf(f, ",\n  \"fold\": ");
        json_i32s(f, rep->fold, rep->rows);
    }
    fprintf(f, "\n}\n");
}

feat_status feat_probe_report_write_json(const char *path, const feat_probe_report *rep, const feat_probe_block *blocks,
                                         const feat_probe_labels *labels, const char *const *source_kv, size_t n_source,
                                         int predictions, feat_error *err)
{
    if (!path || !rep || !blocks || !labels || !rep->winner || (!source_kv && n_source))
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "probe report: NULL argument or an empty report");
    char tmp[PROBE_PATH_MAX];
    FILE *f = feat_probe_partial_open(path, tmp, sizeof tmp, err);
    if (!f)
        return err ? err->code : FEAT_E_IO;
    json_head(f, rep, labels, source_kv, n_source);
    json_body(f, rep, blocks, predictions);
    return feat_probe_partial_commit(f, tmp, path, 0, err);
}
