//! What `pv-host run` holds in memory over several steps: each step's image is
//! decoded when the step runs, so the peak does not grow with the step count.
//!
//! The peak is the child process's high-water mark of resident memory
//! (`VmHWM` in `/proc/PID/status`, Linux), read while it runs: it only ever
//! grows, so the last reading is the peak up to then.

use std::path::Path;
use std::process::Stdio;

use pv_test_support::{peak_rss_kib, pv_host_process};

/// Run `pv-host run` with `args` on the hostile guest; its exit code and peak RSS.
fn run_measured(image: &Path, args: &[&str]) -> (i32, u64) {
    let mut child = pv_host_process()
        .env("PV_HOST_TRUST", "/nonexistent")
        .args(["--no-cache", "run"])
        .arg(pv_test_artifacts::HOSTILE)
        .arg("--allow-unsigned")
        .arg("--image")
        .arg(image)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pv-host starts");
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib * 1024);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code().expect("an exit code"), peak);
        }
        // No sleep: the peak must be read before the child exits, and the
        // window between the last allocation and the exit is short.
        std::thread::yield_now();
    }
}

#[test]
fn several_steps_of_a_big_image_hold_one_frame_at_a_time() {
    if !Path::new("/proc/self/status").exists() {
        return; // the measurement needs Linux's /proc
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // 8192x8200 gray, one colour: a 60 KB file, 67 MB decoded.
    let image = dir.path().join("big.png");
    image::GrayImage::new(8192, 8200).save(&image).expect("write the image");
    let frame = 8192 * 8200;

    let (code, one_step) = run_measured(&image, &["--pid", "GOOD"]);
    assert_eq!(code, 0);
    let (code, eight_steps) = run_measured(&image, &["--pid", "GOOD", "--steps", "1,1,1,1,1,1,1,1"]);
    assert_eq!(code, 0);
    eprintln!("peak RSS: one step {one_step} bytes, eight steps {eight_steps} bytes, a frame {frame} bytes");
    // Eight steps decoded at once would hold seven more frames.
    assert!(
        eight_steps < one_step + frame / 2,
        "one step peaked at {one_step} bytes, eight at {eight_steps} (a frame is {frame})"
    );
}
