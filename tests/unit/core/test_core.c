/* SPDX-License-Identifier: MIT */
/* Status names, error slots, results, the side-car JSON reader and the .npy writer. */
#include "../check.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/result.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static void test_status(void)
{
    CHECK(strcmp(feat_status_name(FEAT_E_DECODE), "FEAT_E_DECODE") == 0);
    CHECK(strcmp(feat_status_name(12345), "FEAT_E_UNKNOWN") == 0);
    CHECK(feat_last_error() != NULL);
    feat_error e = {0};
    CHECK_EQ_INT(feat_error_set(&e, FEAT_E_IO, "cannot read %s", "x.jpg"), FEAT_E_IO);
    feat_error_prefix(&e, "%s", "dir/x.jpg");
    CHECK(strcmp(e.msg, "dir/x.jpg: cannot read x.jpg") == 0);
    char longpath[2000];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    feat_error_prefix(&e, "%s", longpath); /* truncates, never overflows */
    CHECK(strlen(e.msg) < FEAT_ERROR_MSG_MAX);
    feat_error_clear(&e);
    CHECK(e.code == FEAT_OK && e.msg[0] == '\0');
}

static void test_result(void)
{
    feat_error e = {0};
    feat_result *r;
    CHECK_EQ_INT(feat_result_alloc(3, 2, &r, &e), FEAT_OK);
    CHECK_EQ_INT(feat_result_n_items(r), 3);
    CHECK_EQ_INT(feat_result_n_failed(r), 3); /* nothing computed yet */
    CHECK(isnan(feat_result_data(r)[0]));
    float *row = feat_result_row(r, 1);
    row[0] = 1;
    row[1] = 2;
    feat_result_set_ok(r, 1);
    feat_error_set(&e, FEAT_E_DECODE, "truncated");
    feat_result_set_error(r, 2, &e);
    CHECK_EQ_INT(feat_result_item_status(r, 1), FEAT_OK);
    CHECK_EQ_INT(feat_result_item_status(r, 2), FEAT_E_DECODE);
    CHECK(strcmp(feat_result_item_error(r, 2), "truncated") == 0);
    CHECK(strcmp(feat_result_item_error(r, 1), "") == 0);
    CHECK(strcmp(feat_result_item_error(r, 99), "") == 0);
    CHECK_EQ_INT(feat_result_item_status(r, 99), FEAT_E_INVALID_ARGUMENT);
    float dst[6];
    size_t need = 0;
    CHECK_EQ_INT(feat_result_copy_to(r, dst, 5, &need), FEAT_E_BUFFER_TOO_SMALL);
    CHECK_EQ_INT(need, 6);
    CHECK_EQ_INT(feat_result_copy_to(r, dst, 6, NULL), FEAT_OK);
    CHECK(dst[2] == 1 && dst[3] == 2 && isnan(dst[4]));
    feat_result_free(r);
    feat_result_free(NULL);
    CHECK_EQ_INT(feat_result_alloc(SIZE_MAX / 2, 16, &r, &e), FEAT_E_LIMIT);
}

static void test_json(void)
{
    feat_error e = {0};
    feat_json *j;
    const char *ok = "{\"format\": \"libfeat-model\", \"n\": 3, \"t\": true, \"x\": null, "
                     "\"s\": \"a\\u00e9\\ud83d\\ude00\\n\", \"arr\": [1, {\"k\": []}], \"o\": {\"in\": -1.5e2}}";
    CHECK_EQ_INT(feat_json_parse(ok, strlen(ok), &j, &e), FEAT_OK);
    CHECK(strcmp(feat_json_get_str(j, "format"), "libfeat-model") == 0);
    CHECK(feat_json_get(j, "n")->num == 3);
    CHECK(feat_json_get(j, "t")->type == FEAT_JSON_BOOL);
    CHECK(strcmp(feat_json_get_str(j, "s"), "a\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    CHECK(feat_json_get(feat_json_get(j, "o"), "in")->num == -150);
    CHECK(feat_json_get(j, "missing") == NULL);
    feat_json_free(j);
    static const char *const bad[] = {"",      "{",           "{\"a\" 1}",     "{\"a\": 1,}",
                                      "[1 2]", "\"\\ud800\"", "\"\\x\"",       "{\"a\": tru}",
                                      "01x",   "{} {}",       "\"tab\there\"", "\"open"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        feat_status st = feat_json_parse(bad[i], strlen(bad[i]), &j, &e);
        CHECK_EQ_INT(st, FEAT_E_DECODE);
        if (st == FEAT_OK)
            feat_json_free(j);
    }
    char deep[200];
    memset(deep, '[', sizeof deep);
    CHECK_EQ_INT(feat_json_parse(deep, sizeof deep, &j, &e), FEAT_E_DECODE);
    CHECK_STR_HAS(e.msg, "nested too deeply");
    /* Strings are NUL-terminated: a \u0000 would cut a key or a token short. */
    CHECK_EQ_INT(feat_json_parse("\"a\\u0000b\"", 10, &j, &e), FEAT_E_DECODE);
    CHECK_STR_HAS(e.msg, "\\u0000 in a string");
    /* The caller's limits (tokenizer.json): 5 values here (1, 2, 3, [4] and 4). */
    const char *arr = "[1, 2, 3, [4]]";
    CHECK_EQ_INT(feat_json_parse_limited(arr, strlen(arr), 64, 5, &j, &e), FEAT_OK);
    feat_json_free(j);
    CHECK_EQ_INT(feat_json_parse_limited(arr, strlen(arr), 64, 4, &j, &e), FEAT_E_LIMIT);
    CHECK_STR_HAS(e.msg, "more than 4 values");
    CHECK_EQ_INT(feat_json_parse_limited(arr, strlen(arr), 10, 5, &j, &e), FEAT_E_LIMIT);
    CHECK_STR_HAS(e.msg, "larger than 10");
}

static void test_npy(void)
{
    char dir[] = "/tmp/feat-npy-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], partial[300];
    snprintf(path, sizeof path, "%s/out.npy", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    feat_error e = {0};
    feat_npy_writer *w;
    CHECK_EQ_INT(feat_npy_open(path, 3, &w, &e), FEAT_OK);
    const float rows[6] = {1, 2, 3, 4, 5, 6};
    CHECK_EQ_INT(feat_npy_append(w, rows, 2, &e), FEAT_OK);
    CHECK(access(path, F_OK) != 0); /* not under its final name before close */
    CHECK(access(partial, F_OK) == 0);
    CHECK_EQ_INT(feat_npy_close(w, &e), FEAT_OK);
    CHECK(access(partial, F_OK) != 0);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) {
        size_t r = 0, c = 0;
        CHECK_EQ_INT(feat_npy_read_header(f, &r, &c, &e), FEAT_OK);
        CHECK_EQ_INT(r, 2);
        CHECK_EQ_INT(c, 3);
        CHECK_EQ_INT(ftell(f) % 64, 0);
        float back[6];
        CHECK_EQ_INT(fread(back, sizeof(float), 6, f), 6);
        CHECK(memcmp(back, rows, sizeof rows) == 0);
        fclose(f);
    }
    remove(path);
    /* Synced rows stay under the temporary name until close renames them. */
    CHECK_EQ_INT(feat_npy_open(path, 3, &w, &e), FEAT_OK);
    CHECK_EQ_INT(feat_npy_append(w, rows, 1, &e), FEAT_OK);
    CHECK_EQ_INT(feat_npy_sync(w, &e), FEAT_OK);
    CHECK(access(path, F_OK) != 0);
    f = fopen(partial, "rb");
    CHECK(f != NULL);
    if (f) {
        size_t r = 0, c = 0;
        CHECK_EQ_INT(feat_npy_read_header(f, &r, &c, &e), FEAT_OK);
        CHECK_EQ_INT(r, 1);
        fclose(f);
    }
    feat_npy_abort(w);
    CHECK(access(partial, F_OK) != 0);
    CHECK_EQ_INT(feat_npy_open("/nonexistent-dir/x.npy", 3, &w, &e), FEAT_E_IO);
    rmdir(dir);

    /* Damaged shapes: %llu would take "-1" as 2^64 - 1. */
    static const char *const bad_shapes[] = {"(-1, 3)", "(2, -3)", "(18446744073709551615, 3)", "(1099511627777, 1)",
                                             "(4611686018427387904, 4611686018427387904)"};
    for (size_t i = 0; i < sizeof bad_shapes / sizeof *bad_shapes; i++) {
        char h[128];
        int n =
            snprintf(h + 10, sizeof h - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }\n", bad_shapes[i]);
        memcpy(h, "\x93NUMPY\x01\x00", 8);
        h[8] = (char)n;
        h[9] = 0;
        FILE *m = fmemopen(h, (size_t)n + 10, "rb");
        size_t r = 0, c = 0;
        CHECK(m != NULL);
        if (m) {
            CHECK(feat_npy_read_header(m, &r, &c, &e) != FEAT_OK);
            fclose(m);
        }
    }
}

int main(void)
{
    test_status();
    test_result();
    test_json();
    test_npy();
    return check_report("test_core");
}
