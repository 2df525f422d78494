//! The runner's error: what went wrong talking to Encharge or reading local files.
//!
//! Messages never contain the API key: requests carry it only in a header that
//! is marked sensitive, and no message is built from headers.

use std::fmt;

/// An error of the runner library.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// What kind of error it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Encharge answered 401 or 403: the API key is wrong or lacks the right.
    ApiKeyRejected {
        /// 401 or 403.
        status: u16,
    },
    /// Encharge answered with another status that is not a success.
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// No answer: connection refused or dropped, timeout, TLS.
    Transport,
    /// An answer we could not read (not the JSON we expected).
    Response,
    /// A local file could not be read or written.
    Io,
    /// A setting cannot be used (e.g. an API key that is not a valid header value).
    Config,
}

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// What kind of error it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error for a 401 or 403 answer; one message, the same everywhere.
    pub fn api_key_rejected(status: u16) -> Error {
        Error::new(
            ErrorKind::ApiKeyRejected { status },
            format!(
                "Encharge rejected the API key (HTTP {status}); check settings.api_key \
                 (Encharge: Account → Integrations → API key)"
            ),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e.to_string())
    }
}
