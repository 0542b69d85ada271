//! The host's own memory under hostile calls: no single call (log, diagnostics,
//! session, params, image), and no input the platform controls (a frame, its
//! guide info and params, an image file), grows the host's heap past a
//! documented bound, and what the host keeps after the call stays within the
//! call's quotas.
//!
//! Measured with a counting allocator: live bytes and their peak, per thread (a
//! guest call and its imports run on the calling thread; the test harness runs
//! other tests on other threads). The guest's own linear memory is not heap and
//! is bounded by its memory cap; what is measured here is what the host pays.
//!
//! The bounds (README, Sandbox):
//! - transient, during one call: [`CALL_PEAK_BOUND`] (64 MiB) over the heap before
//!   the call: at most one import call's lifted arguments (a transfer is capped at
//!   16 MiB of guest bytes; a list of strings takes up to three times that in host
//!   headers) and the value being refused, never a parse of an oversized value;
//! - kept, after the call: the log, diagnostics and session quotas, each at most
//!   twice its charged bytes (vector and map growth slack).

#![allow(
    unsafe_code,
    reason = "the allocation probe implements `GlobalAlloc`, which is unsafe by nature; the workspace denies unsafe code everywhere else"
)]

use pv_test_support::{frames, wat_guest};

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pv_host::types::{ExecuteOutput, Image, ImageMeta, PixelFormat, StepInput};
use pv_host::{CallReport, Host, Instance, Limits, Session};

thread_local! {
    /// Bytes this thread allocated and has not freed (frees of other threads'
    /// allocations make it drift down, never up).
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The highest `LIVE` since the last reset.
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's live bytes and their peak.
struct CountingAllocator;

fn count(delta: i64) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// thread-local bookkeeping allocates nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: `ptr` came from this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Most the heap may grow during one call over what it held before.
const CALL_PEAK_BOUND: i64 = 64 << 20;

/// What `f` did to this thread's heap: (peak growth, growth still held while its
/// result lives), and its result.
fn measured<T>(f: impl FnOnce() -> T) -> (i64, i64, T) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let result = f();
    let peak = PEAK.with(Cell::get) - before;
    let kept = LIVE.with(Cell::get) - before;
    (peak, kept, result)
}

fn hostile() -> Instance {
    let host = Host::builder().limits(Limits::default()).build().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

fn input(pid: &str) -> StepInput {
    frames::step_input(pid, 1, frames::gray(16, 16, 0))
}

/// Run `pid` and check its peak and what its report and session keep.
fn check_call(instance: &mut Instance, pid: &str, kept_bound: i64) -> CallReport<ExecuteOutput> {
    let input = input(pid);
    let mut session = Session::new("memory");
    let (peak, kept, report) = measured(|| instance.execute(&mut session, &input));
    eprintln!("{pid}: peak {peak} bytes over the heap before the call, {kept} bytes kept");
    assert!(peak <= CALL_PEAK_BOUND, "{pid}: the heap grew by {peak} bytes during the call");
    assert!(kept <= kept_bound, "{pid}: {kept} bytes kept after the call, over {kept_bound}");
    report
}

#[test]
fn no_guest_call_grows_the_host_heap_past_its_bounds() {
    let mut guest = hostile();
    // Warm up: the first call builds caches that later calls reuse.
    check_call(&mut guest, "GOOD", 1 << 20).into_result().expect("good");

    // Log: 64 KiB charged, kept twice over at most.
    let log_kept = 2 * pv_host::sandbox::DEFAULT_LOG_BYTES_PER_CALL as i64;
    for pid in ["LOG_SPAM", "EMPTY_LOG_SPAM", "EMPTY_FIELDS", "STDOUT_NEWLINES"] {
        check_call(&mut guest, pid, log_kept).into_result().expect("logging is not an error");
    }
    // Diagnostics: 1 MiB charged.
    let diag_kept = 2 * pv_host::sandbox::DEFAULT_DIAGNOSTICS_BYTES_PER_CALL as i64;
    for pid in ["DIAG_SPAM", "EMPTY_DIAG_SPAM"] {
        check_call(&mut guest, pid, diag_kept).into_result().expect("publishing is not an error");
    }
    // Session: 100 KiB; and a 15 MiB JSON value (250 MB once parsed) refused
    // before it is parsed, as a session value and as a diagnostic.
    let session_kept = 2 * pv_host::sandbox::DEFAULT_SESSION_BYTES as i64;
    check_call(&mut guest, "SESSION_BOMB", session_kept).into_result().expect("a refused set is not a trap");
    check_call(&mut guest, "BIG_JSON", session_kept).into_result().expect("a refused set is not a trap");
}

#[test]
fn refusing_guest_patterns_and_image_bombs_costs_the_host_little() {
    let host = Host::new().expect("host");
    // Params: a pattern that compiles to hundreds of megabytes with the regex
    // crate's defaults, refused when get-info is read.
    let patterns = vec![r"[\w\d]{1000}".to_owned(), r"\w{50}\w{50}".to_owned()];
    let package =
        host.load_component(&wat_guest::component_with_patterns(wat_guest::Setup::Ok, &patterns), "p.wasm").expect("compiles");
    let (peak, _, result) = measured(|| package.instantiate());
    eprintln!("patterns: peak {peak} bytes");
    assert!(result.is_err(), "refused");
    assert!(peak <= 16 << 20, "refusing the patterns took {peak} bytes");

    // Image: a 60 KB PNG that is 67 MB decoded and 269 MB as rgba8: refused from
    // its header, before anything is decoded.
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::new(8192, 8200))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode");
    let (peak, _, result) = measured(|| pv_host::image::decode_image(&png, Some(PixelFormat::Rgba8)));
    eprintln!("image bomb as rgba8: peak {peak} bytes");
    assert!(result.is_err(), "refused");
    assert!(peak <= 1 << 20, "refusing the image took {peak} bytes");
    // Decoded as gray8 it fits: the frame, at most twice over.
    let frame = 8192 * 8200;
    let (peak, _, result) = measured(|| pv_host::image::decode_image(&png, None));
    eprintln!("image as gray8: peak {peak} bytes for a {frame}-byte frame");
    assert_eq!(result.expect("fits").pixels.len(), frame as usize);
    assert!(peak <= 2 * frame, "decoding took {peak} bytes");
}

#[test]
fn a_frame_filled_in_place_never_lands_on_the_host_heap() {
    let mut guest = hostile();
    let mut session = Session::new("memory");
    let camera = vec![7u8; 1920 * 1200 * 3];
    let mut request = input("GOOD");
    request.image = Image {
        meta: ImageMeta { width: 1920, height: 1200, format: PixelFormat::Rgb8, timestamp_ms: 0, camera_id: "t".into() },
        pixels: Vec::new(),
    };
    let fill = |pixels: &mut [u8]| {
        pixels.copy_from_slice(&camera);
        Ok(())
    };
    // Warm up: the guest grows its memory and the host builds its caches once.
    guest.execute_in_place(&mut session, &request, fill).into_result().expect("warm-up");
    let (peak, _, report) = measured(|| guest.execute_in_place(&mut session, &request, fill));
    report.into_result().expect("in place");
    eprintln!("in place: peak {peak} bytes over the heap before the call");
    // Far below the frame's 6.9 MB: the host holds no copy of it.
    assert!(peak < (camera.len() / 8) as i64, "the heap grew by {peak} bytes during the call");
}

#[test]
fn filling_in_a_steps_defaults_does_not_copy_the_frame() {
    let host = Host::new().expect("host");
    let package = host.load_component_file(pv_test_artifacts::PART_COUNTER.as_ref()).expect("the part counter loads");
    let mut counter = package.instantiate().expect("instantiates");
    counter.setup().into_result().expect("setup");
    let frame = 1920 * 1200 * 3;
    let request = StepInput {
        step_index: 1,
        pid: "A01".into(),
        step_desc: String::new(),
        // Every param of the step is left out: the host adds each default.
        params: Vec::new(),
        image: Image {
            meta: ImageMeta { width: 1920, height: 1200, format: PixelFormat::Rgb8, timestamp_ms: 0, camera_id: "t".into() },
            pixels: vec![0; frame],
        },
        guide_image: None,
        guide_info: Vec::new(),
    };
    let mut session = Session::new("defaults");
    // Warm up: the guest grows its memory and the host builds its caches once.
    let _ = counter.execute(&mut session, &request);
    let (peak, _, report) = measured(|| counter.execute(&mut session, &request));
    assert!(report.result.is_ok(), "the part counter judged the frame: {:?}", report.result);
    eprintln!("defaults filled: peak {peak} bytes over the heap before the call");
    // Far below the frame's 6.9 MB: the input with its defaults is lowered from
    // where it is, not cloned.
    assert!(peak < (frame / 8) as i64, "the heap grew by {peak} bytes during the call");
}

/// A generation-2 frame whose guide info is `groups` groups of `rects` rects,
/// each group labelled with `label_bytes` bytes.
#[cfg(feature = "serve")]
fn guide_info_frame(groups: usize, rects: usize, label_bytes: usize) -> Vec<u8> {
    let group = serde_json::json!({"label": "L".repeat(label_bytes), "posList": vec![[1, 2, 3, 4]; rects]});
    serde_json::json!({"type": "call", "request_id": 9, "data": {
        "step_index": 1,
        "cur_image_shm_id": "dev-shm:s:cur", "cur_image_meta": {"width": 8, "height": 8},
        "guide_image_shm_id": "dev-shm:s:guide", "guide_image_meta": {"width": 8, "height": 8},
        "guide_info": vec![group; groups],
    }})
    .to_string()
    .into_bytes()
}

#[cfg(feature = "serve")]
#[test]
fn no_frame_the_platform_sends_decodes_past_its_caps() {
    use pv_host::serve::protocol::{Request, parse_request};

    // Guide info: a 1 MiB label shared by 1000 rects (a gigabyte once copied
    // into each rect) is refused with 1006, having copied none of it.
    let frame = guide_info_frame(1, 1000, 1 << 20);
    let (peak, _, parsed) = measured(|| parse_request(&frame));
    eprintln!("guide info amplification: peak {peak} bytes for a {}-byte frame", frame.len());
    let Ok(Request::Refused { request_id, code, .. }) = parsed else { panic!("refused: {parsed:?}") };
    assert_eq!((request_id, code.number()), (serde_json::json!(9), 1006));
    assert!(peak <= 4 * frame.len() as i64, "the parse took {peak} bytes");

    // At the caps: 4096 rects in 1024 groups, labels of 180 bytes (just under
    // the 1 MiB charge): taken, for a few times the caps.
    let frame = guide_info_frame(1024, 4, 180);
    let (peak, _, parsed) = measured(|| parse_request(&frame));
    eprintln!("guide info at the caps: peak {peak} bytes for a {}-byte frame", frame.len());
    let Ok(Request::Call { call, .. }) = parsed else { panic!("taken: {parsed:?}") };
    assert_eq!(call.step().guide_info.len(), pv_host::params::MAX_GUIDE_RECTS);
    assert!(peak <= 16 << 20, "the parse took {peak} bytes");
    drop(call);

    // Values: 16 MiB of `0,` (a quarter of a gigabyte as parsed values) in
    // user_params is refused before it is parsed, answering its request.
    let zeros = format!(
        "{{\"type\":\"call\",\"request_id\":3,\"data\":{{\"phase\":\"execute\",\"user_params\":{{\"n\":[{}0]}}}}}}",
        "0,".repeat(8 << 20)
    );
    let (peak, _, parsed) = measured(|| parse_request(zeros.as_bytes()));
    eprintln!("8 Mi values: peak {peak} bytes for a {}-byte frame", zeros.len());
    let err = parsed.expect_err("too many values");
    assert_eq!(err.request_id, serde_json::json!(3));
    assert!(peak <= 1 << 20, "counting took {peak} bytes");

    // Params just under the value cap parse within the call bound.
    let values = pv_host::params::MAX_JSON_VALUES - 16;
    let many = format!(
        "{{\"type\":\"call\",\"request_id\":4,\"data\":{{\"phase\":\"execute\",\"user_params\":{{\"n\":[{}0]}}}}}}",
        "0,".repeat(values - 1)
    );
    let (peak, _, parsed) = measured(|| parse_request(many.as_bytes()));
    eprintln!("{values} values: peak {peak} bytes for a {}-byte frame", many.len());
    assert!(matches!(parsed, Ok(Request::Call { .. })), "taken");
    assert!(peak <= CALL_PEAK_BOUND, "the parse took {peak} bytes");
}

#[cfg(feature = "serve")]
#[test]
fn an_encoded_frame_is_not_read_before_its_memory_is_reserved() {
    use pv_host::serve::protocol::{ImageMetaJson, ImageRef};
    use pv_host::serve::shm;

    let dir = tempfile::tempdir().expect("tempdir");
    // 200 MB, sparse: nothing is on disk, reading it would fill the heap.
    let file = std::fs::File::create(dir.path().join("big.bin")).expect("create");
    file.set_len(200 << 20).expect("size");
    let image =
        |width, height| ImageRef { shm_id: "big".into(), meta: ImageMetaJson { width, height, ..ImageMetaJson::default() } };
    // No size in the meta: opened, the budget it needs known, nothing read.
    let (peak, _, opened) = measured(|| shm::open(dir.path(), &image(None, None)));
    let opened = opened.expect("opens");
    eprintln!(".bin opened: peak {peak} bytes, memory bound {}", opened.memory_bound());
    assert!(peak <= 64 << 10, "opening read the file: {peak} bytes");
    assert!(opened.memory_bound() >= 200 << 20, "the bound covers the bytes to read");
    // Reading its pixels then refuses it (no image in it).
    assert_eq!(opened.pixels(|| {}).map(|_| ()).map_err(|e| e.code().number()).err(), Some(1002));

    // A 640x480 meta: 200 MB is more than such an image could need encoded,
    // refused before anything is read.
    let (peak, _, refused) = measured(|| shm::open(dir.path(), &image(Some(640), Some(480))));
    assert_eq!(refused.map_err(|e| e.code().number()).err(), Some(1002));
    assert!(peak <= 64 << 10, "refusing read the file: {peak} bytes");
}
