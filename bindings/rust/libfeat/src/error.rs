use std::ffi::{c_char, CStr};
use std::fmt;

use libfeat_sys as sys;

/// What kind of failure a libfeat status is. `Other` keeps codes newer than this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    InvalidArgument,
    OutOfMemory,
    NotFound,
    Unsupported,
    BufferTooSmall,
    Decode,
    Device,
    Cancelled,
    State,
    Backend,
    Internal,
    Io,
    Limit,
    Model,
    Other(i32),
}

impl ErrorKind {
    pub fn from_status(status: i32) -> ErrorKind {
        match status {
            sys::FEAT_E_INVALID_ARGUMENT => ErrorKind::InvalidArgument,
            sys::FEAT_E_NOMEM => ErrorKind::OutOfMemory,
            sys::FEAT_E_NOT_FOUND => ErrorKind::NotFound,
            sys::FEAT_E_UNSUPPORTED => ErrorKind::Unsupported,
            sys::FEAT_E_BUFFER_TOO_SMALL => ErrorKind::BufferTooSmall,
            sys::FEAT_E_DECODE => ErrorKind::Decode,
            sys::FEAT_E_DEVICE => ErrorKind::Device,
            sys::FEAT_E_CANCELLED => ErrorKind::Cancelled,
            sys::FEAT_E_STATE => ErrorKind::State,
            sys::FEAT_E_BACKEND => ErrorKind::Backend,
            sys::FEAT_E_INTERNAL => ErrorKind::Internal,
            sys::FEAT_E_IO => ErrorKind::Io,
            sys::FEAT_E_LIMIT => ErrorKind::Limit,
            sys::FEAT_E_MODEL => ErrorKind::Model,
            other => ErrorKind::Other(other),
        }
    }
}

/// A failed libfeat call (or a failed item of a batch): the C status and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

impl Error {
    pub fn new(status: i32, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
    /// The C status, a stable negative number (`FEAT_E_*`).
    pub fn status(&self) -> i32 {
        self.status
    }
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_status(self.status)
    }
    /// The library's message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The status symbol, e.g. "FEAT_E_DECODE".
    pub fn status_name(&self) -> &'static str {
        status_name(self.status)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.status_name())
        } else {
            write!(f, "{}: {}", self.status_name(), self.message)
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Symbol of a status ("FEAT_OK", "FEAT_E_DECODE", ...).
pub fn status_name(status: i32) -> &'static str {
    // SAFETY: static storage, never NULL (feat/common.h).
    unsafe { CStr::from_ptr(sys::feat_status_name(status)) }
        .to_str()
        .unwrap_or("FEAT_E_?")
}

/// Copies a borrowed C string (NULL reads as "").
pub(crate) fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the library's strings are NUL-terminated and live at least until the next
        // call on the same object; we copy right away.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Turns a status into a Result, reading the message with `msg` right after the failed call
/// (same thread, no other call on the object in between).
pub(crate) fn check(status: i32, msg: impl FnOnce() -> *const c_char) -> Result<()> {
    if status == sys::FEAT_OK {
        Ok(())
    } else {
        Err(Error::new(status, cstr(msg())))
    }
}

pub(crate) fn last_error() -> *const c_char {
    // SAFETY: thread-local slot, never NULL.
    unsafe { sys::feat_last_error() }
}
