//! `pv-host`: run, inspect and test sandboxed vision-inspection algorithms.
//!
//! Each subcommand lives in its own file under `commands/`. Errors print as one
//! line with their cause chain and map to the exit codes documented in
//! [`exit`], never to a panic or a backtrace.

mod commands;
mod exit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run vision-inspection algorithms in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "pv-host", version, about, after_help = exit::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Host log on stderr: a level (error, warn, info, debug, trace) or a tracing
    /// filter. The default shows host warnings, such as the full detail of a guest
    /// crash, but not the guest's own log lines (target `guest`), which the
    /// summary prints already.
    #[arg(long, global = true, default_value = "warn,guest=off,audit=off", env = "PV_HOST_LOG")]
    log: String,

    /// Format of the host log on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Do not use the compile cache ($PV_HOST_CACHE, else ~/.cache/pv-host/compiled).
    #[arg(long, global = true)]
    no_cache: bool,

    /// Append the audit trail (packages admitted and refused, guest traps, limit
    /// hits) to FILE as JSON lines, whatever --log says.
    #[arg(long, global = true, value_name = "FILE")]
    audit_log: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One readable line per record.
    Text,
    /// One JSON object per record.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Keygen(commands::keygen::KeygenArgs),
    Pack(commands::pack::PackArgs),
    Sign(commands::sign::SignArgs),
    Verify(commands::verify::VerifyArgs),
    Inspect(commands::inspect::InspectArgs),
    Test(commands::test::TestArgs),
    Serve(commands::serve::ServeArgs),
    Bench(commands::bench::BenchArgs),
    Trust(commands::trust::TrustCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::use_compile_cache(!cli.no_cache);
    // `serve` owns stdout for frames; its log is JSON lines on stderr.
    let log_format = if matches!(cli.command, Command::Serve(_)) { LogFormat::Json } else { cli.log_format };
    if let Err(err) = init_tracing(&cli.log, log_format, cli.audit_log.as_deref()) {
        eprintln!("error: {err:#}");
        return ExitCode::from(exit::HOST);
    }
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Pack(args) => commands::pack::run(args),
        Command::Sign(args) => commands::sign::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Test(args) => commands::test::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Trust(command) => commands::trust::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", exit::describe(&err));
            exit::code_for(&err)
        }
    }
}

fn init_tracing(filter: &str, format: LogFormat, audit_log: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(true);
    let stderr = match format {
        LogFormat::Text => stderr.boxed(),
        LogFormat::Json => stderr.json().boxed(),
    }
    .with_filter(filter);
    let audit = match audit_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the audit log {}", path.display()))?;
            let only_audit = tracing_subscriber::filter::Targets::new().with_target("audit", tracing::Level::INFO);
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_current_span(false)
                    .with_filter(only_audit),
            )
        }
        None => None,
    };
    tracing_subscriber::registry().with(stderr).with(audit).init();
    Ok(())
}
