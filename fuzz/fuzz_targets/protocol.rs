//! Untrusted frames from the platform through the frame splitter and the
//! message parser: see [`pv_host_fuzz::protocol_bytes`].

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pv_host_fuzz::protocol_bytes(data));
