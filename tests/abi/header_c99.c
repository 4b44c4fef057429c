/* SPDX-License-Identifier: MIT */
/* The public header must compile as strict C99 (built with -std=c99 -pedantic -Werror). */
#include <feat/feat.h>

int main(void)
{
    feat_status st = FEAT_OK;
    return (int)st + (feat_abi_version() == FEAT_ABI_VERSION ? 0 : 1);
}
