/* Checks of option values that image and text options share. Each returns FEAT_OK, or
 * FEAT_E_INVALID_ARGUMENT with the thread's last error set. */
#ifndef FEAT_CORE_OPTION_CHECKS_H
#define FEAT_CORE_OPTION_CHECKS_H

#include "feat/common.h"

/* "cpu", "cuda" or "cuda:N" (syntax only: whether the device exists is known at load);
 * NULL or "" are fine (the default). */
feat_status feat_check_device(const char *device);

/* A value of the feat_precision enumeration. */
feat_status feat_check_precision(feat_precision precision);

#endif /* FEAT_CORE_OPTION_CHECKS_H */
