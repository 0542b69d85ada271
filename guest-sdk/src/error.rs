//! The error an algorithm returns: a platform error code and a readable message.

use std::fmt;

use crate::bindings::procvision::algorithm::types as wit;

/// Error codes of the platform; [`ErrorCode::number`] gives the number operators see.
pub use wit::ErrorCode;

impl ErrorCode {
    /// The platform's number for this code (1001..1007, 9999).
    pub fn number(self) -> u32 {
        match self {
            ErrorCode::InvalidPid => 1001,
            ErrorCode::ImageLoadFailed => 1002,
            ErrorCode::ModelNotFound => 1003,
            ErrorCode::OutOfMemory => 1004,
            ErrorCode::Timeout => 1005,
            ErrorCode::InvalidParams => 1006,
            ErrorCode::CoordinateInvalid => 1007,
            ErrorCode::Unknown => 9999,
        }
    }
}

/// What an algorithm returns when it cannot give a result.
///
/// The host passes the code and message on to the station unchanged. Build one with
/// the constructor named after the code:
///
/// ```
/// let err = pv_guest::Error::invalid_params("expected_count must be positive");
/// assert_eq!(err.code().number(), 1006);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    code: ErrorCode,
    message: String,
}

/// Result type of the SDK and of [`Algorithm`](crate::Algorithm) methods.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with an explicit code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    /// 1001: the product id is not one this algorithm inspects.
    pub fn invalid_pid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPid, message)
    }
    /// 1002: the image is unusable (wrong format, too dark to inspect...).
    pub fn image(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ImageLoadFailed, message)
    }
    /// 1003: a model or asset is missing.
    pub fn model_not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ModelNotFound, message)
    }
    /// 1006: a parameter or input is invalid.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }
    /// 1007: a coordinate is outside the image.
    pub fn coordinate_invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::CoordinateInvalid, message)
    }
    /// 9999: anything else.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unknown, message)
    }
    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code.number(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for wit::AlgorithmError {
    fn from(err: Error) -> Self {
        wit::AlgorithmError { code: err.code, message: err.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_carry_the_platform_numbers() {
        let cases = [
            (Error::invalid_pid("x"), 1001),
            (Error::image("x"), 1002),
            (Error::model_not_found("x"), 1003),
            (Error::invalid_params("x"), 1006),
            (Error::coordinate_invalid("x"), 1007),
            (Error::unknown("x"), 9999),
        ];
        for (err, number) in cases {
            assert_eq!(err.code().number(), number, "{err}");
        }
        assert_eq!(ErrorCode::OutOfMemory.number(), 1004);
        assert_eq!(ErrorCode::Timeout.number(), 1005);
    }

    #[test]
    fn display_names_code_and_message() {
        assert_eq!(Error::invalid_params("bad").to_string(), "error 1006: bad");
    }
}
