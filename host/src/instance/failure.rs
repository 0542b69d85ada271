//! What a failed guest call was: a limit (fuel, deadline, memory, output
//! size) or a crash, told from wasmtime's error and the store guard, with a
//! message that names the limit and leaks no host internals.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, InputCode, LimitCode};
use crate::ingress::FillFailed;
use crate::phase::Phase;
use crate::sandbox::{Limits, Refusal};

/// The text of wasmtime's (private) error for a transfer over the hostcall fuel,
/// that is over [`Limits::output_bytes_per_call`]. Pinned by the hostile-guest
/// tests, which fail if an upgrade rewords it.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Turn a wasmtime error from a guest call into a library error: a limit the guest
/// hit (fuel, deadline, memory, output size) or a crash. The full chain goes to the
/// host log; the message returned names the failure and the limit only, nothing of
/// the host's internals.
pub(super) fn classify_failure(
    err: wasmtime::Error,
    name: &str,
    phase: Phase,
    refused: Option<Refusal>,
    limits: &Limits,
    origin: &str,
) -> Error {
    // A frame filled in place that could not be filled: the guest never ran.
    if let Some(failed) = err.chain().find_map(|cause| cause.downcast_ref::<FillFailed>()) {
        return Error::input(InputCode::ImageLoadFailed, failed.to_string());
    }
    tracing::warn!(package = origin, phase = name, error = format!("{err:?}"), "guest call failed");
    let limit = |code, message: String| Error::Limit { code, message: format!("{message} during {name}") };
    let trap = err.downcast_ref::<wasmtime::Trap>().copied();
    match trap {
        Some(wasmtime::Trap::OutOfFuel) => {
            let fuel = limits.fuel_per_call().unwrap_or_default();
            return limit(LimitCode::Timeout, format!("fuel exhausted ({fuel} units)"));
        }
        Some(wasmtime::Trap::Interrupt) => {
            let deadline = limits.deadline(phase).unwrap_or_default();
            return limit(LimitCode::Timeout, format!("deadline of {} exceeded", human_duration(deadline)));
        }
        _ => {}
    }
    // A refused growth followed by a failure is the guest running out of the
    // memory it was granted, whatever way it then died (most abort).
    match refused {
        Some(Refusal::Memory { wanted_total }) => {
            return limit(
                LimitCode::OutOfMemory,
                format!(
                    "memory cap of {} reached (it asked for {})",
                    human_bytes(limits.memory_bytes()),
                    human_bytes(wanted_total)
                ),
            );
        }
        Some(Refusal::Table { wanted_total }) => {
            return limit(
                LimitCode::OutOfMemory,
                format!("table cap of {} elements reached (it asked for {wanted_total})", limits.table_elements()),
            );
        }
        None => {}
    }
    if err.chain().any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED)) {
        return limit(
            LimitCode::OutputTooLarge,
            format!("output over the cap of {} per transfer", human_bytes(limits.output_bytes_per_call() as u64)),
        );
    }
    // The host's own resources (address space for a memory's reservation,
    // a thread, a file) gave out: an operating-system error in the chain and
    // no trap. Not the guest's doing, and no broken calling convention.
    if trap.is_none()
        && let Some(cause) = err.chain().find(|cause| is_os_error(*cause))
    {
        let message = format!("the host ran out of a resource (memory, address space) during {name}: {cause}");
        return Error::Host { message, source: Some(Arc::from(err.into_boxed_dyn_error())) };
    }
    let message = match (trap, err.downcast_ref::<wasmtime_wasi::I32Exit>()) {
        (Some(trap), _) => describe_trap(trap).to_owned(),
        (None, Some(exit)) => format!("the algorithm called exit({})", exit.0),
        // Lifting and lowering failures: pointers or lengths outside the guest's
        // memory, strings that are not UTF-8, bad discriminants.
        (None, None) => "the algorithm broke the component calling convention (bad pointer, length, string or value)".to_owned(),
    };
    Error::Trap { message: format!("{message} during {name}"), source: Some(Arc::from(err.into_boxed_dyn_error())) }
}

/// Whether `cause` is an error the operating system reported (wasmtime's
/// memory reservations report `rustix`'s errno).
fn is_os_error(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.downcast_ref::<std::io::Error>().is_some_and(|err| err.raw_os_error().is_some())
        || cause.downcast_ref::<rustix::io::Errno>().is_some()
}

/// `1.5 s`, `250 ms`.
fn human_duration(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{} s", duration.as_secs_f64())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// `256 MiB`, `1.5 KiB`, `17 bytes`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 { format!("{value:.0} {unit}") } else { format!("{value:.1} {unit}") };
        }
    }
    format!("{bytes} bytes")
}

fn describe_trap(trap: wasmtime::Trap) -> &'static str {
    use wasmtime::Trap;
    match trap {
        Trap::UnreachableCodeReached => "unreachable code reached (a panic in the algorithm)",
        Trap::StackOverflow => "stack overflow",
        Trap::MemoryOutOfBounds => "out-of-bounds memory access",
        Trap::HeapMisaligned => "misaligned memory access",
        Trap::TableOutOfBounds => "out-of-bounds table access",
        Trap::IndirectCallToNull => "call through a null function reference",
        Trap::BadSignature => "call through a function reference of the wrong type",
        Trap::IntegerOverflow => "integer overflow",
        Trap::IntegerDivisionByZero => "integer division by zero",
        Trap::BadConversionToInteger => "invalid float to integer conversion",
        Trap::OutOfFuel => "fuel exhausted",
        Trap::Interrupt => "deadline exceeded",
        Trap::CannotEnterComponent => "re-entered the component",
        _ => "trap",
    }
}
