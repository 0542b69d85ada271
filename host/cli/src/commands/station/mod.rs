//! `pv-host station`: install, list, activate, roll back and uninstall the
//! packages of a station directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pv_host::Admission;
use pv_host::station::StationDir;
use pv_host::station::{Activation, Listing};
use serde_json::json;

use super::TrustArgs;
use crate::exit;
use crate::registry::{Registry, RegistryArgs, parse_reference};

mod sync;

/// `package` as a registry reference, when it is not a file here and reads as
/// one with a registry host (`HOST[:PORT]/...`).
fn registry_reference(package: &str, args: &RegistryArgs) -> Result<Option<oci_client::Reference>> {
    if std::path::Path::new(package).exists() {
        return Ok(None);
    }
    let host = package.split('/').next().unwrap_or_default();
    let names_a_registry = package.contains('/') && (host.contains('.') || host.contains(':') || host == "localhost");
    if !names_a_registry {
        return Ok(None);
    }
    parse_reference(package, args.allow_latest).map(Some)
}
use crate::terminal_safe as safe;

/// Manage a station: the signed packages installed on it and the version active
/// for each product id. Changes made here are picked up by a running station
/// without a restart.
#[derive(Debug, Args)]
pub struct StationCommand {
    /// Station directory [default: $PV_HOST_STATION, else
    /// $XDG_DATA_HOME/pv-host/station, else ~/.local/share/pv-host/station].
    #[arg(long, value_name = "DIR", global = true)]
    station: Option<PathBuf>,

    /// Print JSON instead of text (on refusal: `{"status": "ERROR",
    /// "error_code", "message"}`).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    action: StationAction,
}

#[derive(Debug, Subcommand)]
enum StationAction {
    /// Admit a signed package completely (signatures, manifest, assets,
    /// rollback, import policy, compilation, get-info) and store it. Installing
    /// the same file again does nothing; another file with the same name and
    /// version is refused (2005).
    Install {
        /// The package file, or a registry reference to pull it from
        /// (REGISTRY/REPOSITORY:VERSION or REGISTRY/REPOSITORY@sha256:...; the
        /// immutable reference goes into the audit trail).
        package: String,
        #[command(flatten)]
        trust: TrustArgs,
        /// Admit a version older than one admitted before from the same publisher.
        #[arg(long)]
        allow_downgrade: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Make the station what a desired-state file says: product ids mapped to
    /// packages by registry reference with digest (TOML, `[pids]`, `A01 =
    /// "REGISTRY/REPOSITORY@sha256:..."`). Pulls what is missing, checks
    /// everything, installs, then switches every product id in one journaled
    /// change: all or nothing. Running it again changes nothing; product ids
    /// the file does not name are left alone. A running `serve --station`
    /// follows the change.
    Sync {
        /// The desired-state file.
        file: PathBuf,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Admit a version older than one admitted before from the same
        /// publisher (a build installed here already needs no flag: syncing
        /// the previous file is how a fleet rolls back).
        #[arg(long)]
        allow_downgrade: bool,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List installed versions, the version active per product id, and what
    /// each product id can roll back to.
    List,
    /// Activate an installed version for every product id it lists, or for one.
    /// Another package active for one of them is a conflict (2006).
    Activate {
        /// The package name.
        name: String,
        /// The version.
        version: semver::Version,
        /// Only this product id.
        #[arg(long, value_name = "PID")]
        pid: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Activate the version a product id had before the current one.
    Rollback {
        /// The product id.
        pid: String,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Stop serving a product id (its version can be brought back with
    /// `rollback`): how a product id moves to another package.
    Deactivate {
        /// The product id.
        pid: String,
    },
    /// Remove an installed version; refused while it is active (2007).
    Uninstall {
        /// The package name.
        name: String,
        /// The version.
        version: semver::Version,
    },
}

/// Run the command.
pub fn run(command: StationCommand) -> Result<ExitCode> {
    let dir = command
        .station
        .or_else(StationDir::default_dir)
        .context("no station directory: pass --station DIR or set PV_HOST_STATION (neither HOME nor XDG_DATA_HOME is set)")?;
    let station = StationDir::open(&dir)?;
    let json = command.json;
    let station_name = dir.display().to_string();
    match command.action {
        StationAction::Install { package, trust, allow_downgrade, registry } => {
            let trust = trust.open()?;
            let host = super::host_builder().build()?;
            let admission = Admission::new(&trust).allow_downgrade(allow_downgrade);
            // Installing compiles the package into the compile cache, so the
            // line's first call does not: tens of seconds for a big component.
            let message = format!("checking and compiling {package}");
            let installed = match registry_reference(&package, &registry)? {
                None => super::progress::slow_step(message, || station.install_file(&host, package.as_ref(), &admission))?,
                Some(reference) => {
                    let pulled = Registry::new(&registry, &[&reference])?.pull(&reference)?;
                    let source = pulled.pinned.clone();
                    super::progress::slow_step(message, || {
                        station.install_from(&host, &pulled.bytes, &source, Some(&source), &admission)
                    })?
                }
            };
            if json {
                println!("{}", json!({ "status": "OK", "station": station_name, "installed": installed }));
            } else if installed.already_installed {
                println!("{} is installed already in {}", safe(&installed.package.to_string()), safe(&station_name));
            } else {
                println!(
                    "installed {} (product ids {}) in {}",
                    safe(&installed.package.to_string()),
                    safe(&installed.pids.join(", ")),
                    safe(&station_name)
                );
            }
        }
        StationAction::Sync { file, dry_run, allow_downgrade, trust, registry } => {
            let trust = trust.open()?;
            let host = super::host_builder().build()?;
            let (plan, generation) = sync::sync(&station, &host, &trust, &registry, &file, dry_run, allow_downgrade)?;
            if json {
                println!(
                    "{}",
                    json!({ "status": "OK", "station": station_name, "dry_run": dry_run, "plan": plan, "generation": generation })
                );
            } else {
                for step in &plan {
                    let verb = match (step.changes, dry_run) {
                        (false, _) => "unchanged",
                        (true, true) => "would switch",
                        (true, false) => "switched",
                    };
                    let from = step.from.as_deref().unwrap_or("nothing");
                    println!("{}: {verb}: {} -> {} ({})", safe(&step.pid), safe(from), safe(&step.to), safe(&step.source));
                }
                match generation {
                    Some(generation) => println!("{} synced (generation {generation})", safe(&station_name)),
                    None => println!("dry run: nothing changed"),
                }
            }
        }
        StationAction::List => {
            let listing = station.list()?;
            if json {
                println!("{}", json!({ "status": "OK", "station": station_name, "listing": listing }));
            } else {
                print_listing(&station_name, &listing);
            }
        }
        StationAction::Activate { name, version, pid, trust } => {
            let activation = station.activate(&trust.open()?, &name, &version, pid.as_deref())?;
            report_activation(json, &station_name, "activated", &activation);
        }
        StationAction::Rollback { pid, trust } => {
            let activation = station.rollback(&trust.open()?, &pid)?;
            report_activation(json, &station_name, "rolled back", &activation);
        }
        StationAction::Deactivate { pid } => {
            let removed = station.deactivate(&pid)?;
            if json {
                println!("{}", json!({ "status": "OK", "station": station_name, "pid": pid, "deactivated": removed }));
            } else {
                println!("{}: deactivated {}", safe(&pid), safe(&removed.to_string()));
            }
        }
        StationAction::Uninstall { name, version } => {
            let removed = station.uninstall(&name, &version)?;
            if json {
                println!("{}", json!({ "status": "OK", "station": station_name, "uninstalled": removed }));
            } else {
                println!("uninstalled {} from {}", safe(&removed.to_string()), safe(&station_name));
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn report_activation(json: bool, station: &str, what: &str, activation: &Activation) {
    if json {
        println!("{}", json!({ "status": "OK", "station": station, "activation": activation }));
        return;
    }
    for switch in &activation.switches {
        match &switch.from {
            Some(from) if *from == switch.to => {
                println!("{}: {} is active already", safe(&switch.pid), safe(&switch.to.to_string()))
            }
            Some(from) => println!(
                "{}: {what} {} (was {})",
                safe(&switch.pid),
                safe(&switch.to.to_string()),
                safe(&from.version.to_string())
            ),
            None => println!("{}: {what} {}", safe(&switch.pid), safe(&switch.to.to_string())),
        }
    }
}

fn print_listing(station: &str, listing: &Listing) {
    println!("station {}", safe(station));
    if listing.installed.is_empty() {
        println!("  nothing installed");
    }
    for installed in &listing.installed {
        let active = if installed.active_for.is_empty() {
            String::new()
        } else {
            format!("  active for {}", installed.active_for.join(", "))
        };
        println!(
            "  {}  pids {}  sha256 {}{}",
            safe(&installed.package.to_string()),
            safe(&installed.pids.join(",")),
            &installed.package.sha256[..16.min(installed.package.sha256.len())],
            safe(&active)
        );
    }
    for (pid, active) in &listing.active {
        let previous: Vec<String> =
            listing.history.get(pid).map(|h| h.iter().rev().map(|p| p.version.to_string()).collect()).unwrap_or_default();
        let rollback = if previous.is_empty() { String::new() } else { format!("  (rollback to {})", previous.join(", then ")) };
        let source = listing.sources.get(pid).map(|source| format!("  from {source}")).unwrap_or_default();
        println!("  {} -> {}{}{}", safe(pid), safe(&active.to_string()), safe(&source), safe(&rollback));
    }
}
