/* SPDX-License-Identifier: MIT */
/* libFuzzer target: tap spec parsing and resolution against a fixed module list. */
#include "taps/taps.h"

#include <stdlib.h>
#include <string.h>

static const char *const paths[] = {"features", "features.0", "features.1", "features.2", "encoder",
                                    "encoder.layer", "encoder.layer.0", "encoder.layer.1", "encoder.layer.1.attention",
                                    "layer4", "layer4.2", "layer4.2.relu"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    feat_tap_list parsed, resolved;
    feat_error err = {0};
    if (feat_taps_parse(spec, &parsed, &err) == FEAT_OK) {
        feat_module_list mods = {sizeof paths / sizeof *paths, paths};
        feat_taps_resolve(&parsed, &mods, &resolved, &err);
    }
    free(spec);
    return 0;
}
