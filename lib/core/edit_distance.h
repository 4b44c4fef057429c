/* SPDX-License-Identifier: MIT */
/* Edit distance between short names, for "did you mean" hints (tap paths, CLI flags and
 * subcommands). */
#ifndef FEAT_CORE_EDIT_DISTANCE_H
#define FEAT_CORE_EDIT_DISTANCE_H

#include <stddef.h>

/* Longest name compared; longer names are at distance FEAT_EDIT_DISTANCE_FAR from anything. */
#define FEAT_EDIT_DISTANCE_MAX_LEN 255
#define FEAT_EDIT_DISTANCE_FAR ((size_t)-1)

/* Levenshtein distance (insertions, deletions, substitutions of bytes). */
size_t feat_edit_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is close enough to be a likely typo: at
 * most 2 edits, and fewer than half of word's length (so "ab" suggests nothing). Ties go to
 * the earlier candidate. */
const char *feat_closest_name(const char *word, const char *const *candidates, size_t n);

#endif
