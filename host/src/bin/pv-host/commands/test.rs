//! `pv-host test`: the conformance harness QA runs before a package is admitted.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use pv_host::testing::{Harness, Status, TestReport};
use pv_host::{Admission, Limits, TrustStore};

use super::TrustArgs;
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

    /// The product id to exercise [default: the first the algorithm supports].
    #[arg(long)]
    pid: Option<String>,

    /// Deadline of every call, in milliseconds [default: the platform's].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: Option<u64>,

    #[command(flatten)]
    trust: TrustArgs,
}

/// Run the command.
pub fn run(args: TestArgs) -> Result<ExitCode> {
    for path in &args.report {
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "xml" | "html")) {
            bail!("--report {}: the extension must be .json, .xml or .html", path.display());
        }
    }
    let mut limits = Limits::default();
    if let Some(ms) = args.timeout_ms {
        limits = limits.with_all_deadlines(Duration::from_millis(ms));
    }
    let host = super::host_builder().limits(limits).build()?;
    // Without a usable trust store the signature check fails; the rest still runs.
    let trust = args.trust.open().unwrap_or_else(|_| TrustStore::in_memory());
    let mut harness = Harness::new(host, &args.package, Admission::new(&trust))?.with_pid(args.pid.clone());
    if let Some(dir) = &args.images {
        harness = harness.with_images(dir)?;
    }
    if let Some(cases) = &args.cases {
        harness = harness.with_cases(cases)?;
    }

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let report = harness.run(&mut |check| {
        if let Some(bar) = &bar {
            bar.set_message(check.name.clone());
            bar.println(line(check));
        } else {
            println!("{}", line(check));
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    write_reports(&args, &report)?;
    let (pass, warn, fail) = report.counts();
    println!("\n{pass} passed, {warn} warned, {fail} failed: {}", if report.passed() { "PASS" } else { "FAIL" });
    Ok(ExitCode::from(if report.passed() { exit::OK } else { exit::NG }))
}

fn line(check: &pv_host::testing::Check) -> String {
    let status = match check.status {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    };
    format!("{status}  {:<40} {}", check.name, check.reason)
}

fn write_reports(args: &TestArgs, report: &TestReport) -> Result<()> {
    for path in &args.report {
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::to_string_pretty(&report.to_json())?,
            Some("xml") => report.to_junit_xml(),
            _ => report.to_html(),
        };
        std::fs::write(path, text).with_context(|| format!("cannot write the report {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}
