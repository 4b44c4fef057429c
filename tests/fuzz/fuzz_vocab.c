/* SPDX-License-Identifier: MIT */
/* libFuzzer target: vocabulary loading from an untrusted file. */
#include "text/text_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/feat-fuzz-vocab-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    feat_tokenizer *tok;
    if (feat_tokenizer_new(&tok) == FEAT_OK) {
        if (feat_tokenizer_load(tok, path, NULL) == FEAT_OK) {
            feat_encoding *e;
            if (feat_tokenizer_encode(tok, "Hello, un##affable world! [SEP] x", (size_t)-1, NULL, 0, &e) == FEAT_OK)
                feat_encoding_free(e);
        }
        feat_tokenizer_free(tok);
    }
    return 0;
}
