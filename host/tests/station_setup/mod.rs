//! A station of a test's own: a station directory, a trust store whose
//! rollback record is the test's alone (trusting the fixture vendor's key), and
//! a folder for package files. Shared by the station test suites.

use std::path::PathBuf;

use pv_host::TrustStore;
use pv_host::station::StationDir;

use crate::{station, versioned_guest};

/// A station, a trust store of its own (its rollback record is the test's
/// alone) trusting the fixture's vendor key, and a folder for package files.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        TrustStore::open_or_create(&dir.path().join("trust"))
            .expect("trust store")
            .add_key("vendor", station::vendor_key().public())
            .expect("trusted");
        std::fs::create_dir(dir.path().join("files")).expect("files dir");
        Setup { dir }
    }

    pub fn station(&self) -> PathBuf {
        self.dir.path().join("station")
    }

    pub fn trust_dir(&self) -> PathBuf {
        self.dir.path().join("trust")
    }

    pub fn trust(&self) -> TrustStore {
        TrustStore::open(&self.trust_dir()).expect("the trust store opens")
    }

    pub fn open(&self) -> StationDir {
        StationDir::open(&self.station()).expect("the station opens")
    }

    /// A signed package of the versioned guest, written to a file.
    pub fn versioned(&self, name: &str, version: &str, pids: &[&str]) -> PathBuf {
        let path = self.dir.path().join("files").join(format!("{name}-{version}.pkg.wasm"));
        std::fs::write(&path, versioned_guest::package(name, version, pids, &station::vendor_key())).expect("written");
        path
    }
}
