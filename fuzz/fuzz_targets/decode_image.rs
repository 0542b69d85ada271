//! Untrusted frames: see [`pv_host_fuzz::image_bytes`].

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pv_host_fuzz::image_bytes(data));
