/* SPDX-License-Identifier: MIT */
#include "core/error.h"

const char *feat_status_name(feat_status status)
{
    switch (status) {
    case FEAT_OK: return "FEAT_OK";
    case FEAT_E_INVALID_ARGUMENT: return "FEAT_E_INVALID_ARGUMENT";
    case FEAT_E_NOMEM: return "FEAT_E_NOMEM";
    case FEAT_E_NOT_FOUND: return "FEAT_E_NOT_FOUND";
    case FEAT_E_UNSUPPORTED: return "FEAT_E_UNSUPPORTED";
    case FEAT_E_BUFFER_TOO_SMALL: return "FEAT_E_BUFFER_TOO_SMALL";
    case FEAT_E_DECODE: return "FEAT_E_DECODE";
    case FEAT_E_DEVICE: return "FEAT_E_DEVICE";
    case FEAT_E_CANCELLED: return "FEAT_E_CANCELLED";
    case FEAT_E_STATE: return "FEAT_E_STATE";
    case FEAT_E_BACKEND: return "FEAT_E_BACKEND";
    case FEAT_E_INTERNAL: return "FEAT_E_INTERNAL";
    case FEAT_E_IO: return "FEAT_E_IO";
    case FEAT_E_LIMIT: return "FEAT_E_LIMIT";
    case FEAT_E_MODEL: return "FEAT_E_MODEL";
    }
    return "FEAT_E_UNKNOWN";
}

const char *feat_last_error(void) { return feat_error_tls()->msg; }
