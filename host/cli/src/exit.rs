//! Exit codes of the `pv-host` binary and how errors map to them.

use std::process::ExitCode;

use pv_host::ErrorKind;

/// The run finished and the verdict is OK (or the command succeeded).
pub const OK: u8 = 0;
/// The run finished and the verdict is NG; for `test`, a check failed.
pub const NG: u8 = 1;
/// The command line is wrong (clap's own code; also a registry reference the
/// tag policy refuses).
pub const USAGE: u8 = 2;
/// The host refused the input: image, product id, step or params (1001, 1002, 1006).
pub const INVALID_INPUT: u8 = 3;
/// The algorithm returned an error of its own, or an output the host refuses.
pub const ALGORITHM_ERROR: u8 = 4;
/// The algorithm crashed (trapped) or hit a limit.
pub const ALGORITHM_CRASH: u8 = 5;
/// The package cannot be read, is not a component, does not fit the contract, or
/// imports what the policy refuses (2xxx).
pub const PACKAGE: u8 = 6;
/// pv-host itself failed (I/O, engine).
pub const HOST: u8 = 7;
/// The package is not trusted: unsigned, a bad signature, unknown or revoked
/// signers, too few signers, a rollback, or an unusable trust store.
pub const UNTRUSTED: u8 = 8;
/// The station refused a change: an activation conflict, an unsafe uninstall,
/// an install it cannot complete.
pub const STATION: u8 = 9;
/// Busy (3001): another process kept a lock the command needs (a trust store's
/// or a station's `.lock`) past the lock timeout, or the runner was at
/// capacity; try again later.
pub const BUSY: u8 = 10;
/// A registry could not be reached, refused the request, or served something
/// other than what was asked for (a digest that does not match).
pub const REGISTRY: u8 = 11;

/// The table printed under `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success; for `run`, the verdict is OK
  1  `run`: the verdict is NG; `test`: a check failed
  2  the command line is wrong (also a moving tag without --allow-latest)
  3  the input was refused (image 1002, product id 1001, step or params 1006)
  4  the algorithm returned an error, or an output the host refuses (1007)
  5  the algorithm crashed or hit a limit
  6  the package cannot be used or is refused by policy (2xxx)
  7  pv-host failed (I/O, engine)
  8  the package is not trusted (2106-2110, 2112, 2114: unsigned, bad
     signature, unknown or revoked key, too few signers, rollback, trust store)
  9  the station refused a change (install failed, activation conflict,
     unsafe uninstall)
 10  busy (3001): another process held the trust store's or the station's
     lock past the timeout ($PV_HOST_LOCK_TIMEOUT_MS, default 30000)
 11  a registry could not be reached, refused the request, or served
     something that does not match its digest";

/// The library error inside an error chain, if any.
pub fn library_error(err: &anyhow::Error) -> Option<&pv_host::Error> {
    err.chain().find_map(|cause| cause.downcast_ref::<pv_host::Error>())
}

/// The exit code for an error.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    if library_error(err).is_none() {
        if err.chain().any(|cause| cause.is::<crate::registry::RegistryError>()) {
            return ExitCode::from(REGISTRY);
        }
        if err.chain().any(|cause| cause.is::<crate::registry::ReferenceRefused>()) {
            return ExitCode::from(USAGE);
        }
    }
    let code = match library_error(err).map(pv_host::Error::kind) {
        Some(ErrorKind::InvalidInput) => INVALID_INPUT,
        Some(ErrorKind::Algorithm | ErrorKind::InvalidOutput) => ALGORITHM_ERROR,
        Some(ErrorKind::Trap | ErrorKind::Limit) => ALGORITHM_CRASH,
        Some(ErrorKind::Package | ErrorKind::Policy) => PACKAGE,
        Some(ErrorKind::Trust) => UNTRUSTED,
        Some(ErrorKind::Station) => STATION,
        Some(ErrorKind::Busy) => BUSY,
        _ => HOST,
    };
    ExitCode::from(code)
}

/// An error as the JSON the commands print with `--json`, shaped like the
/// platform's error result: `status` "ERROR", `error_code` (the code as a
/// string; "9999" when the error carries none) and `message` (the cause chain).
pub fn error_json(err: &anyhow::Error) -> serde_json::Value {
    let code = library_error(err).map_or(pv_host::ErrorCode::Unknown, pv_host::Error::code);
    let message = err.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
    serde_json::json!({ "status": "ERROR", "error_code": code.number().to_string(), "message": message })
}

/// One line: the platform code when there is one, then the cause chain.
pub fn describe(err: &anyhow::Error) -> String {
    let chain = err.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
    match library_error(err) {
        Some(lib) => format!("[{}] {chain}", lib.code()),
        None => chain,
    }
}
