/* SPDX-License-Identifier: MIT */
/* lib/probe: folds, scaling, greedy selection, the tables, the default taps, and runs on
 * synthetic data whose answer is known (accuracy parity with scikit-learn is
 * test_probe_parity.py). */
#include "../check.h"
#include "core/json.h"
#include "probe/probe.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/feat-probe-test-XXXXXX";

static const char *tmp_file(const char *name, const char *text)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    if (text) {
        FILE *f = fopen(p, "w");
        fputs(text, f);
        fclose(f);
    }
    return p;
}

typedef struct bad_table {
    const char *text, *msg;
} bad_table;

/* Each table fails to read with FEAT_E_DECODE and a message that names the fault. */
static void check_bad_tables(const bad_table *bad, size_t n, feat_status (*read)(const char *path, feat_error *e))
{
    for (size_t i = 0; i < n; i++) {
        feat_error e = {0};
        CHECK_EQ_INT(read(tmp_file("bad.tsv", bad[i].text), &e), FEAT_E_DECODE);
        CHECK_STR_HAS(e.msg, bad[i].msg);
    }
}

static feat_status read_labels_3(const char *path, feat_error *e)
{
    feat_probe_labels l;
    return feat_probe_labels_read(path, 3, &l, e);
}

static feat_status read_columns_100(const char *path, feat_error *e)
{
    feat_probe_block *b = NULL;
    size_t n;
    feat_status st = feat_probe_columns_read(path, 100, &b, &n, e);
    free(b);
    return st;
}

static void test_folds(void)
{
    enum { N = 103, K = 5 };
    int32_t lab[N], fold[N], again[N], other[N];
    for (int i = 0; i < N; i++)
        lab[i] = i < 50 ? 0 : i < 90 ? 1 : 2; /* 50, 40, 13 rows */
    lab[7] = -1;
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_folds(lab, N, 3, K, 42, fold, &e), FEAT_OK);
    CHECK_EQ_INT(fold[7], -1);
    size_t per[3][K] = {{0}}, size[K] = {0};
    for (int i = 0; i < N; i++)
        if (lab[i] >= 0) {
            CHECK(fold[i] >= 0 && fold[i] < K);
            per[lab[i]][fold[i]]++;
            size[fold[i]]++;
        }
    /* Stratified: each class is split within one row per fold; fold sizes within one. */
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < K; k++)
            CHECK(per[c][k] + 1 >= per[c][0] && per[c][k] <= per[c][0] + 1);
    CHECK_EQ_INT(per[0][0] + per[0][1] + per[0][2] + per[0][3] + per[0][4], 49);
    for (int k = 0; k < K; k++)
        CHECK(size[k] == 20 || size[k] == 21);
    /* Seeded: the same seed gives the same folds, another seed other ones. */
    CHECK_EQ_INT(feat_probe_folds(lab, N, 3, K, 42, again, &e), FEAT_OK);
    CHECK(memcmp(fold, again, sizeof fold) == 0);
    CHECK_EQ_INT(feat_probe_folds(lab, N, 3, K, 43, other, &e), FEAT_OK);
    CHECK(memcmp(fold, other, sizeof fold) != 0);
    /* Shuffled, not dealt in row order. */
    int in_order = 1;
    for (int i = 0; i < 10; i++)
        in_order &= fold[i + 8] == (fold[8] + i) % K;
    CHECK(!in_order);

    CHECK_EQ_INT(feat_probe_folds(lab, N, 3, 1, 0, fold, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "expected 2..");
    CHECK_EQ_INT(feat_probe_folds(lab, N, 3, 14, 0, fold, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "class 2 has 13 rows, fewer than the 14 folds");
    lab[3] = 5;
    CHECK_EQ_INT(feat_probe_folds(lab, N, 3, K, 0, fold, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "row 3 has class 5");
}

static void test_scaler(void)
{
    /* 4 rows x 3 columns; rows 0..2 are fitted, row 3 is left out. */
    const float x[] = {1, 7, 100, 2, 7, -3, 3, 7, 0.5f, 1000, 1000, 1000};
    const size_t rows[] = {0, 1, 2}, cols[] = {0, 1, 2};
    double mean[3], scale[3];
    feat_probe_scaler_fit(x, 3, rows, 3, cols, 3, mean, scale);
    CHECK(fabs(mean[0] - 2.0) < 1e-12);
    CHECK(fabs(scale[0] - sqrt(2.0 / 3.0)) < 1e-12); /* population std, as StandardScaler */
    CHECK(fabs(mean[1] - 7.0) < 1e-12);
    CHECK(scale[1] == 1.0); /* a constant column is left unscaled */
    CHECK(fabs(mean[2] - 97.5 / 3) < 1e-9);
    /* A column subset, in the order given. */
    const size_t sub[] = {2};
    feat_probe_scaler_fit(x, 3, rows, 2, sub, 1, mean, scale);
    CHECK(fabs(mean[0] - 48.5) < 1e-12);
    CHECK(fabs(scale[0] - 51.5) < 1e-12);
}

/* A greedy selection over 4 blocks with a score table by set bitmask. */
typedef struct greedy_log {
    double table[16];
    int scored[32], accepted[32], n, seen, fail_at;
} greedy_log;

static int mask_of(const size_t *set, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(i == 0 || set[i] > set[i - 1]); /* sets come sorted */
        m |= 1 << set[i];
    }
    return m;
}

static feat_status g_score(void *ctx, const size_t *sets, size_t n_sets, size_t n, double *scores)
{
    greedy_log *g = ctx;
    for (size_t i = 0; i < n_sets; i++) {
        if (g->n == g->fail_at)
            return FEAT_E_CANCELLED;
        g->scored[g->n++] = mask_of(sets + i * n, n);
        scores[i] = g->table[mask_of(sets + i * n, n)];
    }
    return FEAT_OK;
}

static feat_status g_visit(void *ctx, const size_t *set, size_t n, double score, int accepted)
{
    greedy_log *g = ctx;
    (void)score;
    CHECK_EQ_INT(mask_of(set, n), g->scored[g->seen]); /* visited in the order scored */
    g->accepted[g->seen++] = accepted;
    return FEAT_OK;
}

static void test_greedy(void)
{
    greedy_log g = {.fail_at = -1};
    /* Singles: block 1 is best (0.8). {1,2} = 0.85 beats {0,1} = {1,3} = 0.82; then {1,2,3}
     * = 0.85 ties and is not taken. */
    g.table[0x3] = 0.82, g.table[0x6] = 0.85, g.table[0xA] = 0.82;
    g.table[0x7] = 0.84, g.table[0xE] = 0.85;
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_greedy(4, 1, 0.8, 0, g_score, g_visit, &g, &e), FEAT_OK);
    CHECK_EQ_INT(g.n, 5);
    int want[] = {0x3, 0x6, 0xA, 0x7, 0xE}, acc[] = {0, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(g.scored[i], want[i]);
        CHECK_EQ_INT(g.accepted[i], acc[i]);
    }
    /* Ties go to the first set in block order: {0,1} and {1,3} both 0.9. */
    greedy_log t = {.fail_at = -1};
    t.table[0x3] = 0.9, t.table[0xA] = 0.9;
    CHECK_EQ_INT(feat_probe_greedy(4, 1, 0.8, 2, g_score, g_visit, &t, &e), FEAT_OK);
    CHECK_EQ_INT(t.n, 3); /* max_size 2: one step only */
    CHECK_EQ_INT(t.accepted[0], 1);
    CHECK_EQ_INT(t.accepted[2], 0);
    /* Nothing beats the start: one step scored, none accepted. */
    greedy_log z = {.fail_at = -1};
    CHECK_EQ_INT(feat_probe_greedy(4, 0, 0.5, 0, g_score, g_visit, &z, &e), FEAT_OK);
    CHECK_EQ_INT(z.n, 3);
    CHECK(!z.accepted[0] && !z.accepted[1] && !z.accepted[2]);
    /* A failing score stops the selection with its status. */
    greedy_log f = {.fail_at = 1};
    CHECK_EQ_INT(feat_probe_greedy(4, 1, 0.8, 0, g_score, g_visit, &f, &e), FEAT_E_CANCELLED);
    CHECK_EQ_INT(feat_probe_greedy(4, 4, 0.8, 0, g_score, g_visit, &f, &e), FEAT_E_INVALID_ARGUMENT);
}

static void test_labels(void)
{
    feat_probe_labels l;
    feat_error e = {0};
    const char *names[] = {"zebra", "ant", "zebra", "moth"};
    CHECK_EQ_INT(feat_probe_labels_from_names(names, 4, &l, &e), FEAT_OK);
    CHECK_EQ_INT(l.n_classes, 3);
    CHECK(strcmp(l.names[0], "ant") == 0 && strcmp(l.names[2], "zebra") == 0);
    CHECK(l.index[0] == 2 && l.index[1] == 0 && l.index[2] == 2 && l.index[3] == 1);
    feat_probe_labels_free(&l);
    const char *gap[] = {"a", ""};
    CHECK_EQ_INT(feat_probe_labels_from_names(gap, 2, &l, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "row 1 has no label");

    CHECK_EQ_INT(feat_probe_labels_read(tmp_file("ok.tsv", "row\tlabel\n2\tcat\r\n0\tdog\n1\tcat\n"), 3, &l, &e),
                 FEAT_OK);
    CHECK(l.n_rows == 3 && l.n_classes == 2 && l.index[0] == 1 && l.index[1] == 0 && l.index[2] == 0);
    feat_probe_labels_free(&l);
    static const bad_table bad[] = {
        {"0\tdog\n2\tcat\n", "no label for row 1 (of 3)"},
        {"0\tdog\n1\tcat\n1\tdog\n2\tx\n", "line 3: row 1 is labelled twice"},
        {"0\tdog\n1\tcat\n3\tdog\n", "line 3: row 3, but the features have 3 rows"},
        {"0\tdog\n1\t\n2\tx\n", "line 2: row 1 has an empty label"},
        {"0\tdog\nx\tcat\n", "line 2: row 'x' is not a row number"},
        {"0 dog\n", "line 1: expected row<TAB>label"},
    };
    check_bad_tables(bad, sizeof bad / sizeof *bad, read_labels_3);
    CHECK_EQ_INT(feat_probe_labels_read(tmp_file("missing.tsv", NULL), 3, &l, &e), FEAT_E_NOT_FOUND);
}

static void test_columns(void)
{
    feat_probe_block in[2] = {{"layer1.0:gap", 0, 64}, {"layer4.1:gap", 64, 512}}, *out = NULL;
    size_t n = 0;
    feat_error e = {0};
    const char *path = tmp_file("x.columns.tsv", NULL);
    CHECK_EQ_INT(feat_probe_columns_write(path, in, 2, &e), FEAT_OK);
    CHECK_EQ_INT(feat_probe_columns_read(path, 576, &out, &n, &e), FEAT_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(out && strcmp(out[1].name, "layer4.1:gap") == 0 && out[1].first == 64 && out[1].count == 512);
    /* Selection keeps the listed taps in the list's order. */
    CHECK_EQ_INT(feat_probe_blocks_select(out, &n, " layer4.1:gap ,layer1.0:gap", &e), FEAT_OK);
    CHECK(n == 2 && out[0].first == 64 && out[1].first == 0);
    CHECK_EQ_INT(feat_probe_blocks_select(out, &n, "layer1.0:gap,layer1.0:gap", &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "listed twice");
    CHECK_EQ_INT(feat_probe_blocks_select(out, &n, "layer2.0:gap", &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "no tap 'layer2.0:gap'");
    CHECK_EQ_INT(feat_probe_blocks_select(out, &n, "layer1.0:gap", &e), FEAT_OK);
    CHECK(n == 1 && out[0].first == 0);
    free(out);
    CHECK_EQ_INT(feat_probe_columns_read(path, 500, &out, &n, &e), FEAT_E_DECODE);
    CHECK_STR_HAS(e.msg, "line 3: columns 64..575, but the features have 500");
    static const bad_table bad[] = {
        {"a\t0\t4\n", "the first line must be"},
        {"tap\tfirst\tcount\na\t0\t4\nb\t2\t4\n", "line 3: starts at column 2, inside or before"},
        {"tap\tfirst\tcount\na\t0\t0\n", "count > 0"},
        {"tap\tfirst\tcount\n", "no taps"},
    };
    check_bad_tables(bad, sizeof bad / sizeof *bad, read_columns_100);
}

static void test_default_taps(void)
{
    const feat_probe_module resnet[] = {{"conv1", 4},          {"layer1", 4},   {"layer1.0", 4},
                                        {"layer1.0.conv1", 4}, {"layer1.1", 4}, {"layer1.1.downsample.0", 4},
                                        {"layer2.0", 4},       {"avgpool", 4},  {"fc", 2}};
    const feat_probe_module bert[] = {{"embeddings", 3},      {"encoder.layer", 0},
                                      {"encoder.layer.0", 3}, {"encoder.layer.0.attention", 3},
                                      {"encoder.layer.1", 3}, {"pooler", 2}};
    const feat_probe_module flat[] = {{"fc", 2}, {"head.0", 2}};
    char spec[256];
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_default_taps(resnet, 9, spec, sizeof spec, &e), FEAT_OK);
    CHECK(strcmp(spec, "layer1.0:gap,layer1.1:gap,layer2.0:gap") == 0);
    CHECK_EQ_INT(feat_probe_default_taps(bert, 6, spec, sizeof spec, &e), FEAT_OK);
    CHECK(strcmp(spec, "encoder.layer.0:mean,encoder.layer.1:mean") == 0);
    CHECK_EQ_INT(feat_probe_default_taps(flat, 2, spec, sizeof spec, &e), FEAT_E_NOT_FOUND);
    CHECK_STR_HAS(e.msg, "--taps");
    CHECK_EQ_INT(feat_probe_default_taps(resnet, 9, spec, 20, &e), FEAT_E_LIMIT);
}

/* 120 rows, 3 classes; columns 0..1 carry the class (block "good"), 2..5 are noise ("noise"),
 * column 6 is the class with a little noise ("fine"). */
enum { R = 120, C = 7 };
static float data[R * C];

static void make_data(feat_probe_labels *l)
{
    static const char *names[R];
    uint64_t s = 7;
    for (int r = 0; r < R; r++) {
        int c = r % 3;
        names[r] = c == 0 ? "a" : c == 1 ? "b" : "c";
        for (int j = 0; j < C; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float u = (float)((s >> 40) & 0xFFFF) / 65536.0f - 0.5f;
            data[r * C + j] = j < 2 ? (float)(3 * c) + u : j < 6 ? u : (float)c + 2 * u;
        }
    }
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_labels_from_names(names, R, l, &e), FEAT_OK);
}

static void test_run(void)
{
    feat_probe_labels l;
    make_data(&l);
    const feat_probe_block blocks[] = {{"noise", 2, 4}, {"good", 0, 2}, {"fine", 6, 1}};
    feat_probe_config cfg = {.seed = 3};
    feat_probe_report rep;
    feat_error e = {0};
    data[5 * C + 3] = NAN; /* a failed input: excluded and counted, never zero */
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, blocks, 3, &cfg, &rep, &e), FEAT_OK);
    CHECK_EQ_INT(rep.folds, 5);
    CHECK_EQ_INT(rep.n_excluded, 1);
    CHECK_EQ_INT(rep.n_used, R - 1);
    CHECK_EQ_INT(rep.fold[5], -1);
    CHECK_EQ_INT(rep.taps[1].pred[5], -1);
    CHECK_EQ_INT(rep.class_rows[2], 39);
    CHECK(rep.taps[1].mean == 1.0 && rep.taps[1].std == 0.0);
    CHECK(rep.taps[0].mean < 0.6);
    CHECK_EQ_INT(rep.taps[0].cols, 4);
    CHECK(rep.best_tap == &rep.taps[1]);
    /* The winner is never worse than the best tap; ties keep the single tap. */
    CHECK(rep.winner->mean >= rep.best_tap->mean);
    CHECK(rep.winner == rep.best_tap);
    CHECK_EQ_INT(rep.n_fused, 2);
    CHECK(rep.fused[0].n_blocks == 2 && rep.fused[0].blocks[0] == 0 && rep.fused[0].blocks[1] == 1);
    char spec[64];
    CHECK_EQ_INT(feat_probe_eval_spec(rep.winner, blocks, spec, sizeof spec, &e), FEAT_OK);
    CHECK(strcmp(spec, "good") == 0);
    CHECK_EQ_INT(feat_probe_eval_spec(&rep.fused[0], blocks, spec, sizeof spec, &e), FEAT_OK);
    CHECK(strcmp(spec, "noise,good") == 0);
    CHECK_EQ_INT(feat_probe_eval_spec(&rep.fused[0], blocks, spec, 5, &e), FEAT_E_BUFFER_TOO_SMALL);

    const char *path = tmp_file("report.json", NULL);
    const char *src[] = {"features", "x.npy"};
    CHECK_EQ_INT(feat_probe_report_write_json(path, &rep, blocks, &l, src, 1, 1, &e), FEAT_OK);
    feat_json *j = NULL;
    CHECK_EQ_INT(feat_json_parse_file(path, &j, &e), FEAT_OK);
    CHECK(j && strcmp(feat_json_get_str(j, "winner"), "good") == 0);
    CHECK(j && strcmp(feat_json_get_str(feat_json_get(j, "source"), "features"), "x.npy") == 0);
    const feat_json *fold = j ? feat_json_get(j, "fold") : NULL, *taps = j ? feat_json_get(j, "taps") : NULL;
    CHECK(fold && fold->child && fold->child->next->next->next->next->next->num == -1);
    CHECK(taps && taps->child && feat_json_get(taps->child, "accuracy_mean")->num == rep.taps[0].mean);
    CHECK(taps && feat_json_get(taps->child->next, "predictions") != NULL);
    feat_json_free(j);
    feat_probe_report_free(&rep);

    /* max_fused 1: singles only. */
    cfg.max_fused = 1;
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, blocks, 3, &cfg, &rep, &e), FEAT_OK);
    CHECK_EQ_INT(rep.n_fused, 0);
    feat_probe_report_free(&rep);
    feat_probe_labels_free(&l);
    data[5 * C + 3] = 0.0f;
}

/* Fusion that helps: each block alone sees half of the class, together they see all. */
static void test_run_fused_gain(void)
{
    enum { N = 200 };
    static float x[N * 2];
    static const char *names[N];
    for (int r = 0; r < N; r++) {
        int c = r % 4; /* class bits: block "hi" sees bit 1, block "lo" bit 0 */
        names[r] = c == 0 ? "c0" : c == 1 ? "c1" : c == 2 ? "c2" : "c3";
        x[r * 2] = (float)(c >> 1) + 0.01f * (float)(r % 7);
        x[r * 2 + 1] = (float)(c & 1) + 0.01f * (float)(r % 5);
    }
    feat_probe_labels l;
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_labels_from_names(names, N, &l, &e), FEAT_OK);
    const feat_probe_block blocks[] = {{"hi", 0, 1}, {"lo", 1, 1}};
    feat_probe_config cfg = {.folds = 4, .seed = 1};
    feat_probe_report rep;
    CHECK_EQ_INT(feat_probe_run(x, N, 2, &l, blocks, 2, &cfg, &rep, &e), FEAT_OK);
    CHECK(rep.taps[0].mean <= 0.5 + 1e-9 && rep.taps[1].mean <= 0.5 + 1e-9);
    CHECK_EQ_INT(rep.n_fused, 1);
    CHECK(rep.fused[0].accepted);
    CHECK(rep.winner == &rep.fused[0]);
    CHECK(rep.winner->mean > 0.99);
    CHECK_EQ_INT(rep.winner->cols, 2);
    feat_probe_report_free(&rep);
    feat_probe_labels_free(&l);
}

static void test_run_bad_input(void)
{
    feat_probe_labels l;
    make_data(&l);
    const feat_probe_block one[] = {{"good", 0, 2}}, wide[] = {{"good", 5, 3}}, unnamed[] = {{"", 0, 2}};
    feat_probe_config cfg = {0};
    feat_probe_report rep;
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, wide, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "outside the 7 columns");
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, unnamed, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "has no name");
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, one, 0, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(feat_probe_run(data, R - 1, C, &l, one, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "120 labels for 119 rows");
    cfg.folds = 101;
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, one, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    cfg.folds = 41; /* 40 rows per class */
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, one, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "class 'a' has 40 usable rows, fewer than the 41 folds");
    /* Fewer rows than folds: 4 rows (all but rows 0..3 failed). */
    cfg.folds = 5;
    float saved[R * C];
    memcpy(saved, data, sizeof saved);
    for (int r = 4; r < R; r++)
        data[r * C] = NAN;
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, one, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "4 usable rows (116 excluded as failed), fewer than the 5 folds");
    /* A single class left: only the rows of class 'b' are usable. */
    for (int r = 0; r < R; r++)
        data[r * C] = r % 3 == 1 ? 1.0f : NAN;
    CHECK_EQ_INT(feat_probe_run(data, R, C, &l, one, 1, &cfg, &rep, &e), FEAT_E_INVALID_ARGUMENT);
    CHECK_STR_HAS(e.msg, "every usable row has the class 'b'");
    memcpy(data, saved, sizeof saved);
    feat_probe_labels_free(&l);
}

static void test_matrix_read(void)
{
    float *x = NULL;
    size_t r, c;
    feat_error e = {0};
    CHECK_EQ_INT(feat_probe_matrix_read(tmp_file("none.npy", NULL), &x, &r, &c, &e), FEAT_E_NOT_FOUND);
    CHECK_EQ_INT(feat_probe_matrix_read(tmp_file("junk.npy", "not numpy"), &x, &r, &c, &e), FEAT_E_DECODE);
    CHECK_STR_HAS(e.msg, "junk.npy");
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 2;
    test_folds();
    test_scaler();
    test_greedy();
    test_labels();
    test_columns();
    test_default_taps();
    test_run();
    test_run_fused_gain();
    test_run_bad_input();
    test_matrix_read();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("probe");
}
