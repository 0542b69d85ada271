//! A real OCI registry for tests: Debian's `docker-registry` (Distribution
//! 2.8) started on a free loopback port with a temporary root, and stopped
//! when dropped. The package's own config turns on htpasswd auth; this one is
//! written from scratch: storage in the temporary root, the address, and
//! htpasswd only when asked.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the htpasswd registry knows.
pub const USER: &str = "line";
/// Its password.
pub const PASSWORD: &str = "pv-host-test-password";
/// `PASSWORD` hashed with bcrypt (cost 5), as htpasswd files hold it.
const PASSWORD_BCRYPT: &str = "$2b$05$o8DVI8zKFxzRJz9Xnn4IfeumPaxiM8gqvPVQBtlO9zxcEgASb805i";

/// How long a starting registry may take to answer, at most.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running registry.
pub struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

/// Whether the `docker-registry` binary is installed. Under CI (`CI` set) it
/// must be: `.ci/run` installs it.
pub fn available() -> bool {
    let found = Command::new("docker-registry").arg("--version").output().is_ok_and(|out| out.status.success());
    assert!(found || std::env::var_os("CI").is_none(), "docker-registry is missing: .ci/run installs it");
    if !found {
        eprintln!("docker-registry not found: registry tests skipped");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map(|addr| addr.port()).expect("a free port")
}

impl Registry {
    /// Start a registry; with `auth`, it asks for [`USER`] and [`PASSWORD`].
    pub fn start(auth: bool) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let address = format!("127.0.0.1:{}", free_port());
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            dir.path().join("data").display()
        );
        if auth {
            std::fs::write(dir.path().join("htpasswd"), format!("{USER}:{PASSWORD_BCRYPT}\n")).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pv-host-tests\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let mut registry = Registry { child: Some(child), dir, address };
        registry.wait_ready();
        registry
    }

    /// Wait until `/v2/` answers (200, or 401 with auth on).
    fn wait_ready(&mut self) {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Ok(mut stream) = TcpStream::connect(&self.address) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.address);
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.starts_with("HTTP/")
                {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer within {READY_WITHIN:?}: {}", self.log());
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `ADDRESS/REPOSITORY:TAG`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.address)
    }

    /// The file a blob is stored in, by its `sha256:...` digest.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// Where the registry keeps its files.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Stop it (its port stops answering).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
