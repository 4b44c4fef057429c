/* SPDX-License-Identifier: MIT */
/* libFuzzer target: BERT normalizer + pre-tokenizer + WordPiece + encoding of untrusted text,
 * single and paired (split at the first 0x01 byte), with truncation and windows. The
 * vocabulary (small, but with special tokens, ## pieces, accents and CJK) is written once. */
#include "text/text_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "the", "un", "##aff", "##able", "##s", "##ing",
    "play", "hello", "world", "!", ",", ".", "'", "caf", "##e", "\xc3\xa9", "\xe4\xb8\xad", "\xe6\x96\x87", "##a",
    "##b", "##c", "0", "1", "##0", "##1", "x", "##x", "\xf0\x9f\x98\x80",
};

static feat_tokenizer *load(int lowercase)
{
    char path[] = "/tmp/feat-fuzz-vocab-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        abort();
    for (size_t i = 0; i < sizeof vocab / sizeof *vocab; i++)
        fprintf(f, "%s\n", vocab[i]);
    fclose(f);
    feat_text_options *o;
    feat_tokenizer *tok;
    feat_text_options_new(&o);
    feat_text_options_set_lowercase(o, lowercase ? FEAT_TRISTATE_ON : FEAT_TRISTATE_OFF);
    feat_text_options_set_max_length(o, 16);
    if (feat_tokenizer_new(&tok) != FEAT_OK || feat_tokenizer_load(tok, path, o) != FEAT_OK)
        abort();
    feat_text_options_free(o);
    unlink(path);
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static feat_tokenizer *uncased, *cased;
    static feat_tok_scratch *scratch;
    static feat_tok_output out;
    if (!uncased) {
        uncased = load(1);
        cased = load(0);
        feat_tok_scratch_new(&scratch);
    }
    const feat_tokenizer *tok = size && (data[0] & 1) ? cased : uncased;
    feat_tok_params p;
    feat_tok_params_from_tokenizer(tok, &p);
    p.want_offsets = 1;
    const char *text = (const char *)data;
    const uint8_t *sep = memchr(data, 1, size);
    feat_error err = {0};
    if (sep) {
        p.truncation = (feat_truncation)(1 + size % 3);
        feat_tok_encode(tok, scratch, text, (size_t)(sep - data), (const char *)sep + 1, size - (size_t)(sep - data) - 1,
                        &p, &out, &err);
    } else {
        p.windows = size % 2;
        p.stride = 3;
        feat_tok_encode(tok, scratch, text, size, NULL, 0, &p, &out, &err);
    }
    return 0;
}
