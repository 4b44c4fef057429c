/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the side-car JSON reader. */
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    feat_json *j;
    feat_error err = {0};
    if (feat_json_parse((const char *)data, size, &j, &err) == FEAT_OK) {
        feat_json_get_str(j, "format");
        feat_json_get(feat_json_get(j, "image"), "resize");
        feat_json_free(j);
    }
    return 0;
}
