//! The platform's side of the subprocess model: start an adapter (the Rust
//! `subprocess-adapter`, or the Python one in `benches/python/`), wait for its
//! hello, and make calls the platform's way, the image written to a
//! shared-memory file first.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use pv_test_support::Server;
use serde_json::{Value, json};

/// Which subprocess adapter to run.
#[derive(Debug, Clone, Copy)]
pub enum AdapterKind {
    /// The minimal Rust adapter at this path (`CARGO_BIN_EXE_subprocess-adapter`):
    /// the floor of the subprocess model, what the goals are judged against.
    Rust(&'static str),
    /// `python3 benches/python/subprocess_adapter.py`: the model as the
    /// platform runs it, for context.
    Python,
}

impl AdapterKind {
    fn command(self) -> Command {
        match self {
            AdapterKind::Rust(program) => Command::new(program),
            AdapterKind::Python => {
                let mut command = Command::new("python3");
                command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/subprocess_adapter.py"));
                command
            }
        }
    }

    /// Whether this adapter can run here (the Python one needs `python3`).
    pub fn available(self) -> bool {
        match self {
            AdapterKind::Rust(_) => true,
            AdapterKind::Python => Command::new("python3").arg("--version").output().is_ok_and(|out| out.status.success()),
        }
    }
}

/// A running adapter process with its pipes.
pub struct Adapter {
    /// Killed when dropped without a shutdown (a benchmark that panicked).
    server: Server,
    calls: u64,
}

/// Where images go: `/dev/shm` (a RAM file system, as the platform's shared
/// memory is) when there is one, else the temporary directory.
pub fn shm_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    tempfile::Builder::new().prefix("pv-bench-").tempdir_in(base).expect("a shared-memory directory")
}

impl Adapter {
    /// Start the adapter, its shared-memory directory `shm_dir` (given as
    /// `PROC_SHM_DIR`, as the platform does), and read its hello.
    ///
    /// # Panics
    ///
    /// When the adapter cannot start or its first frame is not a hello.
    pub fn start(kind: AdapterKind, shm_dir: &Path) -> Adapter {
        let mut command = kind.command();
        command.env(pv_host::serve::shm::SHM_DIR_ENV, shm_dir).stderr(Stdio::inherit());
        Adapter { server: Server::spawn_as_is(command), calls: 0 }
    }

    /// One `execute` call, in the platform's message shape, on the frame in
    /// the shared-memory file `image`; returns the reply.
    ///
    /// # Panics
    ///
    /// When the adapter does not answer with a result.
    pub fn execute(&mut self, image: &ShmImage) -> Value {
        self.calls += 1;
        let data = json!({
            "phase": "execute", "step_index": 1, "pid": "GOOD",
            "session": { "id": "bench", "context": {} },
            "user_params": {},
            "cur_image_shm_id": image.id,
            "cur_image_meta": { "width": image.width, "height": image.height, "channels": image.channels },
        });
        let reply = self.server.call(self.calls, data);
        assert_eq!(reply["type"], "result", "the adapter answered {reply}");
        reply
    }

    /// Ask the adapter to stop, and wait for it to exit.
    pub fn shutdown(self) {
        self.server.stop();
    }
}

/// A camera frame in a shared-memory file `<dir>/<id>.raw` (raw pixels, rows
/// of `channels` bytes per pixel), rewritten in place for each call (the pages
/// stay allocated, the cheapest way the platform could do it).
pub struct ShmImage {
    id: String,
    file: std::fs::File,
    width: u32,
    height: u32,
    channels: u32,
}

impl ShmImage {
    /// A file for `width` x `height` x `channels` frames in `dir`.
    ///
    /// # Panics
    ///
    /// When the file cannot be created.
    pub fn create(dir: &Path, name: &str, width: u32, height: u32, channels: u32) -> ShmImage {
        let file = std::fs::File::create(dir.join(format!("{name}.raw"))).expect("a shared-memory file");
        ShmImage { id: name.to_owned(), file, width, height, channels }
    }

    /// Write the frame's pixels, as the platform does before each call.
    ///
    /// # Panics
    ///
    /// When the pixels do not fit the frame or the write fails.
    pub fn write(&self, pixels: &[u8]) {
        assert_eq!(pixels.len() as u64, u64::from(self.width) * u64::from(self.height) * u64::from(self.channels));
        self.file.write_all_at(pixels, 0).expect("the frame is written");
    }
}
