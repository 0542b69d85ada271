//! Station mode: many signed packages on one station, one active version per
//! product id, switched and rolled back while the line runs.
//!
//! [`StationDir`] is the directory and the operations that change it
//! (install, activate, rollback, uninstall); [`Station`] runs what it says is
//! active, one [`Runner`](crate::Runner) per active version, and follows
//! changes without a restart.
//!
//! # The directory
//!
//! ```text
//! <station>/packages/<name>/<version>.pkg.wasm   installed packages, each written once
//! <station>/active/<pid>.json                     the version serving a product id
//! <station>/history/<pid>.json                    versions active before, for rollback
//! <station>/generation                            bumped by every change of the mapping
//! <station>/journal.json                          only while a change is under way
//! <station>/audit.jsonl                           install, activate, rollback, uninstall
//! <station>/.lock                                 taken around every change
//! ```
//!
//! **Installing.** A package is admitted completely first, with the trust
//! store and its rollback record ([`Host::load_package`](crate::Host::load_package): signatures, manifest,
//! assets, import policy, compilation, `get-info`); only then is it written to
//! a temporary file in the station, flushed, renamed into place (never over a
//! file that is there) and the directory flushed. Installing the same bytes
//! again is a no-op; other bytes under an installed name and version are
//! refused ([`ErrorCode::InstallFailed`](crate::ErrorCode::InstallFailed)).
//!
//! **Activating.** A version is activated for every product id its manifest
//! lists, or for one of them. A product id another package is active for is an
//! activation conflict ([`ErrorCode::ActivationConflict`](crate::ErrorCode::ActivationConflict)). The signatures of
//! the stored package are checked again against the trust store (a key revoked
//! since the install refuses it); the rollback record is not: moving between
//! versions already admitted is what the station is for.
//!
//! **Rollback.** Each product id keeps the last [`HISTORY_DEPTH`] versions it
//! had; rolling back activates the most recent of them and drops it from the
//! history, so rolling back again goes further back.
//!
//! **Deactivating** a product id leaves nothing active for it (its version
//! goes onto its history): how a product id moves to another package.
//!
//! **Uninstalling** an active version is refused
//! ([`ErrorCode::UnsafeUninstall`](crate::ErrorCode::UnsafeUninstall)); an uninstalled version leaves every
//! history.
//!
//! **Several processes, crashes.** Every change is a read-modify-write under an
//! exclusive lock on `.lock`; files are replaced through flushed temporary files
//! and renames; a change of several files goes through a journal (see the
//! `activation` module), so a process killed at any point leaves the old state
//! or the new one. Readers take a shared lock.
//!
//! **Permissions.** As for the trust store, a station directory (and its
//! `packages`, every `packages/<name>`, `active` and `history`) owned by another user or writable by
//! group or others is refused ([`ErrorCode::InstallFailed`](crate::ErrorCode::InstallFailed)): whoever can
//! write it could put an older signed version in place and activate it.
//!
//! The directory is `--station DIR` in the CLI, else `$PV_HOST_STATION`, else
//! `$XDG_DATA_HOME/pv-host/station`, else `~/.local/share/pv-host/station`
//! ([`StationDir::default_dir`]).

mod activation;
mod audit;
mod desired;
mod dir;
mod reports;
mod runtime;
mod store;

pub use self::activation::{HISTORY_DEPTH, PackageRef};
pub use self::audit::{AuditEntry, MAX_AUDIT_READ_BYTES};
pub(crate) use self::dir::create_dirs;
pub use self::dir::{STATION_DIR_ENV, StationDir};
pub use self::reports::{Activation, DesiredPid, Installed, InstalledVersion, Listing, Switch};
pub use self::runtime::{ActiveVersion, DEFAULT_WATCH_INTERVAL, Routed, Station, Watcher};
