//! Metrics a plant can scrape: every call, load and station switch counted in
//! a Prometheus registry ([`prometheus-client`](prometheus_client)), in base
//! units and with label values from closed sets, so that the number of series
//! is bounded by construction (no session ids, no free text).
//!
//! Each [`Host`](crate::Host) has a [`Telemetry`]; its runners and stations
//! record into it. An embedder serves [`Telemetry::encode`] (or registers
//! [`Telemetry::registry`]'s metrics into its own) at an endpoint of its
//! choosing: the library has no HTTP server. `pv-host serve --metrics-addr`
//! serves it on a thread of its own.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `pv_host_calls_total` | counter | `package`, `version`, `pid`, `phase`, `outcome` |
//! | `pv_host_call_duration_seconds` | histogram | `package`, `phase` |
//! | `pv_host_queue_wait_seconds` | histogram | `package` |
//! | `pv_host_fuel_consumed_total` | counter | `package`, `phase` |
//! | `pv_host_guest_memory_peak_bytes` | gauge | `package` |
//! | `pv_host_traps_total` | counter | `package`, `kind` |
//! | `pv_host_instances` | gauge | `package`, `state` |
//! | `pv_host_compile_cache_lookups_total` | counter | `result` |
//! | `pv_host_package_loads_total` | counter | `outcome` |
//! | `pv_host_package_load_duration_seconds` | histogram | (none) |
//! | `pv_host_station_switches_total` | counter | (none) |
//! | `pv_host_active_version_info` | gauge (always 1) | `pid`, `package`, `version` |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::{Error, ErrorKind};
use crate::locks::lock;
use crate::phase::Phase;

/// Histogram buckets for call and load times, in seconds: 100 µs to 30 s.
pub const DURATION_BUCKETS_SECONDS: [f64; 17] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The `pid` label of a call whose product id the package does not list: the
/// host refuses it (1001), and its text never becomes a label.
pub const OTHER_PID: &str = "_other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    package: String,
    version: String,
    pid: String,
    phase: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    package: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PackageLabels {
    package: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    package: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    package: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActiveLabels {
    pid: String,
    package: String,
    version: String,
}

fn durations() -> Histogram {
    Histogram::new(DURATION_BUCKETS_SECONDS)
}

struct Families {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_duration: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    queue_wait: Family<PackageLabels, Histogram, fn() -> Histogram>,
    fuel: Family<PhaseLabels, Counter>,
    memory_peak: Family<PackageLabels, Gauge>,
    traps: Family<KindLabels, Counter>,
    instances: Family<StateLabels, Gauge>,
    cache: Family<ResultLabels, Counter>,
    loads: Family<OutcomeLabels, Counter>,
    load_duration: Histogram,
    switches: Counter,
    active: Family<ActiveLabels, Gauge>,
    /// The label sets of `active` now set, so a switch can clear the old ones.
    active_now: Mutex<Vec<ActiveLabels>>,
}

/// A host's metrics. Cheap to clone; clones share the registry.
#[derive(Clone)]
pub struct Telemetry {
    families: Arc<Families>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

/// What one call was, for [`Telemetry::record_call`].
pub(crate) struct CallRecord<'a> {
    pub(crate) package: &'a str,
    pub(crate) version: &'a str,
    pub(crate) pid: &'a str,
    pub(crate) phase: Phase,
    pub(crate) outcome: &'a str,
    pub(crate) duration: Duration,
    pub(crate) queue_wait: Option<Duration>,
    pub(crate) fuel: u64,
    pub(crate) peak_memory_bytes: u64,
    pub(crate) error: Option<&'a Error>,
}

impl Telemetry {
    /// A registry with every metric of the table above, all at zero.
    pub fn new() -> Telemetry {
        let mut registry = Registry::with_prefix("pv_host");
        let calls = Family::default();
        registry.register("calls", "Calls into algorithms, by outcome: OK, NG, or the error code", calls.clone());
        let call_duration: Family<PhaseLabels, Histogram, fn() -> Histogram> = Family::new_with_constructor(durations);
        registry.register("call_duration_seconds", "Wall time of a call, queue wait excluded", call_duration.clone());
        let queue_wait: Family<PackageLabels, Histogram, fn() -> Histogram> = Family::new_with_constructor(durations);
        registry.register("queue_wait_seconds", "Time a call waited for a free instance", queue_wait.clone());
        let fuel = Family::default();
        registry.register("fuel_consumed", "Fuel (wasm instructions, roughly) consumed by calls", fuel.clone());
        let memory_peak = Family::default();
        registry.register(
            "guest_memory_peak_bytes",
            "Linear memory of the instance at the peak of the last call",
            memory_peak.clone(),
        );
        let traps = Family::default();
        registry.register("traps", "Calls stopped by the sandbox, by kind: trap, memory (1004) or time (1005)", traps.clone());
        let instances = Family::default();
        registry.register("instances", "Set-up instances, by state: idle or busy", instances.clone());
        let cache = Family::default();
        registry.register("compile_cache_lookups", "Compile cache lookups when loading a package: hit or miss", cache.clone());
        let loads = Family::default();
        registry.register("package_loads", "Packages compiled and linked, by outcome: ok or error", loads.clone());
        let load_duration = durations();
        registry.register(
            "package_load_duration_seconds",
            "Time to compile (or fetch from the cache) and link a package",
            load_duration.clone(),
        );
        let switches = Counter::default();
        registry.register("station_switches", "Product ids a station switched to another version", switches.clone());
        let active = Family::default();
        registry.register("active_version_info", "The version active per product id on a station (always 1)", active.clone());
        Telemetry {
            families: Arc::new(Families {
                registry,
                calls,
                call_duration,
                queue_wait,
                fuel,
                memory_peak,
                traps,
                instances,
                cache,
                loads,
                load_duration,
                switches,
                active,
                active_now: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The registry, for an embedder's own endpoint.
    pub fn registry(&self) -> &Registry {
        &self.families.registry
    }

    /// The metrics in the OpenMetrics text format (`Content-Type:
    /// application/openmetrics-text; version=1.0.0; charset=utf-8`), which
    /// Prometheus scrapes.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.families.registry);
        text
    }

    /// The metrics in the Prometheus text format 0.0.4 (`Content-Type:
    /// text/plain; version=0.0.4`), for clients that do not speak OpenMetrics
    /// (`promtool check metrics`, older scrapers): the same samples, with a
    /// counter's `# HELP` and `# TYPE` under its sample name (`..._total`) and
    /// no `# EOF`.
    pub fn encode_text(&self) -> String {
        to_text_format(&self.encode())
    }

    pub(crate) fn record_call(&self, call: &CallRecord<'_>) {
        let f = &self.families;
        let phase = call.phase.to_string();
        f.calls
            .get_or_create(&CallLabels {
                package: call.package.to_owned(),
                version: call.version.to_owned(),
                pid: call.pid.to_owned(),
                phase: phase.clone(),
                outcome: call.outcome.to_owned(),
            })
            .inc();
        let by_phase = PhaseLabels { package: call.package.to_owned(), phase };
        f.call_duration.get_or_create(&by_phase).observe(call.duration.as_secs_f64());
        f.fuel.get_or_create(&by_phase).inc_by(call.fuel);
        let package = PackageLabels { package: call.package.to_owned() };
        if let Some(wait) = call.queue_wait {
            f.queue_wait.get_or_create(&package).observe(wait.as_secs_f64());
        }
        if call.peak_memory_bytes > 0 {
            f.memory_peak.get_or_create(&package).set(i64::try_from(call.peak_memory_bytes).unwrap_or(i64::MAX));
        }
        if let Some(err) = call.error
            && matches!(err.kind(), ErrorKind::Trap | ErrorKind::Limit)
        {
            let kind = match (err.kind(), err.code().number()) {
                (ErrorKind::Limit, 1004) => "memory",
                (ErrorKind::Limit, _) => "time",
                _ => "trap",
            };
            f.traps.get_or_create(&KindLabels { package: call.package.to_owned(), kind: kind.to_owned() }).inc();
        }
    }

    pub(crate) fn set_instances(&self, package: &str, idle: usize, busy: usize) {
        for (state, count) in [("idle", idle), ("busy", busy)] {
            let labels = StateLabels { package: package.to_owned(), state: state.to_owned() };
            self.families.instances.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    pub(crate) fn record_load(&self, duration: Duration, ok: bool, cache: Option<bool>) {
        let f = &self.families;
        f.loads.get_or_create(&OutcomeLabels { outcome: if ok { "ok" } else { "error" }.to_owned() }).inc();
        f.load_duration.observe(duration.as_secs_f64());
        if let Some(hit) = cache {
            f.cache.get_or_create(&ResultLabels { result: if hit { "hit" } else { "miss" }.to_owned() }).inc();
        }
    }

    /// A station's mapping is now `active` (product id, package, version);
    /// `switched` product ids changed version.
    pub(crate) fn record_station(&self, active: &[(String, String, String)], switched: u64) {
        let f = &self.families;
        f.switches.inc_by(switched);
        let mut now = lock(&f.active_now);
        for old in now.drain(..) {
            f.active.remove(&old);
        }
        for (pid, package, version) in active {
            let labels = ActiveLabels { pid: pid.clone(), package: package.clone(), version: version.clone() };
            f.active.get_or_create(&labels).set(1);
            now.push(labels);
        }
    }
}

/// OpenMetrics text to the Prometheus text format 0.0.4: in OpenMetrics a
/// counter family `x` has samples `x_total`; in 0.0.4 the family is named as
/// its samples. Each family's `# HELP` comes before its `# TYPE`, so a help
/// line waits for the type line that says whether to rename it.
fn to_text_format(open_metrics: &str) -> String {
    let mut text = String::with_capacity(open_metrics.len());
    let mut help: Option<&str> = None;
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            if let Some(pending) = help.replace(line) {
                text.push_str(pending);
                text.push('\n');
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let renamed = if kind == "counter" && !name.ends_with("_total") { format!("{name}_total") } else { name.to_owned() };
            if let Some(pending) = help.take() {
                let description = pending.strip_prefix("# HELP ").and_then(|h| h.split_once(' ')).map_or("", |(_, d)| d);
                text.push_str(&format!("# HELP {renamed} {description}\n"));
            }
            text.push_str(&format!("# TYPE {renamed} {kind}\n"));
            continue;
        }
        if let Some(pending) = help.take() {
            text.push_str(pending);
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The `outcome` label of a call's result: `OK`, `NG` or the error's code.
pub(crate) fn outcome_of<T>(result: &crate::Result<T>, verdict: impl Fn(&T) -> Option<bool>) -> String {
    match result {
        Ok(value) => match verdict(value) {
            Some(true) => "OK".to_owned(),
            Some(false) => "NG".to_owned(),
            None => "OK".to_owned(),
        },
        Err(err) => err.code().number().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_renamed_to_their_samples_in_the_text_format() {
        let open = "# HELP pv_host_calls Calls.\n# TYPE pv_host_calls counter\npv_host_calls_total{a=\"b\"} 3\n# HELP pv_host_x X.\n# TYPE pv_host_x gauge\npv_host_x 1\n# EOF\n";
        assert_eq!(
            to_text_format(open),
            "# HELP pv_host_calls_total Calls.\n# TYPE pv_host_calls_total counter\npv_host_calls_total{a=\"b\"} 3\n# HELP pv_host_x X.\n# TYPE pv_host_x gauge\npv_host_x 1\n"
        );
    }

    #[test]
    fn a_call_is_counted_with_labels_from_closed_sets() {
        let telemetry = Telemetry::new();
        let err = Error::Limit { code: crate::error::LimitCode::Timeout, message: "fuel".into() };
        let call = |outcome: &'static str, error: Option<&'static Error>| CallRecord {
            package: "part-counter",
            version: "1.0.0",
            pid: "A01",
            phase: Phase::Execute,
            outcome,
            duration: Duration::from_millis(3),
            queue_wait: Some(Duration::from_micros(50)),
            fuel: 1000,
            peak_memory_bytes: 1 << 20,
            error,
        };
        telemetry.record_call(&call("OK", None));
        let leaked: &'static Error = Box::leak(Box::new(err));
        telemetry.record_call(&call("1005", Some(leaked)));
        let text = telemetry.encode();
        assert!(
            text.contains(
                r#"pv_host_calls_total{package="part-counter",version="1.0.0",pid="A01",phase="execute",outcome="OK"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"pv_host_traps_total{package="part-counter",kind="time"} 1"#), "{text}");
        assert!(text.contains(r#"pv_host_fuel_consumed_total{package="part-counter",phase="execute"} 2000"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    }
}
