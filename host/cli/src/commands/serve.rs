//! `pv-host serve`: the platform's algorithm subprocess, sandboxed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use pv_host::serve::{ServeConfig, ServeEnd, frame::DEFAULT_MAX_FRAME_BYTES, serve, shm::DEFAULT_SHM_DIR};
use pv_host::{Runner, RunnerConfig};

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

    /// Where the platform writes shared-memory images (<id>.bin or <id>.npy).
    #[arg(long, value_name = "DIR", env = "PROC_SHM_DIR", default_value = DEFAULT_SHM_DIR)]
    shm_dir: PathBuf,

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
}

/// Run the command.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let host = super::host_builder().limits(args.limits.limits()).build()?;
    let package = args.admission.load(&host, &args.package, Record::Admitted)?;
    let info = package.instantiate()?.info().clone();
    let runner = Runner::new(
        package,
        RunnerConfig::default().with_instances(args.instances).with_queue(args.queue).with_step_hooks(false),
    );
    let config = ServeConfig { max_frame_bytes: args.max_frame_bytes, shm_dir: args.shm_dir, ..ServeConfig::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let end = runtime.block_on(serve(runner, info, config, tokio::io::stdin(), tokio::io::stdout()));
    tracing::info!(?end, "serve ended");
    Ok(ExitCode::from(match end {
        ServeEnd::Shutdown | ServeEnd::EndOfInput => exit::OK,
        ServeEnd::Truncated | ServeEnd::FrameTooLarge => exit::INVALID_INPUT,
    }))
}
