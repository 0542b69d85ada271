//! A station of a test's own: a station directory, a trust store whose
//! rollback record is the test's alone (trusting the fixture vendor's key), a
//! compile cache, a shared-memory directory and a folder for package files.
//! Shared by the station test suites.

use std::path::{Path, PathBuf};

use pv_host::TrustStore;
use pv_host::station::StationDir;
use pv_test_artifacts::fixtures;

use crate::{command, station, versioned_guest};

/// A station, a trust store of its own (its rollback record is the test's
/// alone) trusting the fixture's vendor key, a compile cache (`cache`), a
/// shared-memory directory (`shm`) and a folder for package files (`files`).
pub struct Setup {
    /// Everything lives here, and goes with it.
    pub dir: tempfile::TempDir,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup::new()
    }
}

impl Setup {
    /// The trust store and the folders; the station is made when first opened.
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        TrustStore::open_or_create(&dir.path().join("trust"))
            .expect("trust store")
            .add_key("vendor", station::vendor_key().public())
            .expect("trusted");
        for sub in ["files", "shm", "cache"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        Setup { dir }
    }

    /// With the test images in the shared-memory directory: `coins.bin` and
    /// `brick.bin` (the photographs' PNGs) and `scratched.bin` (the brick with
    /// a dark scratch).
    pub fn with_images(self) -> Setup {
        let shm = self.path("shm");
        std::fs::copy(fixtures::image_path("coins.png"), shm.join("coins.bin")).expect("copy");
        std::fs::copy(fixtures::image_path("brick.png"), shm.join("brick.bin")).expect("copy");
        let (scratched, _) = fixtures::brick_with_scratch(fixtures::ScratchPolarity::Dark);
        scratched.save_with_format(shm.join("scratched.bin"), image::ImageFormat::Png).expect("write png");
        self
    }

    /// `name` in the setup's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The station directory.
    pub fn station(&self) -> PathBuf {
        self.path("station")
    }

    /// The trust store's directory.
    pub fn trust_dir(&self) -> PathBuf {
        self.path("trust")
    }

    /// The trust store.
    pub fn trust(&self) -> TrustStore {
        TrustStore::open(&self.trust_dir()).expect("the trust store opens")
    }

    /// The station, opened (made on first use).
    pub fn open(&self) -> StationDir {
        StationDir::open(&self.station()).expect("the station opens")
    }

    /// A signed package of the versioned guest, written to a file.
    pub fn versioned(&self, name: &str, version: &str, pids: &[&str]) -> PathBuf {
        let path = self.path("files").join(format!("{name}-{version}.pkg.wasm"));
        std::fs::write(&path, versioned_guest::package(name, version, pids, &station::vendor_key())).expect("written");
        path
    }

    /// `pv-host` with this setup's trust store and station.
    pub fn pv_host(&self) -> assert_cmd::Command {
        let mut cmd = command::pv_host();
        cmd.env("PV_HOST_TRUST", self.trust_dir()).env("PV_HOST_STATION", self.station());
        cmd
    }

    /// `pv-host` as a process to spawn, with this setup's trust store,
    /// station, compile cache and shared-memory directory.
    pub fn pv_host_process(&self) -> std::process::Command {
        let mut command = command::pv_host_process();
        command
            .env("PV_HOST_TRUST", self.trust_dir())
            .env("PV_HOST_STATION", self.station())
            .env("PV_HOST_CACHE", self.path("cache"))
            .env("PROC_SHM_DIR", self.path("shm"));
        command
    }

    /// `pv-host station ARGS --json` (cache and shared memory as
    /// [`Setup::pv_host_process`] has them), which must succeed; its JSON.
    pub fn station_ok(&self, args: &[&str]) -> serde_json::Value {
        let output = self.pv_host_process().arg("station").args(args).arg("--json").output().expect("pv-host runs");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
        assert!(output.status.success(), "station {args:?}: {json} {}", String::from_utf8_lossy(&output.stderr));
        json
    }

    /// Install the package file at `package` with `pv-host station install`.
    pub fn install(&self, package: &Path) {
        self.station_ok(&["install", package.to_str().expect("utf-8 path")]);
    }
}
