//! A hostile algorithm for the sandbox tests: every product id picks one way to
//! misbehave, and `GOOD` behaves, so a test can check that the host still serves
//! after each attack.
//!
//! | PID | what `execute` does | what the host must do |
//! |-----|---------------------|-----------------------|
//! | `GOOD` | returns OK | serve it |
//! | `LOOP` | spins forever | stop it: fuel or deadline, 1005 |
//! | `MEMORY` | allocates until the allocator fails | refuse the growth, 1004 |
//! | `MEMORY_POLITE` | reserves until refused, then returns error 1004 itself | keep the instance |
//! | `RECURSION` | recurses without end on the wasm stack | stack overflow, 9999 |
//! | `DEEP_STACK` | recurses with big frames on the in-memory stack | a trap, 9999 |
//! | `RECTS` | returns a million defect rectangles | refuse the output, 9999 |
//! | `STRING` | returns a 100 MiB reason | refuse the output, 9999 |
//! | `LOG_SPAM` | logs 2 GiB, prints 64 MiB on stdout and stderr | keep 64 KiB, mark the rest, return OK |
//! | `EMPTY_LOG_SPAM` | logs 1 000 000 empty records with no fields | keep what the record and byte quotas allow, mark the rest |
//! | `EMPTY_FIELDS` | logs 50 empty records of 100 000 empty fields each | charge every field, keep none of them, mark the rest |
//! | `STDOUT_NEWLINES` | prints 16 Mi empty lines on stdout and stderr | keep at most the record quota, mark the rest |
//! | `EMPTY_DIAG_SPAM` | publishes 100 000 diagnostics with short keys and `null` values | keep at most the entry quota, mark the rest |
//! | `BIG_JSON` | publishes a 15 MiB JSON array as a diagnostic and tries to store it in the session | refuse both unparsed; `set_refused` in its debug |
//! | `DIAG_SPAM` | publishes 100 000 diagnostics of 1 KiB each | keep 1 MiB, mark the rest, return OK |
//! | `SESSION_BOMB` | stores 1 KiB session values until `set` fails, reports how many fit in its debug | refuse past 100 KiB, keep the session |
//! | `ASSET` | reads its asset `probe.txt` and returns NG with its text as the reason | serve the signed bytes |
//! | `COUNT` | returns OK with the number of `execute` calls this instance received in its debug | (lets tests see the guest was not called) |
//! | `DIGEST` | returns OK with the length and FNV-1a hash of the image's and the guide image's pixels in its debug | (lets tests see exactly the bytes the guest received) |
//! | `OUTSIDE_RECT` | stores `touched` in the session, returns NG with a rect outside the image | refuse the output, 1007; the session unchanged |
//! | `NG_WITHOUT_DEFECT` | returns NG with a reason and no defect rect | refuse the output, 9999 |
//! | `FLOW` | step 1 stores `trail` = [1]; step 2 appends 2 and returns what it read in its debug; step 3 appends 3, then panics | commit steps 1 and 2, roll back step 3 |
//! | `SNOOP` | reads /etc/passwd, the environment, the arguments, `/` | find nothing: OK |
//! | `PANIC` | panics | 9999 |
//! | `BAD_UTF8` | returns a reason that is not UTF-8 | refuse the output, 9999 |
//! | `BAD_POINTER` | returns a reason pointing outside its memory | refuse the output, 9999 |
//!
//! `setup` fails at random (error 1003, about one time in two) when the package
//! ships an asset named [`FLAKY_SETUP_ASSET`], so a test can see what the host
//! does when the `setup` of a restarted instance fails. Without the asset it
//! always succeeds.
//!
//! An image of exactly [`SNARE_BYTES`] pixel bytes (a 1234x53 gray image) makes the
//! allocator spin while the host copies the image in: a hang before `execute` even
//! starts, which the deadline must catch too (1005).
//!
//! Built for wasm32 only; natively the crate is empty.

#![cfg(target_family = "wasm")]
#![allow(
    unsafe_code,
    reason = "breaking the calling convention and the allocator needs unsafe code: that is the point of this guest"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Write;

use pv_guest::{Algorithm, AlgorithmInfo, Error, ExecuteOutput, Rect, Result, Step, StepInput, StepOutcome};

/// Size of the allocation that makes the allocator spin: the pixels of a 1234x53
/// gray image, a size no other allocation of this guest has.
pub const SNARE_BYTES: usize = 65_402;

/// An asset whose presence makes `setup` fail at random.
pub const FLAKY_SETUP_ASSET: &str = "flaky-setup";

/// A random bit from the host (WASI `random`, through the standard library's
/// randomly keyed hasher).
fn coin() -> bool {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8) & 1 == 1
}

/// The system allocator, except that it never returns from an allocation of
/// [`SNARE_BYTES`].
struct SnaredAllocator;

// SAFETY: every allocation but the snared one is forwarded unchanged to the system
// allocator; the snared one never returns.
unsafe impl GlobalAlloc for SnaredAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == SNARE_BYTES {
            spin();
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size == SNARE_BYTES {
            spin();
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: SnaredAllocator = SnaredAllocator;

/// 64-bit FNV-1a of `bytes`: the host computes the same to compare.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Recursion whose frames live on the wasm stack (values in locals only).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == 0 { 0 } else { black_box(recurse(black_box(depth - 1))) + 1 }
}

/// Recursion whose frames live in linear memory (the address of a local escapes).
#[inline(never)]
fn recurse_in_memory(depth: u64) -> u64 {
    let mut frame = [depth; 512];
    black_box(&mut frame);
    if depth == 0 { 0 } else { recurse_in_memory(depth - 1).wrapping_add(frame[7]) }
}

/// A `String` that claims `len` bytes at `addr`, which the guest never allocated.
fn forged_string(bytes: Vec<u8>) -> String {
    // SAFETY: none. The string is only moved into the output, whose bytes the host
    // checks; the guest itself never reads them.
    unsafe { String::from_utf8_unchecked(bytes) }
}

fn pointer_outside_memory() -> String {
    let addr = 0xFFFF_0000usize as *mut u8;
    // SAFETY: none, on purpose: the host must refuse to read it.
    unsafe { String::from_raw_parts(addr, 1 << 20, 1 << 20) }
}

/// Everything the sandbox should hide, and what was found of it.
fn snoop() -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/passwd") {
        found.push(format!("/etc/passwd ({} bytes)", text.len()));
    }
    if let Ok(entries) = std::fs::read_dir("/") {
        found.push(format!("/ ({} entries)", entries.count()));
    }
    if let Ok(entries) = std::fs::read_dir(".") {
        found.push(format!(". ({} entries)", entries.count()));
    }
    let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    if !vars.is_empty() {
        found.push(format!("environment: {}", vars.join(", ")));
    }
    if std::env::args().len() > 0 {
        found.push(format!("arguments: {:?}", std::env::args().collect::<Vec<_>>()));
    }
    found
}

fn log_spam() {
    // 2 GiB through the log import, in messages of 1.25 MiB (each under the host's
    // transfer cap, so every one is lifted and must be dropped by the quota).
    let message = "spam ".repeat(1 << 18);
    for _ in 0..1600 {
        pv_guest::info!("{message}");
    }
    // 64 MiB on each of stdout and stderr, in 4 KiB lines: WASI moves at most 4 KiB
    // per call, so this is 32 768 host calls.
    let line = format!("{}\n", "x".repeat(4095)).into_bytes();
    for _ in 0..(1 << 14) {
        // A full log is not a reason to fail: the host drops what is over quota.
        let _ = std::io::stdout().write_all(&line);
        let _ = std::io::stderr().write_all(&line);
    }
}

fn empty_log_spam() {
    for _ in 0..1_000_000 {
        pv_guest::log::write(pv_guest::log::Level::Info, "", &[]);
    }
}

fn empty_fields() {
    let fields = vec![("", String::new()); 100_000];
    for _ in 0..50 {
        pv_guest::log::write(pv_guest::log::Level::Info, "", &fields);
    }
}

fn stdout_newlines() {
    // 16 Mi empty lines on each stream, 4 KiB of newlines per host call.
    let newlines = [b'\n'; 4096];
    for _ in 0..4096 {
        let _ = std::io::stdout().write_all(&newlines);
        let _ = std::io::stderr().write_all(&newlines);
    }
}

/// The exported algorithm.
pub struct Hostile {
    /// `execute` calls received by this instance.
    calls: u64,
}

impl Algorithm for Hostile {
    fn info() -> AlgorithmInfo {
        AlgorithmInfo::new("hostile", env!("CARGO_PKG_VERSION"))
            .description("Misbehaves on purpose, one way per product id (sandbox tests)")
            .pids([
                "GOOD",
                "LOOP",
                "MEMORY",
                "MEMORY_POLITE",
                "RECURSION",
                "DEEP_STACK",
                "RECTS",
                "STRING",
                "LOG_SPAM",
                "DIAG_SPAM",
                "SESSION_BOMB",
                "ASSET",
                "COUNT",
                "FLOW",
                "OUTSIDE_RECT",
                "NG_WITHOUT_DEFECT",
                "SNOOP",
                "PANIC",
                "BAD_UTF8",
                "BAD_POINTER",
                "EMPTY_LOG_SPAM",
                "EMPTY_FIELDS",
                "STDOUT_NEWLINES",
                "EMPTY_DIAG_SPAM",
                "BIG_JSON",
                "HOOKS",
                "DIGEST",
            ])
            .step(Step::new(1, "misbehave"))
            .step(Step::new(2, "flow: read step 1"))
            .step(Step::new(3, "flow: crash after writing"))
    }

    fn setup() -> Result<Self> {
        if pv_guest::assets::names().iter().any(|name| name == FLAKY_SETUP_ASSET) && coin() {
            return Err(Error::model_not_found("the flaky setup failed this time"));
        }
        Ok(Hostile { calls: 0 })
    }

    /// `HOOKS` records each hook in the session, to show what a step commits.
    fn on_step_start(&mut self, step_index: u32, pid: &str) -> Result<()> {
        if pid == "HOOKS" {
            pv_guest::session::set("on-step-start", &step_index)?;
        }
        Ok(())
    }

    fn on_step_finish(&mut self, step_index: u32, pid: &str, outcome: StepOutcome) -> Result<()> {
        if pid == "HOOKS" {
            pv_guest::session::set("on-step-finish", &format!("{step_index}:{outcome:?}"))?;
        }
        Ok(())
    }

    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
        self.calls += 1;
        match input.pid.as_str() {
            "COUNT" => Ok(ExecuteOutput::ok().debug(serde_json::json!({ "calls": self.calls }))),
            "OUTSIDE_RECT" => {
                pv_guest::session::set("touched", &true)?;
                let width = input.image.width() as i32;
                Ok(ExecuteOutput::ng("a defect beyond the right edge").defect(Rect::new(width, 0, 10, 10)))
            }
            "NG_WITHOUT_DEFECT" => Ok(ExecuteOutput::ng("no rect")),
            "FLOW" => {
                let mut trail: Vec<u32> = pv_guest::session::get("trail")?.unwrap_or_default();
                let read = trail.clone();
                trail.push(input.step_index);
                pv_guest::session::set("trail", &trail)?;
                if input.step_index == 3 {
                    panic!("step 3 crashes after writing to the session");
                }
                Ok(ExecuteOutput::ok().debug(serde_json::json!({ "read": read })))
            }
            "GOOD" => Ok(ExecuteOutput::ok()),
            // Step 1 succeeds, step 2 fails: what the hooks wrote must go with it.
            "HOOKS" if input.step_index == 1 => Ok(ExecuteOutput::ok()),
            "HOOKS" => Err(Error::invalid_params("the HOOKS step fails after its hooks wrote to the session")),
            "DIGEST" => {
                let digest = |pixels: &[u8]| serde_json::json!({ "len": pixels.len(), "fnv1a": fnv1a(pixels).to_string() });
                let guide = input.guide_image.as_ref().map(|guide| digest(guide.pixels()));
                Ok(ExecuteOutput::ok().debug(serde_json::json!({ "image": digest(input.image.pixels()), "guide": guide })))
            }
            "LOOP" => spin(),
            "MEMORY" => {
                let mut hoard = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    black_box(&hoard);
                }
            }
            "MEMORY_POLITE" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = Vec::new();
                    if chunk.try_reserve_exact(16 << 20).is_err() {
                        let held: usize = hoard.iter().map(Vec::capacity).sum();
                        return Err(Error::new(pv_guest::ErrorCode::OutOfMemory, format!("gave up after {} MiB", held >> 20)));
                    }
                    chunk.resize(16 << 20, 1);
                    hoard.push(chunk);
                }
            }
            "RECURSION" => Ok(ExecuteOutput::ng(format!("depth {}", recurse(u64::MAX)))),
            "DEEP_STACK" => Ok(ExecuteOutput::ng(format!("depth {}", recurse_in_memory(u64::MAX)))),
            "RECTS" => {
                Ok(ExecuteOutput::ng("a million defects").defects((0..1_000_000).map(|i| Rect::new(i % 1000, i / 1000, 1, 1))))
            }
            "STRING" => Ok(ExecuteOutput::ng("x".repeat(100 << 20)).defect(Rect::new(0, 0, 1, 1))),
            "LOG_SPAM" => {
                log_spam();
                Ok(ExecuteOutput::ok())
            }
            "EMPTY_LOG_SPAM" => {
                empty_log_spam();
                Ok(ExecuteOutput::ok())
            }
            "EMPTY_FIELDS" => {
                empty_fields();
                Ok(ExecuteOutput::ok())
            }
            "STDOUT_NEWLINES" => {
                stdout_newlines();
                Ok(ExecuteOutput::ok())
            }
            "EMPTY_DIAG_SPAM" => {
                for i in 0..100_000 {
                    pv_guest::diagnostics::publish(&i.to_string(), &());
                }
                Ok(ExecuteOutput::ok())
            }
            "BIG_JSON" => {
                // "[0,0,...]": 15 MiB of text, about 250 MiB as a parsed value.
                let zeros = vec![0u8; 15 << 19];
                pv_guest::diagnostics::publish("big", &zeros);
                let set_refused = pv_guest::session::set("big", &zeros).is_err();
                Ok(ExecuteOutput::ok().debug(serde_json::json!({ "set_refused": set_refused })))
            }
            "DIAG_SPAM" => {
                let value = "d".repeat(1024);
                for i in 0..100_000 {
                    pv_guest::diagnostics::publish(&format!("spam-{i}"), &value);
                }
                Ok(ExecuteOutput::ok())
            }
            "SESSION_BOMB" => {
                // Grow the session until the host refuses; the refusal is an error
                // the guest sees, not a trap.
                let value = "s".repeat(1024);
                let mut stored = 0;
                while pv_guest::session::set(&format!("bomb-{stored}"), &value).is_ok() {
                    stored += 1;
                    if stored > 1_000_000 {
                        return Err(Error::new(pv_guest::ErrorCode::Unknown, "the session never filled up"));
                    }
                }
                Ok(ExecuteOutput::ok().debug(serde_json::json!({ "stored": stored })))
            }
            "ASSET" => {
                let text = pv_guest::assets::read("probe.txt")?;
                Ok(ExecuteOutput::ng(String::from_utf8_lossy(&text).into_owned()).defect(Rect::new(0, 0, 1, 1)))
            }
            "SNOOP" => {
                let found = snoop();
                if found.is_empty() {
                    Ok(ExecuteOutput::ok())
                } else {
                    Ok(ExecuteOutput::ng(format!("found: {}", found.join("; "))).defect(Rect::new(0, 0, 1, 1)))
                }
            }
            "PANIC" => panic!("the hostile algorithm panics on purpose"),
            "BAD_UTF8" => Ok(ExecuteOutput::ng(forged_string(vec![0xC3, 0x28, 0xFF, 0xFE])).defect(Rect::new(0, 0, 1, 1))),
            "BAD_POINTER" => Ok(ExecuteOutput::ng(pointer_outside_memory()).defect(Rect::new(0, 0, 1, 1))),
            other => Err(Error::invalid_pid(format!("no misbehaviour for {other}"))),
        }
    }
}

pv_guest::export_algorithm!(Hostile);
