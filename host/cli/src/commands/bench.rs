//! `pv-host bench`: how fast a package runs one step, as a user measures it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use pv_host::image::load_image;
use pv_host::params::params_from_json;
use pv_host::types::StepInput;
use pv_host::{ResourceUsage, Session};
use serde_json::{Value, json};

use super::{AdmissionArgs, LimitArgs, Record};
use crate::exit;
use crate::terminal_safe as safe;

/// Run pre-execute and execute of one step on an image many times and report
/// latency percentiles per phase, fuel and peak memory per call, and calls per
/// second (warm: setup and the first call are not counted).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The package.
    package: PathBuf,

    /// The frame (PNG or JPEG).
    #[arg(long)]
    image: PathBuf,

    /// Product id [default: the first the algorithm supports].
    #[arg(long)]
    pid: Option<String>,

    /// Step parameters as a JSON object, or @FILE.
    #[arg(long, value_name = "JSON|@FILE")]
    params: Option<String>,

    /// Step index.
    #[arg(long, default_value_t = 1)]
    step: u32,

    /// Measured iterations (each one pre-execute and one execute).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    admission: AdmissionArgs,

    #[command(flatten)]
    limits: LimitArgs,
}

/// Run the command.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let host = super::host_builder().limits(args.limits.limits()).build()?;
    // A benchmark only tries the package: nothing goes into the rollback record.
    let package = args.admission.load(&host, &args.package, Record::TryOnly)?;
    let mut instance = package.instantiate()?;
    let pid = match &args.pid {
        Some(pid) => pid.clone(),
        None => instance.info().supported_pids.first().cloned().unwrap_or_default(),
    };
    instance.check_pid(&pid)?;
    let step = instance.step(args.step)?.clone();
    let input = StepInput {
        step_index: args.step,
        pid,
        step_desc: step.description.clone(),
        params: params_from_json(&step, &super::run::parse_params(args.params.as_deref())?)?,
        image: load_image(&args.image, None)?,
        guide_image: None,
        guide_info: Vec::new(),
    };
    instance.setup().into_result()?;
    let mut session = Session::new("bench");
    // One call untimed: the first touches memory the later ones reuse.
    instance.pre_execute(&mut session, &input).into_result()?;
    instance.execute(&mut session, &input).into_result()?;

    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| indicatif::ProgressBar::new(u64::from(args.iterations)));
    let (mut pre, mut exec) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..args.iterations {
        let report = instance.pre_execute(&mut session, &input);
        pre.push(report.usage);
        report.result?;
        let report = instance.execute(&mut session, &input);
        exec.push(report.usage);
        report.result?;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    let elapsed = started.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let steps_per_second = f64::from(args.iterations) / elapsed.as_secs_f64();
    let report = json!({
        "algorithm": { "name": instance.info().name, "version": instance.info().version },
        "image": args.image.display().to_string(),
        "iterations": args.iterations,
        "steps_per_second": steps_per_second,
        // A step is two guest calls: pre-execute and execute.
        "calls_per_second": 2.0 * steps_per_second,
        "pre_execute": phase_json(&pre),
        "execute": phase_json(&exec),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::from(exit::OK))
}

/// The value at fraction `p` of the sorted `values` (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

fn phase_json(calls: &[ResourceUsage]) -> Value {
    let mut ms: Vec<f64> = calls.iter().map(|u| u.wall_time.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let fuel: Vec<u64> = calls.iter().filter_map(|u| u.fuel_consumed).collect();
    json!({
        "latency_ms": { "p50": percentile(&ms, 0.5), "p90": percentile(&ms, 0.9), "p99": percentile(&ms, 0.99),
                        "min": ms.first(), "max": ms.last() },
        "fuel_per_call": fuel.iter().sum::<u64>().checked_div(fuel.len() as u64),
        "peak_memory_bytes": calls.iter().map(|u| u.peak_memory_bytes).max(),
        "total_ms": calls.iter().map(|u| u.wall_time).sum::<Duration>().as_secs_f64() * 1e3,
    })
}

fn print_table(report: &Value) {
    println!(
        "{} {} on {}, {} iterations: {:.1} steps/s ({:.1} calls/s)",
        safe(report["algorithm"]["name"].as_str().unwrap_or("")),
        safe(report["algorithm"]["version"].as_str().unwrap_or("")),
        safe(report["image"].as_str().unwrap_or("")),
        report["iterations"],
        report["steps_per_second"].as_f64().unwrap_or(0.0),
        report["calls_per_second"].as_f64().unwrap_or(0.0)
    );
    println!("\nphase           p50 ms   p90 ms   p99 ms   Mfuel/call   peak MiB");
    for (name, key) in [("pre-execute", "pre_execute"), ("execute", "execute")] {
        let phase = &report[key];
        let latency = |p: &str| phase["latency_ms"][p].as_f64().unwrap_or(0.0);
        println!(
            "{name:<13} {:>8.2} {:>8.2} {:>8.2} {:>12.1} {:>10.1}",
            latency("p50"),
            latency("p90"),
            latency("p99"),
            phase["fuel_per_call"].as_f64().unwrap_or(0.0) / 1e6,
            phase["peak_memory_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64
        );
    }
}
