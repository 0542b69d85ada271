//! `pv-host test`: the conformance harness QA runs before a package is admitted.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use pv_host::harness::{Harness, Status, TestReport};
use pv_host::{Admission, TrustStore};

use super::{LimitArgs, TrustArgs};
use crate::exit;

/// Run the conformance checks on a package: signature, manifest, contract,
/// behaviour on images and odd inputs, determinism, session isolation,
/// resources, golden cases. Exit code 0 when no check fails, 1 when one does.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The package.
    package: PathBuf,

    /// Also run every step on each PNG or JPEG in DIR.
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,

    /// Golden cases (TOML): image, pid, step, params, expected verdict and
    /// defect rects.
    #[arg(long, value_name = "CASES.toml")]
    cases: Option<PathBuf>,

    /// Write a report: .json, .xml (JUnit) or .html, by extension. Repeatable.
    #[arg(long, value_name = "FILE")]
    report: Vec<PathBuf>,

    /// Print the JSON report (the same as `--report FILE.json`) on stdout
    /// instead of the check lines.
    #[arg(long)]
    pub json: bool,

    /// The product id to exercise [default: the first the algorithm supports].
    #[arg(long)]
    pid: Option<String>,

    /// Check a version older than one admitted before on this station without
    /// failing the signature check (nothing is recorded either way).
    #[arg(long)]
    allow_downgrade: bool,

    #[command(flatten)]
    trust: TrustArgs,

    #[command(flatten)]
    limits: LimitArgs,
}

/// Run the command.
pub fn run(args: TestArgs) -> Result<ExitCode> {
    for path in &args.report {
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "xml" | "html")) {
            bail!("--report {}: the extension must be .json, .xml or .html", path.display());
        }
    }
    let host = super::host_builder().limits(args.limits.limits()).build()?;
    // Without a trust store the signature check fails and the rest still runs;
    // a store that exists but cannot be used is an error, not an empty store.
    let trust = args.trust.open_if_present()?.unwrap_or_else(TrustStore::in_memory);
    // The harness verifies only: it never writes the rollback record.
    let admission = Admission::new(&trust).allow_downgrade(args.allow_downgrade).record(false);
    let mut harness = Harness::new(host, &args.package, admission)?.with_pid(args.pid.clone());
    if let Some(dir) = &args.images {
        harness = harness.with_images(dir)?;
    }
    if let Some(cases) = &args.cases {
        harness = harness.with_cases(cases)?;
    }

    // The spinner is on stderr; the check lines always go to stdout (printed
    // while the spinner is hidden, so the two never mix on a terminal).
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let report = harness.run(&mut |check| {
        if args.json {
            return;
        }
        match &bar {
            Some(bar) => {
                bar.set_message(check.name.clone());
                bar.suspend(|| println!("{}", line(check)));
            }
            None => println!("{}", line(check)),
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    write_reports(&args, &report)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        return Ok(ExitCode::from(if report.passed() { exit::OK } else { exit::NG }));
    }
    let (pass, warn, fail) = report.counts();
    println!("\n{pass} passed, {warn} warned, {fail} failed: {}", if report.passed() { "PASS" } else { "FAIL" });
    Ok(ExitCode::from(if report.passed() { exit::OK } else { exit::NG }))
}

fn line(check: &pv_host::harness::Check) -> String {
    let status = match check.status {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    };
    // Reasons quote what the algorithm said: never raw control characters.
    format!("{status}  {:<40} {}", check.name, crate::terminal_safe(&check.reason))
}

fn write_reports(args: &TestArgs, report: &TestReport) -> Result<()> {
    for path in &args.report {
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::to_string_pretty(&report.to_json())?,
            Some("xml") => report.to_junit_xml(),
            _ => report.to_html(),
        };
        std::fs::write(path, text).with_context(|| format!("cannot write the report {}", path.display()))?;
        if !args.json {
            println!("report written to {}", path.display());
        }
    }
    Ok(())
}
