//! Reading the platform's reply frames.

use pv_host::ErrorCode;
use serde_json::Value;

/// Whether `reply` is a result frame refusing the call with `code`: `type`
/// "result", `status` "ERROR", and `error_code` the code's number as a string,
/// as the platform has them.
pub fn is_result_error(reply: &Value, code: ErrorCode) -> bool {
    // A string, not a number: `reply["error_code"] == code.number()` would
    // take the JSON number 1002 too.
    reply["type"] == "result"
        && reply["status"] == "ERROR"
        && reply["error_code"].as_str() == Some(code.number().to_string().as_str())
}
