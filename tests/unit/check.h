/* SPDX-License-Identifier: MIT */
/* Minimal assertion helpers for the C unit tests: each failed check prints where and why,
 * and the test exits non-zero at the end. */
#ifndef FEAT_TEST_CHECK_H
#define FEAT_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    check_count++;                                                                                                     \
    if (!(cond)) {                                                                                                     \
      check_failures++;                                                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                         \
    }                                                                                                                  \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                                             \
  do {                                                                                                                 \
    long long va_ = (long long)(a), vb_ = (long long)(b);                                                              \
    check_count++;                                                                                                     \
    if (va_ != vb_) {                                                                                                  \
      check_failures++;                                                                                                \
      fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, va_, vb_);                         \
    }                                                                                                                  \
  } while (0)

#define CHECK_STR_HAS(hay, needle)                                                                                     \
  do {                                                                                                                 \
    const char *h_ = (hay);                                                                                            \
    check_count++;                                                                                                     \
    if (!h_ || !strstr(h_, (needle))) {                                                                                \
      check_failures++;                                                                                                \
      fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, h_ ? h_ : "(null)", (needle));        \
    }                                                                                                                  \
  } while (0)

static int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
