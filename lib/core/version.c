/* SPDX-License-Identifier: MIT */
#include "feat/common.h"

#define FEAT_STR2(x) #x
#define FEAT_STR(x) FEAT_STR2(x)

const char *feat_version_string(void)
{
    return FEAT_STR(FEAT_VERSION_MAJOR) "." FEAT_STR(FEAT_VERSION_MINOR) "." FEAT_STR(FEAT_VERSION_PATCH);
}

int32_t feat_version_number(void) { return FEAT_VERSION_NUMBER; }

int32_t feat_abi_version(void) { return FEAT_ABI_VERSION; }
