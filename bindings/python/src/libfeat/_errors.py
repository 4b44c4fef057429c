# SPDX-License-Identifier: MIT
"""Exceptions: one class per libfeat status, all derived from FeatError."""

OK = 0
E_INVALID_ARGUMENT = -1
E_NOMEM = -2
E_NOT_FOUND = -3
E_UNSUPPORTED = -4
E_BUFFER_TOO_SMALL = -5
E_DECODE = -6
E_DEVICE = -7
E_CANCELLED = -8
E_STATE = -9
E_BACKEND = -10
E_INTERNAL = -11
E_IO = -12
E_LIMIT = -13
E_MODEL = -14


class FeatError(Exception):
    """A libfeat call failed. ``status`` is the C status (negative int), ``status_name`` its
    symbol (e.g. "FEAT_E_DECODE"), ``message`` the library's message."""

    status = None

    def __init__(self, status, message=""):
        self.status = int(status)
        self.message = message
        super().__init__(message or self.status_name)

    @property
    def status_name(self):
        from ._ffi import lib

        return lib.feat_status_name(self.status).decode()

    def __str__(self):
        return "%s: %s" % (self.status_name, self.message) if self.message else self.status_name

    def __reduce__(self):
        return (type(self), (self.status, self.message))


class InvalidArgument(FeatError, ValueError):
    status = E_INVALID_ARGUMENT


class OutOfMemory(FeatError, MemoryError):
    status = E_NOMEM


class NotFound(FeatError, LookupError):
    status = E_NOT_FOUND


class Unsupported(FeatError):
    status = E_UNSUPPORTED


class BufferTooSmall(FeatError):
    status = E_BUFFER_TOO_SMALL


class DecodeError(FeatError, ValueError):
    status = E_DECODE


class DeviceError(FeatError):
    status = E_DEVICE


class Cancelled(FeatError):
    status = E_CANCELLED


class StateError(FeatError):
    status = E_STATE


class BackendError(FeatError):
    status = E_BACKEND


class InternalError(FeatError):
    status = E_INTERNAL


class IOFailure(FeatError):
    status = E_IO


class LimitExceeded(FeatError):
    status = E_LIMIT


class ModelError(FeatError):
    status = E_MODEL


_BY_STATUS = {c.status: c for c in (InvalidArgument, OutOfMemory, NotFound, Unsupported, BufferTooSmall,
                                    DecodeError, DeviceError, Cancelled, StateError, BackendError,
                                    InternalError, IOFailure, LimitExceeded, ModelError)}


def error_for(status, message=""):
    """The exception for a status: its subclass, or FeatError for a code newer than this module."""
    cls = _BY_STATUS.get(int(status), FeatError)
    return cls(status, message)


def _msg(raw):
    if raw is None:
        return ""
    return raw.decode("utf-8", "replace")


def check(status, message_fn):
    """Raises the exception for ``status`` with the message read by ``message_fn()`` (called
    right after the failing call, before any other libfeat call on the same handle)."""
    if status != OK:
        raise error_for(status, _msg(message_fn()))
