/* SPDX-License-Identifier: MIT */
/* libFuzzer target: vocabulary loading from an untrusted file, then one encoding with
 * whatever loaded. Built twice (tests/fuzz/meson.build): fuzz_vocab as vocab.txt, and with
 * FUZZ_TOKENIZER_JSON as fuzz_tokjson, whose file name ends in .json so that the loader reads
 * it as a tokenizer.json (lib/text/tokenizer_json.c). */
#include "text/text_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FUZZ_TOKENIZER_JSON
#  define FUZZ_NAME "tokjson"
#  define FUZZ_SUFFIX ".json"
/* added tokens (<x>) and a pair exercise what only tokenizer.json files describe */
#  define FUZZ_TEXT "Hello, un##affable <x> w\xc3\xb6rld! [SEP] x"
#  define FUZZ_TEXT_B "b [MASK]"
#else
#  define FUZZ_NAME "vocab"
#  define FUZZ_SUFFIX ""
#  define FUZZ_TEXT "Hello, un##affable world! [SEP] x"
#  define FUZZ_TEXT_B NULL
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/feat-fuzz-" FUZZ_NAME "-%d" FUZZ_SUFFIX, (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    feat_tokenizer *tok;
    if (feat_tokenizer_new(&tok) == FEAT_OK) {
        if (feat_tokenizer_load(tok, path, NULL) == FEAT_OK) {
            feat_encoding *e;
            const char *b = FUZZ_TEXT_B;
            if (feat_tokenizer_encode(tok, FUZZ_TEXT, (size_t)-1, b, b ? strlen(b) : 0, &e) == FEAT_OK)
                feat_encoding_free(e);
        }
        feat_tokenizer_free(tok);
    }
    return 0;
}
