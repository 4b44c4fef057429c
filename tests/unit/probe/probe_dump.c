/* SPDX-License-Identifier: MIT */
/* Runs lib/probe on a saved matrix and writes its JSON report with predictions, for the
 * scikit-learn parity test (test_probe_parity.py).
 * usage: probe_dump X.npy LABELS.tsv COLUMNS.tsv REPORT.json FOLDS SEED */
#include "probe/probe.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: probe_dump X.npy LABELS.tsv COLUMNS.tsv REPORT.json FOLDS SEED\n");
        return 2;
    }
    feat_error e = {0};
    float *x = NULL;
    size_t rows = 0, cols = 0, n_blocks = 0;
    feat_probe_block *blocks = NULL;
    feat_probe_labels labels = {0};
    feat_probe_report rep = {0};
    feat_probe_config cfg = {.folds = (uint32_t)atoi(argv[5]), .seed = strtoull(argv[6], NULL, 10)};
    const char *src[] = {"features", argv[1]};
    feat_status st = feat_probe_matrix_read(argv[1], &x, &rows, &cols, &e);
    if (st == FEAT_OK)
        st = feat_probe_labels_read(argv[2], rows, &labels, &e);
    if (st == FEAT_OK)
        st = feat_probe_columns_read(argv[3], cols, &blocks, &n_blocks, &e);
    if (st == FEAT_OK)
        st = feat_probe_run(x, rows, cols, &labels, blocks, n_blocks, &cfg, &rep, &e);
    if (st == FEAT_OK)
        st = feat_probe_report_write_json(argv[4], &rep, blocks, &labels, src, 1, 1, &e);
    if (st != FEAT_OK)
        fprintf(stderr, "probe_dump: %s\n", e.msg);
    feat_probe_report_free(&rep);
    feat_probe_labels_free(&labels);
    free(blocks);
    free(x);
    return st == FEAT_OK ? 0 : 1;
}
