/* SPDX-License-Identifier: MIT */
/* Private to lib/probe: writing an output under PATH.partial and renaming it into place, so
 * a killed run never leaves a truncated table or report under the final name. */
#ifndef FEAT_PROBE_PRIV_H
#define FEAT_PROBE_PRIV_H

#include "core/error.h"

#include <stdio.h>

#define PROBE_PATH_MAX 4096

/* Opens tmp = "PATH.partial" (cap bytes) for writing; NULL with the message in err. */
FILE *feat_probe_partial_open(const char *path, char *tmp, size_t cap, feat_error *err);
/* Closes f and renames tmp to path; on any failure (failed set, a write error, the close or
 * the rename) removes tmp and returns FEAT_E_IO. */
feat_status feat_probe_partial_commit(FILE *f, const char *tmp, const char *path, int failed, feat_error *err);

#endif
