//! Typed errors and the platform's numeric error codes.

use std::fmt;

/// The platform's error codes: its algorithm codes (1xxx), its package-management
/// codes 2005-2007 (used by station mode, with the platform's meanings), and
/// pv-host's own package and trust codes in a block the platform does not use
/// (21xx; before this block existed they were 20xx: 2101 was 2001, and so on).
///
/// | code | meaning |
/// |------|---------|
/// | 1001 | the product id is empty or not supported by the algorithm |
/// | 1002 | the image could not be loaded, decoded or converted |
/// | 1003 | a model or asset the algorithm needs is missing |
/// | 1004 | out of memory |
/// | 1005 | timeout |
/// | 1006 | invalid parameters or input (unknown step, wrong param type or range) |
/// | 1007 | a coordinate is outside the image or a size is not positive |
/// | 1000 | `serve`: a frame that cannot be understood (an `error` frame) |
/// | 1009 | `serve`: the algorithm crashed, reported as the platform reports an exception (an `error` frame) |
/// | 2101 | the package file cannot be read |
/// | 2102 | the package is malformed: not a valid component, or its sections are not laid out as a package |
/// | 2103 | the component does not implement the `procvision:algorithm@1` contract |
/// | 2104 | the component imports an interface the host's import policy refuses (the network, for one) |
/// | 2105 | the manifest is invalid (schema, unknown field, bad version or name) |
/// | 2106 | the package is not signed |
/// | 2107 | a signature does not verify: the package was changed after signing |
/// | 2108 | the package is signed only by keys the trust store does not know |
/// | 2109 | the package is signed by a revoked key |
/// | 2110 | fewer distinct trusted signers than the trust policy requires |
/// | 2111 | the manifest and the component's `get-info` disagree (name, version, PIDs) |
/// | 2112 | the package is older than a version already admitted (rollback) |
/// | 2113 | an asset does not match the manifest (missing, extra, size or digest) |
/// | 2114 | the trust store cannot be used (unreadable, a malformed or weak key) |
/// | 2115 | a parameter pattern the algorithm declares is invalid or over the host's caps (length, compiled size, count) |
/// | 2116 | the component needs more than a limit grants it (core instances, memories, tables, table elements, initial memory); the message names the limit, the value needed and the manifest field or host setting that raises it |
/// | 2005 | station: a package could not be installed (the station cannot store it, or holds other bytes under its name and version) |
/// | 2006 | station: activation conflict, another package is active for a product id |
/// | 2007 | station: unsafe uninstall, the version is active |
/// | 3001 | busy: the runner's queue is full; try again later (backpressure) |
/// | 9999 | anything else: a guest trap, a host failure |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 1001
    InvalidPid,
    /// 1002
    ImageLoadFailed,
    /// 1003
    ModelNotFound,
    /// 1004
    OutOfMemory,
    /// 1005
    Timeout,
    /// 1006
    InvalidParams,
    /// 1007
    CoordinateInvalid,
    /// 1000 (`serve` only: the platform's protocol error)
    Protocol,
    /// 1009 (`serve` only: the platform's code for an algorithm that raised)
    Exception,
    /// 2101
    PackageUnreadable,
    /// 2102
    PackageMalformed,
    /// 2103
    ContractMismatch,
    /// 2104
    ImportRefused,
    /// 2105
    InvalidManifest,
    /// 2106
    Unsigned,
    /// 2107
    BadSignature,
    /// 2108
    UnknownSigner,
    /// 2109
    RevokedSigner,
    /// 2110
    TooFewSigners,
    /// 2111
    ManifestMismatch,
    /// 2112
    Downgrade,
    /// 2113
    AssetMismatch,
    /// 2114
    TrustStoreInvalid,
    /// 2115
    PatternRefused,
    /// 2116
    LimitTooLow,
    /// 2005, the platform's "install failed": the station could not install
    /// a package it admitted.
    InstallFailed,
    /// 2006, the platform's "activation conflict": another package is active
    /// for a product id the activation claims.
    ActivationConflict,
    /// 2007, the platform's "unsafe uninstall": the version is active.
    UnsafeUninstall,
    /// 3001
    Busy,
    /// 9999
    Unknown,
}

impl ErrorCode {
    /// The number operators and the platform see.
    pub fn number(self) -> u32 {
        match self {
            ErrorCode::InvalidPid => 1001,
            ErrorCode::ImageLoadFailed => 1002,
            ErrorCode::ModelNotFound => 1003,
            ErrorCode::OutOfMemory => 1004,
            ErrorCode::Timeout => 1005,
            ErrorCode::InvalidParams => 1006,
            ErrorCode::CoordinateInvalid => 1007,
            ErrorCode::Protocol => 1000,
            ErrorCode::Exception => 1009,
            ErrorCode::PackageUnreadable => 2101,
            ErrorCode::PackageMalformed => 2102,
            ErrorCode::ContractMismatch => 2103,
            ErrorCode::ImportRefused => 2104,
            ErrorCode::InvalidManifest => 2105,
            ErrorCode::Unsigned => 2106,
            ErrorCode::BadSignature => 2107,
            ErrorCode::UnknownSigner => 2108,
            ErrorCode::RevokedSigner => 2109,
            ErrorCode::TooFewSigners => 2110,
            ErrorCode::ManifestMismatch => 2111,
            ErrorCode::Downgrade => 2112,
            ErrorCode::AssetMismatch => 2113,
            ErrorCode::TrustStoreInvalid => 2114,
            ErrorCode::PatternRefused => 2115,
            ErrorCode::LimitTooLow => 2116,
            ErrorCode::InstallFailed => 2005,
            ErrorCode::ActivationConflict => 2006,
            ErrorCode::UnsafeUninstall => 2007,
            ErrorCode::Busy => 3001,
            ErrorCode::Unknown => 9999,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl From<crate::types::ErrorCode> for ErrorCode {
    fn from(code: crate::types::ErrorCode) -> Self {
        use crate::types::ErrorCode as Wire;
        match code {
            Wire::InvalidPid => ErrorCode::InvalidPid,
            Wire::ImageLoadFailed => ErrorCode::ImageLoadFailed,
            Wire::ModelNotFound => ErrorCode::ModelNotFound,
            Wire::OutOfMemory => ErrorCode::OutOfMemory,
            Wire::Timeout => ErrorCode::Timeout,
            Wire::InvalidParams => ErrorCode::InvalidParams,
            Wire::CoordinateInvalid => ErrorCode::CoordinateInvalid,
            Wire::Unknown => ErrorCode::Unknown,
        }
    }
}

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
    },
    /// The guest hit a resource limit; the instance is unusable and must be dropped.
    #[error("algorithm stopped: {message}")]
    Limit {
        /// 1004 (memory, tables), 1005 (fuel, deadline) or 9999 (output size).
        code: ErrorCode,
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
        code: ErrorCode,
        /// What is wrong with the input.
        message: String,
    },
    /// The algorithm's output broke a rule of the host's [`OutputRules`]; the
    /// session is left as it was before the call.
    ///
    /// [`OutputRules`]: crate::OutputRules
    #[error("invalid output: {message}")]
    InvalidOutput {
        /// 1007 for coordinates, 9999 otherwise.
        code: ErrorCode,
        /// Which rule, and the value that broke it.
        message: String,
    },
    /// The package cannot be used.
    #[error("{message}")]
    Package {
        /// A 2xxx code.
        code: ErrorCode,
        /// What is wrong and what to do.
        message: String,
    },
    /// The package is not trusted.
    #[error("{message}")]
    Untrusted {
        /// 2106 to 2110, 2112 or 2114.
        code: ErrorCode,
        /// Why, and what to do about it.
        message: String,
    },
    /// The station refused a change.
    #[error("{message}")]
    Station {
        /// [`ErrorCode::InstallFailed`], [`ErrorCode::ActivationConflict`] or
        /// [`ErrorCode::UnsafeUninstall`].
        code: ErrorCode,
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
    },
}

impl Error {
    /// The platform error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Algorithm { code, .. }
            | Error::Limit { code, .. }
            | Error::InvalidInput { code, .. }
            | Error::InvalidOutput { code, .. }
            | Error::Package { code, .. }
            | Error::Untrusted { code, .. }
            | Error::Station { code, .. } => *code,
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

    pub(crate) fn input(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::InvalidInput { code, message: message.into() }
    }

    pub(crate) fn package(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Package { code, message: message.into() }
    }

    pub(crate) fn untrusted(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Untrusted { code, message: message.into() }
    }

    pub(crate) fn station(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Station { code, message: message.into() }
    }

    pub(crate) fn host(message: impl Into<String>) -> Self {
        Error::Host { message: message.into() }
    }

    pub(crate) fn host_caused(message: impl Into<String>, cause: impl fmt::Display) -> Self {
        Error::Host { message: format!("{}: {cause:#}", message.into()) }
    }

    pub(crate) fn package_caused(code: ErrorCode, message: impl Into<String>, cause: impl fmt::Display) -> Self {
        Error::Package { code, message: format!("{}: {cause:#}", message.into()) }
    }

    /// The same error, its message prefixed with the package it concerns.
    pub(crate) fn in_package(self, origin: &str) -> Self {
        match self {
            Error::Package { code, message } => Error::Package { code, message: format!("{origin}: {message}") },
            other => other,
        }
    }
}

impl From<crate::types::AlgorithmError> for Error {
    fn from(err: crate::types::AlgorithmError) -> Self {
        Error::Algorithm { code: err.code.into(), message: err.message }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
