/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the .npy header reader (used to resume and merge outputs). */
#include "core/npy.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f)
        return 0;
    size_t rows, cols;
    feat_error err = {0};
    if (size)
        feat_npy_read_header(f, &rows, &cols, &err);
    fclose(f);
    return 0;
}
