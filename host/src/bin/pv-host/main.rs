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
    #[arg(long, global = true, default_value = "warn,guest=off", env = "PV_HOST_LOG")]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Keygen(commands::keygen::KeygenArgs),
    Pack(commands::pack::PackArgs),
    Sign(commands::sign::SignArgs),
    Verify(commands::verify::VerifyArgs),
    Inspect(commands::inspect::InspectArgs),
    Trust(commands::trust::TrustCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Pack(args) => commands::pack::run(args),
        Command::Sign(args) => commands::sign::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
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

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true).init();
}
