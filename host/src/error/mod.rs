//! Typed errors and the platform's numeric error codes.
//!
//! Every error carries a code of its own family ([`PackageCode`],
//! [`TrustCode`], [`StationCode`], [`InputCode`], [`LimitCode`],
//! [`OutputCode`]), so a package error cannot carry a timeout's code; all of
//! them convert into the platform's [`ErrorCode`]. Where wasmtime (or the
//! system) said why, its error is kept as the [`source`](std::error::Error::source).

mod codes;

use std::sync::Arc;

pub use self::codes::{ErrorCode, InputCode, LimitCode, OutputCode, PackageCode, StationCode, TrustCode};

/// What caused an error, kept for [`std::error::Error::source`]. Shared, so
/// that errors stay cheap to clone.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, by who is at fault; tests and callers match on this, never on
/// message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The algorithm ran and returned an error of its own.
    Algorithm,
    /// The guest trapped (panic, unreachable, out-of-bounds access, stack overflow)
    /// or broke the calling convention (a bad pointer, invalid UTF-8).
    Trap,
    /// The guest hit a resource limit: fuel, a deadline, the memory or table cap,
    /// the output size cap.
    Limit,
    /// The package asks for something the host's policy refuses.
    Policy,
    /// The caller's input was refused before the guest was called.
    InvalidInput,
    /// The algorithm returned an output the host refuses (a rect outside the
    /// image, NG without a reason, over a size cap...).
    InvalidOutput,
    /// The package could not be loaded or does not fit the contract.
    Package,
    /// The package is not trusted: unsigned, a bad signature, unknown or revoked
    /// signers, too few signers, a rollback; or the trust store itself is unusable.
    Trust,
    /// The runner is at capacity: every instance is busy and the queue is full.
    Busy,
    /// The station refused a change: an activation conflict, an unsafe
    /// uninstall, an install it cannot complete.
    Station,
    /// pv-host itself failed (I/O, engine, internal limits).
    Host,
}

/// Every error of the library.
///
/// Each carries an [`ErrorCode`] (see [`Error::code`]) and belongs to one
/// [`ErrorKind`] (see [`Error::kind`]). Messages are one line, lowercase, and quote
/// the values involved.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The algorithm returned an error.
    #[error("algorithm error {code}: {message}")]
    Algorithm {
        /// Code chosen by the algorithm.
        code: ErrorCode,
        /// The algorithm's message.
        message: String,
    },
    /// The guest trapped; the instance is unusable and must be dropped.
    #[error("algorithm crashed: {message}")]
    Trap {
        /// A short description that leaks no host internals.
        message: String,
        /// wasmtime's error, with the guest's backtrace where it has one.
        #[source]
        source: Option<Cause>,
    },
    /// The guest hit a resource limit; the instance is unusable and must be dropped.
    #[error("algorithm stopped: {message}")]
    Limit {
        /// 1004 (memory, tables), 1005 (fuel, deadline) or 9999 (output size).
        code: LimitCode,
        /// Which limit, and its value.
        message: String,
    },
    /// The component imports interfaces the host's import policy refuses.
    #[error("{message}")]
    ImportsRefused {
        /// The refused imports, as the component names them.
        imports: Vec<String>,
        /// What is refused and what is allowed.
        message: String,
    },
    /// The component needs more of a counted resource than its limits grant
    /// (error 2116), found on its bytes before it is compiled or instantiated.
    #[error("{message}")]
    LimitTooLow {
        /// Which limit: "core instances", "memories", "tables", "table elements"
        /// or "bytes of initial memory".
        limit: &'static str,
        /// What the component needs.
        needed: u64,
        /// What it is granted.
        allowed: u64,
        /// The limit, both values, and how to raise it.
        message: String,
    },
    /// Input refused by the host before calling the guest.
    #[error("{message}")]
    InvalidInput {
        /// 1001, 1002 or 1006.
        code: InputCode,
        /// What is wrong with the input.
        message: String,
    },
    /// The algorithm's output broke a rule of the host's [`OutputRules`]; the
    /// session is left as it was before the call.
    ///
    /// [`OutputRules`]: crate::sandbox::OutputRules
    #[error("invalid output: {message}")]
    InvalidOutput {
        /// 1007 for coordinates, 9999 otherwise.
        code: OutputCode,
        /// Which rule, and the value that broke it.
        message: String,
    },
    /// The package cannot be used.
    #[error("{message}")]
    Package {
        /// A 21xx code.
        code: PackageCode,
        /// What is wrong and what to do.
        message: String,
        /// What the compiler, the linker or the system said, when one of them
        /// refused.
        #[source]
        source: Option<Cause>,
    },
    /// The package is not trusted.
    #[error("{message}")]
    Untrusted {
        /// 2106 to 2110, 2112 or 2114.
        code: TrustCode,
        /// Why, and what to do about it.
        message: String,
    },
    /// The station refused a change.
    #[error("{message}")]
    Station {
        /// 2005, 2006 or 2007, with the platform's meanings.
        code: StationCode,
        /// What was refused, and what to do.
        message: String,
    },
    /// The runner's instances are all busy and its queue is full.
    #[error("busy: {message}")]
    Busy {
        /// The runner's capacity.
        message: String,
    },
    /// The host failed.
    #[error("host failure: {message}")]
    Host {
        /// What failed.
        message: String,
        /// Why, when wasmtime or the system said.
        #[source]
        source: Option<Cause>,
    },
}

impl Error {
    /// The platform error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Algorithm { code, .. } => *code,
            Error::Limit { code, .. } => (*code).into(),
            Error::InvalidInput { code, .. } => (*code).into(),
            Error::InvalidOutput { code, .. } => (*code).into(),
            Error::Package { code, .. } => (*code).into(),
            Error::Untrusted { code, .. } => (*code).into(),
            Error::Station { code, .. } => (*code).into(),
            Error::ImportsRefused { .. } => ErrorCode::ImportRefused,
            Error::LimitTooLow { .. } => ErrorCode::LimitTooLow,
            Error::Busy { .. } => ErrorCode::Busy,
            Error::Trap { .. } | Error::Host { .. } => ErrorCode::Unknown,
        }
    }

    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Algorithm { .. } => ErrorKind::Algorithm,
            Error::Trap { .. } => ErrorKind::Trap,
            Error::Limit { .. } => ErrorKind::Limit,
            Error::ImportsRefused { .. } | Error::LimitTooLow { .. } => ErrorKind::Policy,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::InvalidOutput { .. } => ErrorKind::InvalidOutput,
            Error::Package { .. } => ErrorKind::Package,
            Error::Untrusted { .. } => ErrorKind::Trust,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Station { .. } => ErrorKind::Station,
            Error::Host { .. } => ErrorKind::Host,
        }
    }

    pub(crate) fn input(code: InputCode, message: impl Into<String>) -> Self {
        Error::InvalidInput { code, message: message.into() }
    }

    pub(crate) fn package(code: PackageCode, message: impl Into<String>) -> Self {
        Error::Package { code, message: message.into(), source: None }
    }

    /// A package error caused by wasmtime's (or another) error, kept as its source.
    pub(crate) fn package_caused(code: PackageCode, message: impl Into<String>, cause: impl Into<BoxedCause>) -> Self {
        Error::Package { code, message: message.into(), source: Some(Arc::from(cause.into())) }
    }

    pub(crate) fn untrusted(code: TrustCode, message: impl Into<String>) -> Self {
        Error::Untrusted { code, message: message.into() }
    }

    pub(crate) fn station(code: StationCode, message: impl Into<String>) -> Self {
        Error::Station { code, message: message.into() }
    }

    pub(crate) fn host(message: impl Into<String>) -> Self {
        Error::Host { message: message.into(), source: None }
    }

    /// A host failure caused by wasmtime's (or another) error, kept as its source.
    pub(crate) fn host_caused(message: impl Into<String>, cause: impl Into<BoxedCause>) -> Self {
        Error::Host { message: message.into(), source: Some(Arc::from(cause.into())) }
    }

    /// The same error, its message prefixed with the package it concerns.
    pub(crate) fn in_package(self, origin: &str) -> Self {
        match self {
            Error::Package { code, message, source } => Error::Package { code, message: format!("{origin}: {message}"), source },
            other => other,
        }
    }

    /// The message followed by every cause, `: `-separated, for a reader that
    /// gets one line (a protocol frame, a report).
    pub fn message_with_causes(&self) -> String {
        let mut line = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            line.push_str(": ");
            line.push_str(&err.to_string());
            cause = err.source();
        }
        line
    }
}

impl From<crate::types::AlgorithmError> for Error {
    fn from(err: crate::types::AlgorithmError) -> Self {
        Error::Algorithm { code: err.code.into(), message: err.message }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A cause before it is shared: wasmtime's errors and the system's convert into it.
pub(crate) type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;
