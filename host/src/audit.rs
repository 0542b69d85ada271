//! The audit trail: security-relevant events as structured `tracing` records
//! with target `audit`, so an operator can route them apart from the host's log
//! (the CLI's `--audit-log FILE` writes them as JSON lines).
//!
//! | `event` | when | fields |
//! |---------|------|--------|
//! | `package_admitted` | a package passed admission | `package`, `name`, `version`, `signers`, `sha256` |
//! | `package_refused` | a package was refused (signature, trust, manifest, import policy...) | `package`, `code`, `reason` |
//! | `guest_trap` | a guest call trapped (the instance is dropped) | `package`, `phase`, `code`, `reason` |
//! | `limit_hit` | a guest call hit a limit: fuel, deadline, memory, output size | `package`, `phase`, `code`, `reason` |
//!
//! Embedders receive the same records with any `tracing` subscriber that
//! accepts target `audit`.

use crate::error::{Error, ErrorKind};

/// A package passed admission.
pub(crate) fn package_admitted(origin: &str, name: &str, version: &str, signers: &[String], sha256: &str) {
    tracing::info!(
        target: "audit",
        event = "package_admitted",
        package = origin,
        name,
        version,
        signers = signers.join(","),
        sha256,
        "package admitted"
    );
}

/// A package was refused.
pub(crate) fn package_refused(origin: &str, err: &Error) {
    tracing::warn!(
        target: "audit",
        event = "package_refused",
        package = origin,
        code = err.code().number(),
        reason = %err,
        "package refused"
    );
}

/// A guest call failed in a way the sandbox caught: a trap or a limit.
pub(crate) fn guest_failure(origin: &str, phase: &str, err: &Error) {
    let event = match err.kind() {
        ErrorKind::Limit => "limit_hit",
        ErrorKind::Trap => "guest_trap",
        _ => return,
    };
    tracing::warn!(
        target: "audit",
        event,
        package = origin,
        phase,
        code = err.code().number(),
        reason = %err,
        "guest stopped"
    );
}
