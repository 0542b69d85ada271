//! Untrusted frames: any bytes given to the image decoder must give an image whose
//! meta fits its pixels, or a 1002 error; never a panic or an unbounded allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pv_host::ErrorCode;
use pv_host::image::{check_image, decode_image};

fuzz_target!(|data: &[u8]| {
    match decode_image(data, None) {
        Ok(image) => check_image(&image).expect("a decoded image is consistent"),
        Err(err) => assert_eq!(err.code(), ErrorCode::ImageLoadFailed),
    }
});
