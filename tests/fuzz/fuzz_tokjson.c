/* SPDX-License-Identifier: MIT */
/* libFuzzer target: tokenizer.json loading (lib/text/tokenizer_json.c) from an untrusted file,
 * then one encoding with whatever loaded. */
#include "text/text_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/feat-fuzz-tokjson-%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    feat_tokenizer *tok;
    if (feat_tokenizer_new(&tok) == FEAT_OK) {
        if (feat_tokenizer_load(tok, path, NULL) == FEAT_OK) {
            feat_encoding *e;
            if (feat_tokenizer_encode(tok, "Hello, un##affable <x> w\xc3\xb6rld! [SEP] x", (size_t)-1, "b [MASK]", 8,
                                      &e) == FEAT_OK)
                feat_encoding_free(e);
        }
        feat_tokenizer_free(tok);
    }
    return 0;
}
