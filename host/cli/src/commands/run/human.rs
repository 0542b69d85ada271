//! The summary `pv-host run` prints without `--json`: the calls with their
//! costs, the rectangles, the guest log and the verdict.

use pv_host::ResourceUsage;
use pv_host::image::format_name;
use pv_host::sandbox::LogRecord;
use pv_host::types::{Rect, Verdict};
use pv_host::wire::verdict_name;

use super::RunOutcome;
use super::json::{level_name, ms};
use crate::terminal_safe as safe;

/// `   5.3 ms    41.2 Mfuel   2.1 MiB`: wall time, fuel and peak memory of a call.
fn usage_line(usage: &ResourceUsage) -> String {
    let fuel = match usage.fuel_consumed {
        Some(fuel) => format!("{:>7.1} Mfuel", fuel as f64 / 1e6),
        None => format!("{:>13}", "fuel off"),
    };
    format!("{:>8.1} ms {fuel} {:>7.1} MiB", ms(usage.wall_time), usage.peak_memory_bytes as f64 / (1024.0 * 1024.0))
}

pub(super) fn print_summary(outcome: &RunOutcome) {
    let meta = &outcome.input.image.meta;
    println!(
        "{} {} | pid {} | step {} | {} ({}x{} {})",
        safe(&outcome.name),
        safe(&outcome.version),
        safe(&outcome.input.pid),
        outcome.input.step_index,
        outcome.image_path.display(),
        meta.width,
        meta.height,
        format_name(meta.format)
    );
    if let Some(setup) = &outcome.setup {
        println!("setup        ok     {}", usage_line(setup));
    }
    match &outcome.pre.result {
        Ok(pre) => println!("pre-execute  ok     {}  {}", usage_line(&outcome.pre.usage), safe(&pre.message)),
        Err(err) => {
            println!("pre-execute  ERROR  {}  [{}] {}", usage_line(&outcome.pre.usage), err.code(), safe(&err.to_string()))
        }
    }
    if let Some(exec) = &outcome.exec {
        match &exec.result {
            Ok(out) => println!(
                "execute      {:<6} {}  {}",
                verdict_name(out.verdict),
                usage_line(&exec.usage),
                safe(out.ng_reason.as_deref().unwrap_or(""))
            ),
            Err(err) => {
                println!("execute      ERROR  {}  [{}] {}", usage_line(&exec.usage), err.code(), safe(&err.to_string()))
            }
        }
    }
    let mut rows: Vec<(&str, &Rect)> = Vec::new();
    if let Ok(pre) = &outcome.pre.result {
        rows.extend(pre.calibration_rects.iter().map(|r| ("calibration", r)));
    }
    if let Some(Ok(out)) = outcome.exec.as_ref().map(|e| &e.result) {
        rows.extend(out.defect_rects.iter().map(|r| ("defect", r)));
        rows.extend(out.position_rects.iter().map(|r| ("position", r)));
    }
    if !rows.is_empty() {
        println!("\n  #  kind         {:>5} {:>5} {:>5} {:>5}  score  label", "x", "y", "w", "h");
        for (i, (kind, r)) in rows.iter().enumerate() {
            let score = r.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "-".into());
            println!(
                "{:>3}  {kind:<12} {:>5} {:>5} {:>5} {:>5}  {score:>5}  {}",
                i + 1,
                r.x,
                r.y,
                r.width,
                r.height,
                safe(r.label.as_deref().unwrap_or(""))
            );
        }
    }
    let logs: Vec<(&str, &LogRecord)> = outcome
        .pre
        .logs
        .iter()
        .map(|r| ("pre-execute", r))
        .chain(outcome.exec.iter().flat_map(|e| e.logs.iter().map(|r| ("execute", r))))
        .collect();
    if !logs.is_empty() {
        println!("\nguest log");
        for (phase, r) in logs {
            let fields: Vec<String> = r.fields.iter().map(|(k, v)| format!("{}={}", safe(k), safe(v))).collect();
            println!("  {phase:<11} {:<5} {} {}", level_name(r.level), safe(&r.message), fields.join(" "));
        }
    }
    let verdict = match (&outcome.pre.result, outcome.exec.as_ref().map(|e| &e.result)) {
        (Err(err), _) | (_, Some(Err(err))) => format!("ERROR {}", err.code()),
        (_, Some(Ok(out))) => match &out.ng_reason {
            Some(reason) if out.verdict == Verdict::Ng => format!("NG ({})", safe(reason)),
            _ => verdict_name(out.verdict).to_owned(),
        },
        _ => "ERROR".to_owned(),
    };
    println!("\nverdict: {verdict}");
}
