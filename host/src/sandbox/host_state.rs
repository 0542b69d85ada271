//! The data of one guest store: WASI context, the current call's staged session,
//! logs and diagnostics, and the package's assets; and the host side of the
//! `session`, `log`, `diagnostics` and `assets` imports.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::guest_log::{LogRecord, LogSink, LogSource};
use super::limits::Limits;
use super::store_guard::StoreGuard;
use crate::bindings::procvision::algorithm::{assets, diagnostics, log, session, types};
use crate::session::{Session, SetRefused, json_heap_bytes, json_text_bytes};

/// Assets a package ships, by name.
pub(crate) type Assets = Arc<BTreeMap<String, Arc<[u8]>>>;

/// Largest asset one `assets.read` call hands to the guest.
pub(crate) const MAX_ASSET_READ_BYTES: usize = 256 * 1024 * 1024;

pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) logs: LogSink,
    /// The staged copy of the caller's session during a call.
    pub(crate) session: Session,
    pub(crate) diagnostics: Diagnostics,
    /// Cap on the session store; a guest `set` past it fails.
    session_bytes: usize,
    /// The guest's memory cap: an asset larger than it cannot reach the guest,
    /// so `assets.read` refuses it before copying it.
    memory_bytes: u64,
    assets: Assets,
    /// The memory and table caps, and what they saw during the current call.
    pub(crate) guard: StoreGuard,
}

impl HostState {
    pub(crate) fn new(assets: Assets, limits: &Limits) -> Self {
        let logs = LogSink::new(limits.log_bytes_per_call(), limits.log_records_per_call());
        let mut wasi = WasiCtx::builder();
        // No arguments, no environment, no preopened directories, empty stdin: the
        // builder's defaults. Network access is refused explicitly, so a change of
        // defaults upstream cannot open it.
        wasi.stdout(GuestStdio { sink: logs.clone(), source: LogSource::Stdout })
            .stderr(GuestStdio { sink: logs.clone(), source: LogSource::Stderr })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            logs,
            session: Session::default(),
            diagnostics: Diagnostics::new(limits.diagnostics_bytes_per_call(), limits.diagnostics_entries_per_call()),
            session_bytes: limits.session_bytes(),
            memory_bytes: limits.memory_bytes(),
            assets,
            guard: StoreGuard::new(limits),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl session::Host for HostState {
    fn id(&mut self) -> String {
        self.session.id().to_owned()
    }

    fn context(&mut self) -> String {
        self.session.context().to_string()
    }

    fn get(&mut self, key: String) -> Option<String> {
        self.session.get(&key).map(Value::to_string)
    }

    fn set(&mut self, key: String, value: String) -> Result<(), String> {
        let cap = self.session_bytes;
        let shown_key: String = key.chars().take(64).collect();
        self.session.set_json_within(key, &value, cap).map_err(|refused| match refused {
            SetRefused::Full { wanted } => {
                format!("session full: this value would bring the store to at least {wanted} bytes, over its cap of {cap} bytes")
            }
            SetRefused::NotJson(err) => format!("value of `{shown_key}` is not JSON: {err}"),
        })
    }

    fn delete(&mut self, key: String) -> bool {
        self.session.remove(&key)
    }

    fn exists(&mut self, key: String) -> bool {
        self.session.get(&key).is_some()
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<log::Field>) {
        let fields = fields.into_iter().map(|f| (f.key, f.value)).collect();
        self.logs.record(LogRecord { level, message, fields, source: LogSource::Log });
    }
}

impl diagnostics::Host for HostState {
    fn publish(&mut self, key: String, value: String) {
        self.diagnostics.publish(key, value);
    }
}

/// Diagnostics key under which the host reports entries it dropped over the
/// per-call quota ([`Limits::with_diagnostics_bytes_per_call`]).
pub const DIAGNOSTICS_DROPPED_KEY: &str = "pv-host.dropped";

/// What a diagnostics entry costs against the byte quota besides its key and
/// value: about the host's map node for it.
pub const DIAGNOSTICS_ENTRY_OVERHEAD: usize = 64;

/// What the guest published in the current call, within a byte quota and an
/// entry quota: the host keeps diagnostics in its own memory, so a guest must not
/// be able to grow them without bound.
pub(crate) struct Diagnostics {
    entries: BTreeMap<String, Value>,
    /// Bytes counted against the quota so far in this call (every accepted
    /// publish counts, replaced or not: the quota bounds the host's work too).
    bytes: usize,
    quota: usize,
    /// Publishes accepted so far in this call.
    accepted: usize,
    max_entries: usize,
    dropped: usize,
}

impl Diagnostics {
    fn new(quota: usize, max_entries: usize) -> Self {
        Diagnostics { entries: BTreeMap::new(), bytes: 0, quota, accepted: 0, max_entries, dropped: 0 }
    }

    /// Keep `value` (JSON text; text that is not JSON is kept as a string:
    /// diagnostics are for people) under `key` if the quotas allow. The size is
    /// checked on the text before it is parsed, then on what the parsed value
    /// takes in memory.
    fn publish(&mut self, key: String, text: String) {
        let left = self.quota.saturating_sub(self.bytes);
        let at_least = DIAGNOSTICS_ENTRY_OVERHEAD.saturating_add(key.len()).saturating_add(text.len());
        if self.accepted >= self.max_entries || at_least > left {
            self.dropped += 1;
            return;
        }
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let size = DIAGNOSTICS_ENTRY_OVERHEAD + key.len() + json_text_bytes(&value).max(json_heap_bytes(&value));
        if size > left {
            self.dropped += 1;
            return;
        }
        self.bytes += size;
        self.accepted += 1;
        self.entries.insert(key, value);
    }

    /// The call's diagnostics, with a marker entry when some were dropped; the
    /// quota starts again for the next call.
    pub(crate) fn take(&mut self) -> BTreeMap<String, Value> {
        let mut entries = std::mem::take(&mut self.entries);
        if self.dropped > 0 {
            entries.insert(
                DIAGNOSTICS_DROPPED_KEY.to_owned(),
                Value::String(format!(
                    "{} entries dropped over the diagnostics quota of this call ({} bytes, {} entries)",
                    self.dropped, self.quota, self.max_entries
                )),
            );
        }
        self.bytes = 0;
        self.accepted = 0;
        self.dropped = 0;
        entries
    }
}

impl assets::Host for HostState {
    fn names(&mut self) -> Vec<String> {
        self.assets.keys().cloned().collect()
    }

    fn read(&mut self, name: String) -> Result<Vec<u8>, assets::AssetError> {
        let asset = self.assets.get(&name).ok_or(assets::AssetError::NotFound)?;
        // The copy handed to the guest is transient, but it need not be made at
        // all for an asset the guest's memory could not hold.
        if asset.len() > MAX_ASSET_READ_BYTES || asset.len() as u64 > self.memory_bytes {
            return Err(assets::AssetError::TooLarge);
        }
        Ok(asset.to_vec())
    }
}

/// The guest's stdout or stderr: every byte goes to the call's log sink, which
/// splits lines and enforces the quota. Writes never fail and never block, so a
/// guest that prints a lot loses log lines, not its result.
struct GuestStdio {
    sink: LogSink,
    source: LogSource,
}

impl IsTerminal for GuestStdio {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStdio {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(GuestStdioStream { sink: self.sink.clone(), source: self.source })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestStdioStream { sink: self.sink.clone(), source: self.source })
    }
}

struct GuestStdioStream {
    sink: LogSink,
    source: LogSource,
}

/// How much the guest may write in one `write` call; the sink bounds the total.
const STDIO_WRITE_BUDGET: usize = 64 * 1024;

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStdioStream {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStdioStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write_stdio(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(STDIO_WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for GuestStdioStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.sink.write_stdio(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
