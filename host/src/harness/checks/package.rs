//! The `package` group: the format, signature trusted, manifest valid, imports
//! within policy, the component loads, manifest agrees with get-info, size and
//! requested limits.

use std::time::Instant;

use super::{Run, describe};
use crate::harness::{Harness, Status};
use crate::package::Package;
use crate::package_file::PackageFile;
use crate::phase::Phase;

/// Packages larger than this get a warning: they slow every station's start.
const LARGE_PACKAGE_BYTES: usize = 64 << 20;
/// The package checks; returns a loadable package when there is one, admitted
/// or not, so the other checks can still run.
pub(super) fn package_checks(harness: &Harness<'_>, run: &mut Run<'_>) -> Option<Package> {
    let started = Instant::now();
    let file = match PackageFile::parse(&harness.bytes) {
        Ok(file) => file,
        Err(err) => {
            run.record("package", "format", started, Status::Fail, describe(&err));
            return None;
        }
    };
    match harness.admission.verify(&harness.bytes, &harness.origin) {
        Ok(verified) if verified.trusted => {
            let signers: Vec<String> = verified.signers.iter().map(|s| format!("{} ({})", s.name, s.key_id)).collect();
            run.record("package", "signature", started, Status::Pass, format!("signed by {}", signers.join(", ")));
        }
        Ok(_) => run.record(
            "package",
            "signature",
            started,
            Status::Fail,
            "not signed by enough trusted keys (admitted only because unsigned packages are allowed)",
        ),
        Err(err) => run.record("package", "signature", started, Status::Fail, describe(&err)),
    }

    let started = Instant::now();
    let manifest = match file.manifest() {
        Ok(Some(manifest)) => {
            let reason = format!("{} {} from {}", manifest.name, manifest.version, manifest.publisher);
            match file.check_assets(&manifest) {
                Ok(()) => run.record("package", "manifest", started, Status::Pass, reason),
                Err(err) => run.record("package", "manifest", started, Status::Fail, describe(&err)),
            }
            Some(manifest)
        }
        Ok(None) => {
            run.record("package", "manifest", started, Status::Fail, "no manifest: a bare component, not a package");
            None
        }
        Err(err) => {
            run.record("package", "manifest", started, Status::Fail, describe(&err));
            None
        }
    };

    let started = Instant::now();
    let imports = file.interfaces().map(|(imports, _)| imports).unwrap_or_default();
    match harness.host.import_policy().check(file.component(), &harness.origin) {
        Ok(()) => run.record("package", "imports", started, Status::Pass, format!("{} imports, all allowed", imports.len())),
        Err(err) => run.record("package", "imports", started, Status::Fail, describe(&err)),
    }

    // The component itself, with the assets it carries: compiled and linked
    // whatever the verdict above, so the behaviour of an untrusted package can be
    // judged too.
    let started = Instant::now();
    let package = match harness.host.compile_with_assets(&file, &harness.origin, manifest.clone(), Vec::new()) {
        Ok(package) => package,
        Err(err) => {
            run.record("package", "load", started, Status::Fail, describe(&err));
            return None;
        }
    };
    let package = match &manifest {
        Some(manifest) => package.request_limits(&manifest.limits.to_limits()),
        None => package,
    };
    if let Some(manifest) = &manifest {
        match package.check_info(manifest) {
            Ok(()) => run.record("package", "manifest_matches_info", started, Status::Pass, "name, version and PIDs agree"),
            Err(err) => run.record("package", "manifest_matches_info", started, Status::Fail, describe(&err)),
        }
    }

    let started = Instant::now();
    let limits = package.limits();
    let size = format!(
        "{} bytes; runs with memory {} MiB, execute deadline {}, fuel {}",
        harness.bytes.len(),
        limits.memory_bytes() >> 20,
        limits.deadline(Phase::Execute).map_or_else(|| "off".to_owned(), |d| format!("{} ms", d.as_millis())),
        limits.fuel_per_call().map_or_else(|| "off".to_owned(), |f| f.to_string())
    );
    let status = if harness.bytes.len() > LARGE_PACKAGE_BYTES { Status::Warn } else { Status::Pass };
    run.record("package", "size_and_limits", started, status, size);
    Some(package)
}
