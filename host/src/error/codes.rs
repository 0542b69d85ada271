//! The platform's numeric error codes, and one enum per error family so that
//! an error can only carry a code of its own family.

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
/// | 2112 | the package is older than a version already admitted (rollback), or is that version with other content |
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

/// Declares a family of codes: each variant names the [`ErrorCode`] it stands
/// for, and converts into it.
macro_rules! code_family {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $code:ident,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl From<$name> for ErrorCode {
            fn from(code: $name) -> ErrorCode {
                match code {
                    $($name::$variant => ErrorCode::$code,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                ErrorCode::from(*self).fmt(f)
            }
        }
    };
}

code_family! {
    /// The codes of [`Error::Package`](crate::Error::Package).
    PackageCode {
        /// 2101: the package file cannot be read.
        Unreadable => PackageUnreadable,
        /// 2102: not a valid component, or its sections are not laid out as a package.
        Malformed => PackageMalformed,
        /// 2103: the component does not implement the contract.
        ContractMismatch => ContractMismatch,
        /// 2105: the manifest is invalid.
        InvalidManifest => InvalidManifest,
        /// 2111: the manifest and the component's `get-info` disagree.
        ManifestMismatch => ManifestMismatch,
        /// 2113: an asset does not match the manifest.
        AssetMismatch => AssetMismatch,
        /// 2115: a parameter pattern is invalid or over the host's caps.
        PatternRefused => PatternRefused,
    }
}

code_family! {
    /// The codes of [`Error::Untrusted`](crate::Error::Untrusted).
    TrustCode {
        /// 2106: the package is not signed.
        Unsigned => Unsigned,
        /// 2107: a signature does not verify.
        BadSignature => BadSignature,
        /// 2108: signed only by keys the trust store does not know.
        UnknownSigner => UnknownSigner,
        /// 2109: signed by a revoked key.
        RevokedSigner => RevokedSigner,
        /// 2110: fewer distinct trusted signers than required.
        TooFewSigners => TooFewSigners,
        /// 2112: older than a version already admitted.
        Downgrade => Downgrade,
        /// 2114: the trust store cannot be used.
        StoreInvalid => TrustStoreInvalid,
    }
}

code_family! {
    /// The codes of [`Error::Station`](crate::Error::Station), with the
    /// platform's meanings.
    StationCode {
        /// 2005: the station cannot install a package it admitted.
        InstallFailed => InstallFailed,
        /// 2006: another package is active for a product id.
        ActivationConflict => ActivationConflict,
        /// 2007: the version is active.
        UnsafeUninstall => UnsafeUninstall,
    }
}

code_family! {
    /// The codes of [`Error::InvalidInput`](crate::Error::InvalidInput).
    InputCode {
        /// 1001: the product id is empty or not supported.
        InvalidPid => InvalidPid,
        /// 1002: an image cannot be loaded, decoded or converted.
        ImageLoadFailed => ImageLoadFailed,
        /// 1006: an unknown step, a wrong parameter type or range.
        InvalidParams => InvalidParams,
    }
}

code_family! {
    /// The codes of [`Error::Limit`](crate::Error::Limit).
    LimitCode {
        /// 1004: the memory or table cap.
        OutOfMemory => OutOfMemory,
        /// 1005: fuel or a deadline.
        Timeout => Timeout,
        /// 9999: the output size cap.
        OutputTooLarge => Unknown,
    }
}

code_family! {
    /// The codes of [`Error::InvalidOutput`](crate::Error::InvalidOutput).
    OutputCode {
        /// 1007: a coordinate outside the image or a size that is not positive.
        CoordinateInvalid => CoordinateInvalid,
        /// 9999: any other rule of the output.
        BrokenRule => Unknown,
    }
}
