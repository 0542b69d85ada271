//! `pv-host serve`: the platform's algorithm subprocess, sandboxed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use pv_host::serve::{ServeConfig, ServeEnd, check_station_params, frame::DEFAULT_MAX_FRAME_BYTES, serve};
use pv_host::{Error, ErrorCode, Runner, RunnerConfig};

use super::{AdmissionArgs, LimitArgs, Record};
use crate::exit;

/// Speak the platform's frame protocol on stdin and stdout (4-byte big-endian
/// length, then JSON) for one package: a drop-in for the algorithm subprocess.
/// stdout carries frames only; logs go to stderr as JSON lines. Exit code 0
/// after `shutdown` or the end of input, 3 after an oversized frame or input
/// that ends inside a frame.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The package.
    package: PathBuf,

    #[command(flatten)]
    admission: AdmissionArgs,

    #[command(flatten)]
    limits: LimitArgs,

    /// Where the platform writes shared-memory images (<id>.npy or <id>.bin, the
    /// id's characters other than letters, digits, `.`, `_`, `-` written `_`)
    /// [default: $PROC_SHM_DIR, else procvision_dev_shm in $TMPDIR, $TEMP, $TMP
    /// or /tmp, as the platform computes it].
    #[arg(long, value_name = "DIR")]
    shm_dir: Option<PathBuf>,

    /// Largest incoming frame, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,

    /// Calls running at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    instances: usize,

    /// Calls waiting for an instance; one more is answered busy (3001). 0 refuses
    /// every call made while another runs.
    #[arg(long, value_name = "N", default_value_t = 16)]
    queue: usize,

    /// Product id of execute-only calls (the platform's current protocol sends
    /// none) [default: the algorithm's only PID; with several, such calls get
    /// error 1001].
    #[arg(long)]
    pid: Option<String>,

    /// The station's step parameters, as a JSON object or @FILE: names to
    /// values for every step that declares them, or step indexes ("1") to such
    /// objects. Execute-only calls run with these over the step's defaults;
    /// phase calls with their user_params over these.
    #[arg(long, value_name = "JSON|@FILE")]
    params: Option<String>,

    /// Run every execute-only call in this one session, kept across calls
    /// [default: each call in a session of its own].
    #[arg(long, value_name = "ID")]
    execute_session: Option<String>,
}

type Input = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type Output = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// stdin and stdout: where they are the pipes the platform gives, read and
/// written as the runtime's own non-blocking I/O, so that a frame or a pong
/// needs no hand-off to a blocking thread (as `tokio::io::stdin()` and
/// `stdout()` make); otherwise (a terminal, a file) the blocking forms. Each is
/// checked to be a FIFO before anything about it changes.
#[cfg(unix)]
fn platform_pipes() -> (Input, Output) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe::{Receiver, Sender};
    let input: Input = match std::io::stdin().as_fd().try_clone_to_owned().map(Receiver::from_owned_fd) {
        Ok(Ok(pipe)) => Box::new(pipe),
        _ => Box::new(tokio::io::stdin()),
    };
    let output: Output = match std::io::stdout().as_fd().try_clone_to_owned().map(Sender::from_owned_fd) {
        Ok(Ok(pipe)) => Box::new(pipe),
        _ => Box::new(tokio::io::stdout()),
    };
    (input, output)
}

#[cfg(not(unix))]
fn platform_pipes() -> (Input, Output) {
    (Box::new(tokio::io::stdin()), Box::new(tokio::io::stdout()))
}

/// Run the command.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let host = super::host_builder().limits(args.limits.limits()).build()?;
    let package = args.admission.load(&host, &args.package, Record::Admitted)?;
    let info = package.instantiate()?.info().clone();
    if let Some(pid) = &args.pid
        && !info.supported_pids.contains(pid)
    {
        let message = format!("--pid {pid:?} is not supported (supported: {})", info.supported_pids.join(", "));
        return Err(Error::InvalidInput { code: ErrorCode::InvalidPid, message }.into());
    }
    let params = super::run::parse_params(args.params.as_deref())?;
    check_station_params(&info, &params)?;
    let runner = Runner::new(
        package,
        RunnerConfig::default().with_instances(args.instances).with_queue(args.queue).with_step_hooks(false),
    );
    let mut config = ServeConfig {
        max_frame_bytes: args.max_frame_bytes,
        pid: args.pid,
        params,
        execute_session: args.execute_session,
        ..ServeConfig::default()
    };
    if let Some(dir) = args.shm_dir {
        config.shm_dir = dir;
    }
    tracing::info!(shm_dir = %config.shm_dir.display(), "images are read from the shared-memory directory");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    // Served on a worker of the runtime, not on this thread: the worker that
    // polls the pipes runs the reader, so a ping wakes one thread, not two.
    let end = runtime.block_on(async {
        let (input, output) = platform_pipes();
        runtime.spawn(serve(runner, info, config, tokio::io::BufReader::new(input), output)).await
    });
    let end = end.context("the server failed")?;
    tracing::info!(?end, "serve ended");
    Ok(ExitCode::from(match end {
        ServeEnd::Shutdown | ServeEnd::EndOfInput => exit::OK,
        ServeEnd::Truncated | ServeEnd::FrameTooLarge => exit::INVALID_INPUT,
    }))
}
