//! `pv-host`: run, inspect and test sandboxed vision-inspection algorithms.
//!
//! Each subcommand lives in its own file under `commands/`. Errors print as one
//! line with their cause chain and map to the exit codes documented in
//! [`exit`], never to a panic or a backtrace.

mod commands;
mod exit;
mod registry;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// The version line: pv-host's own, the wasmtime it runs guests on and the WIT
/// contract it supports.
fn version() -> String {
    format!(
        "{} (wasmtime {}, contract {})",
        env!("CARGO_PKG_VERSION"),
        wasmtime_environ::VERSION,
        pv_host::package_file::SUPPORTED_WIT
    )
}

/// Run vision-inspection algorithms in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "pv-host", version = version(), about, after_help = exit::EXIT_CODES_HELP)]
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
    New(commands::new::NewArgs),
    Run(commands::run::RunArgs),
    Keygen(commands::keygen::KeygenArgs),
    Pack(commands::pack::PackArgs),
    Sign(commands::sign::SignArgs),
    Verify(commands::verify::VerifyArgs),
    Inspect(commands::inspect::InspectArgs),
    Push(commands::push::PushArgs),
    Pull(commands::pull::PullArgs),
    Test(commands::test::TestArgs),
    Serve(commands::serve::ServeArgs),
    Bench(commands::bench::BenchArgs),
    Trust(commands::trust::TrustCommand),
    Station(commands::station::StationCommand),
    Completions(commands::completions::CompletionsArgs),
    Man(commands::man::ManArgs),
}

impl Command {
    /// Whether the command was asked for JSON output: its errors are then JSON
    /// on stdout too (`run` shapes its own).
    fn wants_json(&self) -> bool {
        match self {
            Command::New(args) => args.json,
            Command::Keygen(args) => args.json,
            Command::Pack(args) => args.json,
            Command::Sign(args) => args.json,
            Command::Verify(args) => args.json,
            Command::Inspect(args) => args.json,
            Command::Push(args) => args.json,
            Command::Pull(args) => args.json,
            Command::Test(args) => args.json,
            Command::Bench(args) => args.json,
            Command::Trust(command) => command.json,
            Command::Station(command) => command.json,
            Command::Run(_) | Command::Serve(_) | Command::Completions(_) | Command::Man(_) => false,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::use_compile_cache(!cli.no_cache);
    // `serve` owns stdout for frames; its log is JSON lines on stderr.
    let log_format = if matches!(cli.command, Command::Serve(_)) { LogFormat::Json } else { cli.log_format };
    let filter = match tracing_subscriber::EnvFilter::try_new(&cli.log) {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!("error: invalid --log filter `{}`: {err} (a level such as `info`, or `warn,pv_host=debug`)", cli.log);
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Err(err) = init_tracing(filter, log_format, cli.audit_log.as_deref()) {
        eprintln!("error: {err:#}");
        return ExitCode::from(exit::HOST);
    }
    let wants_json = cli.command.wants_json();
    let result = match cli.command {
        Command::New(args) => commands::new::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Pack(args) => commands::pack::run(args),
        Command::Sign(args) => commands::sign::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Push(args) => commands::push::run(args),
        Command::Pull(args) => commands::pull::run(args),
        Command::Test(args) => commands::test::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Trust(command) => commands::trust::run(command),
        Command::Station(command) => commands::station::run(command),
        Command::Completions(args) => commands::completions::run(args, Cli::command()),
        Command::Man(args) => commands::man::run(args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if wants_json {
                println!("{}", exit::error_json(&err));
            }
            eprintln!("error: {}", terminal_safe(&exit::describe(&err)));
            exit::code_for(&err)
        }
    }
}

/// Text for a terminal: control characters (escape sequences that could retitle
/// the window or clear the screen) are shown escaped, never sent raw. Guest
/// text reaches messages, so every line printed for humans goes through this.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect(),
    )
}

/// Colour on stderr only for a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (https://no-color.org).
fn use_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn init_tracing(
    filter: tracing_subscriber::EnvFilter,
    format: LogFormat,
    audit_log: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(true).with_ansi(use_colour());
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

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(terminal_safe("found 23 of 24 parts"), "found 23 of 24 parts");
        let hostile = "ok\u{1b}]0;owned\u{7}\u{1b}[2J\nverdict: OK";
        let shown = terminal_safe(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "ok\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\nverdict: OK");
    }
}
