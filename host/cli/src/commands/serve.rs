//! `pv-host serve`: the platform's algorithm subprocess, sandboxed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use pv_host::error::InputCode;
use pv_host::serve::{ServeConfig, ServeEnd, Served, check_station_params, frame::DEFAULT_MAX_FRAME_BYTES, serve_loading};
use pv_host::station::DEFAULT_WATCH_INTERVAL;
use pv_host::station::StationDir;
use pv_host::{Error, Runner, RunnerConfig, Station};

use super::{AdmissionArgs, LimitArgs, Record};
use crate::exit;

/// Speak the platform's frame protocol on stdin and stdout (4-byte big-endian
/// length, then JSON) for one package, or for every product id active on a
/// station: a drop-in for the algorithm subprocess. stdout carries frames only;
/// logs go to stderr as JSON lines. Exit code 0 after `shutdown` or the end of
/// input, 3 after an oversized frame or input that ends inside a frame.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The package. Without it, serve a station (see --station).
    #[arg(conflicts_with = "station")]
    package: Option<PathBuf>,

    /// Serve every product id active on this station directory, each call on
    /// the version active for its product id, activations and rollbacks made
    /// meanwhile (`pv-host station`) taking effect for the next call [default
    /// without PACKAGE: $PV_HOST_STATION, else $XDG_DATA_HOME/pv-host/station,
    /// else ~/.local/share/pv-host/station].
    #[arg(long, value_name = "DIR")]
    station: Option<PathBuf>,

    /// How often a station is checked for changes, in milliseconds (a read of
    /// a few bytes).
    #[arg(long, value_name = "MS", conflicts_with = "package", value_parser = clap::value_parser!(u64).range(1..))]
    watch_ms: Option<u64>,

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
    /// none) [default: the algorithm's only PID, or the station's only active
    /// one; with several, such calls get error 1001].
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

    /// Serve Prometheus metrics at http://ADDR/metrics (OpenMetrics text) on a
    /// thread of its own: calls, durations, queue wait, fuel, memory, traps,
    /// instances, compile cache, package loads, station switches and the
    /// active version per product id (see the README's list).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// The metrics of this serve process, shared by its host and the endpoint.
static TELEMETRY: std::sync::OnceLock<pv_host::Telemetry> = std::sync::OnceLock::new();

/// This process's host builder: the CLI's, counting into [`TELEMETRY`].
fn serve_host(args: &ServeArgs) -> pv_host::HostBuilder {
    super::host_builder().limits(args.limits.limits()).telemetry(TELEMETRY.get_or_init(pv_host::Telemetry::new).clone())
}

/// Answer `GET /metrics` at `addr` on a thread of its own; anything else 404.
/// Bound before the first call, so a taken address fails at start.
fn serve_metrics(addr: std::net::SocketAddr) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|err| anyhow::anyhow!("cannot serve metrics on {addr}: {err}"))?;
    let telemetry = TELEMETRY.get_or_init(pv_host::Telemetry::new).clone();
    std::thread::Builder::new().name("metrics".to_owned()).spawn(move || {
        let header = |value: &str| tiny_http::Header::from_bytes("Content-Type", value).expect("a valid header");
        let open_metrics = header("application/openmetrics-text; version=1.0.0; charset=utf-8");
        let text_format = header("text/plain; version=0.0.4; charset=utf-8");
        for request in server.incoming_requests() {
            // OpenMetrics for a client that asks for it (Prometheus does);
            // the classic text format otherwise.
            let wants_open_metrics = request
                .headers()
                .iter()
                .any(|h| h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text"));
            let response = if request.method() == &tiny_http::Method::Get && request.url() == "/metrics" {
                if wants_open_metrics {
                    tiny_http::Response::from_string(telemetry.encode()).with_header(open_metrics.clone())
                } else {
                    tiny_http::Response::from_string(telemetry.encode_text()).with_header(text_format.clone())
                }
            } else {
                tiny_http::Response::from_string("not found: the metrics are at /metrics\n").with_status_code(404)
            };
            if let Err(err) = request.respond(response) {
                tracing::debug!(%err, "a metrics scrape ended early");
            }
        }
    })?;
    tracing::info!(%addr, "metrics at /metrics");
    Ok(())
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
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr)?;
    }
    match args.package.clone() {
        Some(package) => run_package(args, package),
        None => run_station(args),
    }
}

fn runner_config(args: &ServeArgs) -> RunnerConfig {
    RunnerConfig::default().with_instances(args.instances).with_queue(args.queue).with_step_hooks(false)
}

fn run_package(args: ServeArgs, package: PathBuf) -> Result<ExitCode> {
    // The command line is checked before the hello; loading (which may wait
    // for the trust store's lock and compile) runs while pings are answered.
    let params = super::run::parse_params(args.params.as_deref())?;
    let config = serve_config(&args, params.clone());
    let load = move || {
        typed((|| {
            let host = serve_host(&args).build()?;
            let package = args.admission.load(&host, &package, Record::Admitted)?;
            let info = package.instantiate()?.info().clone();
            if let Some(pid) = &args.pid
                && !info.supported_pids.contains(pid)
            {
                let message = format!("--pid {pid:?} is not supported (supported: {})", info.supported_pids.join(", "));
                return Err(Error::InvalidInput { code: InputCode::InvalidPid, message }.into());
            }
            check_station_params(&info, &params)?;
            Ok(Served::Package { runner: Runner::new(package, runner_config(&args)), info })
        })())
    };
    let end = serve_on_a_worker(move |input, output| serve_loading(load, config, input, output))??;
    Ok(finish(end))
}

/// The library's error behind `err`, so that the exit code follows its kind;
/// anything else is a host failure.
fn typed(result: Result<Served>) -> pv_host::Result<Served> {
    result.map_err(|err| match err.downcast::<Error>() {
        Ok(err) => err,
        Err(other) => Error::Host { message: format!("{other:#}"), source: None },
    })
}

/// Serve a station: every active version loaded and warmed first (while the
/// hello is sent and pings answered), then calls routed by product id while
/// the station is watched.
fn run_station(args: ServeArgs) -> Result<ExitCode> {
    // Flags that mean something for one package file only: a station runs the
    // versions it admitted at install, with no station-wide params.
    let package_only = [
        (args.admission.allow_unsigned, "--allow-unsigned"),
        (args.admission.allow_downgrade, "--allow-downgrade"),
        (args.params.is_some(), "--params"),
    ];
    if let Some((_, flag)) = package_only.iter().find(|(given, _)| *given) {
        eprintln!(
            "error: {flag} applies to a package file, not to a station (its versions were admitted at install; params come from each call)"
        );
        return Ok(ExitCode::from(exit::USAGE));
    }
    let dir = args.station.clone().or_else(StationDir::default_dir).context(
        "no package and no station: give a package, or --station DIR, or set PV_HOST_STATION (neither HOME nor XDG_DATA_HOME is set)",
    )?;
    let config = serve_config(&args, serde_json::Map::new());
    let load = move || typed(load_station(&args, &dir));
    let end = serve_on_a_worker(move |input, output| serve_loading(load, config, input, output))??;
    Ok(finish(end))
}

fn load_station(args: &ServeArgs, dir: &std::path::Path) -> Result<Served> {
    let trust = args.admission.trust.open()?;
    let host = serve_host(args).build()?;
    let loading = format!("loading the versions active on station {}", dir.display());
    let station = super::progress::slow_step(loading, || Station::open(dir, host, trust, runner_config(args)))?;
    let active = station.active();
    if active.is_empty() {
        let mapped = station.dir().list()?.active.len();
        let message = if mapped == 0 {
            format!(
                "nothing is active on station {}: install and activate a version first (pv-host station install, pv-host station activate)",
                dir.display()
            )
        } else {
            format!(
                "{mapped} product ids are active on station {} but none of their versions could be loaded (see the log)",
                dir.display()
            )
        };
        return Err(Error::InvalidInput { code: InputCode::InvalidPid, message }.into());
    }
    if let Some(pid) = &args.pid
        && !active.contains_key(pid)
    {
        let served = active.keys().cloned().collect::<Vec<_>>().join(", ");
        let message = format!("--pid {pid:?} is not active on station {} (active: {served})", dir.display());
        return Err(Error::InvalidInput { code: InputCode::InvalidPid, message }.into());
    }
    for (pid, package) in &active {
        tracing::info!(%pid, %package, "serving");
    }
    let watch_interval = args.watch_ms.map_or(DEFAULT_WATCH_INTERVAL, Duration::from_millis);
    Ok(Served::Station { station: Arc::new(station), watch_interval })
}

/// Run the server on a worker of a multi-threaded runtime, not on this thread:
/// the worker that polls the pipes runs the reader, so a ping wakes one thread,
/// not two. The runtime is then left without waiting for its blocking threads
/// (a load that was still running when a `shutdown` came, a watcher's last look).
fn serve_on_a_worker<F, T>(server: impl FnOnce(tokio::io::BufReader<Input>, Output) -> F) -> Result<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let end = runtime.block_on(async {
        let (input, output) = platform_pipes();
        tokio::spawn(server(tokio::io::BufReader::new(input), output)).await
    });
    runtime.shutdown_background();
    end.context("the server failed")
}

fn serve_config(args: &ServeArgs, params: serde_json::Map<String, serde_json::Value>) -> ServeConfig {
    let mut config = ServeConfig {
        max_frame_bytes: args.max_frame_bytes,
        pid: args.pid.clone(),
        params,
        execute_session: args.execute_session.clone(),
        ..ServeConfig::default()
    };
    if let Some(dir) = &args.shm_dir {
        config.shm_dir = dir.clone();
    }
    tracing::info!(shm_dir = %config.shm_dir.display(), "images are read from the shared-memory directory");
    config
}

fn finish(end: ServeEnd) -> ExitCode {
    tracing::info!(?end, "serve ended");
    ExitCode::from(match end {
        ServeEnd::Shutdown | ServeEnd::EndOfInput => exit::OK,
        ServeEnd::Truncated | ServeEnd::FrameTooLarge => exit::INVALID_INPUT,
    })
}
