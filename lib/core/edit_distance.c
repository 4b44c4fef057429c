/* SPDX-License-Identifier: MIT */
#include "core/edit_distance.h"

#include <string.h>

size_t feat_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > FEAT_EDIT_DISTANCE_MAX_LEN || lb > FEAT_EDIT_DISTANCE_MAX_LEN)
        return FEAT_EDIT_DISTANCE_FAR;
    size_t prev[FEAT_EDIT_DISTANCE_MAX_LEN + 1], cur[FEAT_EDIT_DISTANCE_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *feat_closest_name(const char *word, const char *const *candidates, size_t n)
{
    size_t len = strlen(word), best_d = FEAT_EDIT_DISTANCE_FAR;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = feat_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best && best_d > 0 && best_d <= 2 && 2 * best_d < len ? best : NULL;
}
