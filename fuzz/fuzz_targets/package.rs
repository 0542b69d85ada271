//! Untrusted package files through the parser and the verifier: see
//! [`pv_host_fuzz::package_bytes`].

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pv_host_fuzz::package_bytes(data));
