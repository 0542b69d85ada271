//! Untrusted `.npy` headers from the shared-memory directory: see
//! [`pv_host_fuzz::npy_bytes`].

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pv_host_fuzz::npy_bytes(data));
