/* SPDX-License-Identifier: MIT */
// The public header must compile as C++ and give C linkage.
#include <feat/feat.h>

int main()
{
    feat_image_options *o = nullptr;
    if (feat_image_options_new(&o) != FEAT_OK)
        return 1;
    feat_image_options_free(o);
    return feat_abi_version() == FEAT_ABI_VERSION ? 0 : 1;
}
