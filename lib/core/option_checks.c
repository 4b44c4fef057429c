#include "core/option_checks.h"

#include "core/error.h"

#include <string.h>

feat_status feat_check_device(const char *device)
{
    if (!device || !*device || strcmp(device, "cpu") == 0 || strcmp(device, "cuda") == 0)
        return FEAT_OK;
    int good = strncmp(device, "cuda:", 5) == 0 && device[5];
    for (const char *p = device + 5; good && *p; p++)
        if (*p < '0' || *p > '9' || p - device > 9)
            good = 0;
    if (!good)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "device '%s' not understood: use \"cpu\" or \"cuda:N\"",
                                  device);
    return FEAT_OK;
}

feat_status feat_check_precision(feat_precision precision)
{
    if ((int)precision < FEAT_PRECISION_DEFAULT || (int)precision > FEAT_PRECISION_BF16)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                  "precision %d not understood: use FEAT_PRECISION_DEFAULT (0), _FP32 (1) or _BF16 (2)",
                                  (int)precision);
    return FEAT_OK;
}
