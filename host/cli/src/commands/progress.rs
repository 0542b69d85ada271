//! A spinner for steps that may take a while: loading a package compiles it
//! (several seconds for a CPython component) unless the compile cache has it.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::Duration;

/// How long a step runs before the spinner shows: a package loaded from the
/// cache never shows one.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// Run `step`; when it takes more than [`SHOW_AFTER`] and stderr is a terminal,
/// show a spinner with `message` (and the seconds so far) until it ends.
pub fn slow_step<T>(message: impl Into<String>, step: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return step();
    }
    let message = message.into();
    let (done, finished) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if finished.recv_timeout(SHOW_AFTER) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let bar = indicatif::ProgressBar::new_spinner().with_message(message);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            // Ends when the step is done (the sender is dropped).
            let _ = finished.recv();
            bar.finish_and_clear();
        });
        let out = step();
        drop(done);
        out
    })
}
