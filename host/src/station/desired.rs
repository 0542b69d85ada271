//! Applying a desired state: every product id a sync names switched to its
//! version in one journaled change (see [`StationDir::apply_desired`]).

use super::activation::{Change, PackageRef};
use super::audit::AuditEntry;
use super::dir::StationDir;
use super::reports::{Activation, DesiredPid, Switch};
use crate::error::{Error, InputCode, Result};
use crate::trust::TrustStore;

impl StationDir {
    /// Make the mapping what `desired` says, in one journaled change: every
    /// product id named is served by its version afterwards, or, on any
    /// refusal, nothing changed. Each version must be installed (a sync
    /// installs first) and list its product id (1001), and its stored
    /// signatures are checked again against `trust`, as
    /// [`activate`](Self::activate) checks them. The file is the authority: a
    /// product id may move to another package (no conflict, unlike activate);
    /// product ids it does not name are left as they are. Nothing to change
    /// changes nothing, the generation included. Each package's switch is an
    /// audit line (`sync`) with the registry reference it came from.
    pub fn apply_desired(&self, trust: &TrustStore, desired: &[DesiredPid]) -> Result<Activation> {
        let (_lock, mapping) = self.begin_change()?;
        let mut targets: Vec<(&DesiredPid, PackageRef)> = Vec::with_capacity(desired.len());
        for wanted in desired {
            let (bytes, target) = self.read_installed(&wanted.name, &wanted.version)?;
            let manifest = self.verify_installed(trust, &bytes, &target)?;
            if !manifest.pids.contains(&wanted.pid) {
                return Err(Error::input(
                    InputCode::InvalidPid,
                    format!("{target} does not support product id `{}` (it lists {:?})", wanted.pid, manifest.pids),
                ));
            }
            targets.push((wanted, target));
        }
        let mut change = Change::default();
        let mut switches = Vec::new();
        let mut audited: Vec<AuditEntry> = Vec::new();
        for (wanted, target) in targets {
            let from = mapping.active.get(&wanted.pid);
            switches.push(Switch { pid: wanted.pid.clone(), from: from.cloned(), to: target.clone() });
            if from == Some(&target) && mapping.sources.get(&wanted.pid) == wanted.source.as_ref() {
                continue;
            }
            change.set_active_from(&wanted.pid, target.clone(), wanted.source.clone());
            let mut previous = mapping.history.get(&wanted.pid).cloned().unwrap_or_default();
            previous.extend(from.cloned());
            change.set_history(&wanted.pid, previous);
            // One audit line per package, listing the product ids it takes.
            let index = match audited.iter().position(|e| e.name == target.name && e.version == target.version.to_string()) {
                Some(index) => index,
                None => {
                    let mut entry = AuditEntry::new("sync", &target.name, &target.version, &target.sha256);
                    entry.source = wanted.source.clone();
                    audited.push(entry);
                    audited.len() - 1
                }
            };
            audited[index].pids.push(wanted.pid.clone());
            audited[index].previous.push(from.map(|f| f.version.to_string()));
        }
        if change.is_empty() {
            return Ok(Activation { switches, generation: mapping.generation });
        }
        for entry in audited {
            change.audit(entry);
        }
        let generation = change.commit(self.dir(), &mapping)?;
        Ok(Activation { switches, generation })
    }
}
