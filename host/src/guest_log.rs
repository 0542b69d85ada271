//! What the guest logs: records from the `log` import and lines it prints on
//! stdout/stderr, collected per call under a byte quota.

use std::sync::{Arc, Mutex, PoisonError};

use crate::types::LogLevel;

/// Default cap on the log bytes one call may produce (messages, field keys and
/// values, printed lines); what comes after is dropped and one marker record says so.
pub const DEFAULT_LOG_BYTES_PER_CALL: usize = 64 * 1024;

/// Where a guest log record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The `log` import.
    Log,
    /// A line the guest printed on stdout.
    Stdout,
    /// A line the guest printed on stderr.
    Stderr,
    /// The host, about the guest's logging (the truncation marker).
    Host,
}

/// One record of guest logging.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Severity (stdout lines are `info`, stderr lines `warn`).
    pub level: LogLevel,
    /// The message or printed line.
    pub message: String,
    /// Key-value fields.
    pub fields: Vec<(String, String)>,
    /// Where it came from.
    pub source: LogSource,
}

/// The records of one call, shared between the `log` import and the guest's stdio
/// streams (which WASI owns, hence the mutex).
#[derive(Debug, Clone)]
pub(crate) struct LogSink(Arc<Mutex<LogBuffer>>);

#[derive(Debug)]
struct LogBuffer {
    records: Vec<LogRecord>,
    bytes: usize,
    cap: usize,
    dropped_bytes: usize,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl LogSink {
    pub(crate) fn new(cap: usize) -> Self {
        LogSink(Arc::new(Mutex::new(LogBuffer {
            records: Vec::new(),
            bytes: 0,
            cap,
            dropped_bytes: 0,
            partial_stdout: Vec::new(),
            partial_stderr: Vec::new(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut LogBuffer) -> T) -> T {
        // A panic while holding this lock cannot leave the buffer inconsistent in a
        // way that matters for logs, so a poisoned lock is simply taken over.
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut buffer)
    }

    pub(crate) fn record(&self, record: LogRecord) {
        self.with(|b| b.push(record));
    }

    /// Bytes the guest wrote to stdout or stderr: split into lines, each a record.
    pub(crate) fn write_stdio(&self, source: LogSource, bytes: &[u8]) {
        self.with(|b| {
            let partial = match source {
                LogSource::Stderr => &mut b.partial_stderr,
                _ => &mut b.partial_stdout,
            };
            // Bound the unterminated line by what is left of the quota, or a guest
            // printing without newlines would grow it without limit; once the quota
            // is spent, bytes are only counted (a guest printing gigabytes costs the
            // host a counter, not a scan).
            let room = b.cap.saturating_sub(b.bytes).saturating_sub(partial.len());
            if bytes.len() > room {
                b.dropped_bytes += bytes.len() - room;
            }
            if room == 0 {
                return;
            }
            partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
            let mut lines = Vec::new();
            while let Some(pos) = partial.iter().position(|&c| c == b'\n') {
                let line: Vec<u8> = partial.drain(..=pos).collect();
                lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            for line in lines {
                b.push(stdio_record(source, line));
            }
        });
    }

    /// Take the call's records, flushing unterminated lines and adding the
    /// truncation marker when bytes were dropped; the sink is empty afterwards.
    pub(crate) fn take(&self) -> Vec<LogRecord> {
        self.with(|b| {
            for source in [LogSource::Stdout, LogSource::Stderr] {
                let partial = match source {
                    LogSource::Stderr => std::mem::take(&mut b.partial_stderr),
                    _ => std::mem::take(&mut b.partial_stdout),
                };
                if !partial.is_empty() {
                    b.push(stdio_record(source, String::from_utf8_lossy(&partial).into_owned()));
                }
            }
            let mut records = std::mem::take(&mut b.records);
            if b.dropped_bytes > 0 {
                records.push(LogRecord {
                    level: LogLevel::Warn,
                    message: format!(
                        "[log truncated: {} bytes dropped over the {}-byte quota of this call]",
                        b.dropped_bytes, b.cap
                    ),
                    fields: Vec::new(),
                    source: LogSource::Host,
                });
            }
            b.bytes = 0;
            b.dropped_bytes = 0;
            records
        })
    }
}

fn stdio_record(source: LogSource, message: String) -> LogRecord {
    let level = if source == LogSource::Stderr { LogLevel::Warn } else { LogLevel::Info };
    LogRecord { level, message, fields: Vec::new(), source }
}

impl LogBuffer {
    fn push(&mut self, record: LogRecord) {
        let size = record.message.len() + record.fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if self.bytes + size > self.cap {
            self.dropped_bytes += size;
            return;
        }
        self.bytes += size;
        emit_tracing_event(&record);
        self.records.push(record);
    }
}

/// Guest records become tracing events with target `guest`, so an embedder's
/// subscriber sees them with the host's own logs.
fn emit_tracing_event(record: &LogRecord) {
    let fields = record.fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
    let source = match record.source {
        LogSource::Log => "log",
        LogSource::Stdout => "stdout",
        LogSource::Stderr => "stderr",
        LogSource::Host => "host",
    };
    let message = &record.message;
    match record.level {
        LogLevel::Trace => tracing::trace!(target: "guest", source, fields, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "guest", source, fields, "{message}"),
        LogLevel::Info => tracing::info!(target: "guest", source, fields, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "guest", source, fields, "{message}"),
        LogLevel::Error => tracing::error!(target: "guest", source, fields, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str) -> LogRecord {
        LogRecord { level: LogLevel::Info, message: message.into(), fields: Vec::new(), source: LogSource::Log }
    }

    #[test]
    fn stdio_is_split_into_lines_and_flushed() {
        let sink = LogSink::new(1024);
        sink.write_stdio(LogSource::Stdout, b"one\ntw");
        sink.write_stdio(LogSource::Stdout, b"o\nthree");
        let messages: Vec<_> = sink.take().into_iter().map(|r| r.message).collect();
        assert_eq!(messages, ["one", "two", "three"]);
        assert!(sink.take().is_empty());
    }

    #[test]
    fn quota_drops_excess_and_leaves_a_marker() {
        let sink = LogSink::new(10);
        sink.record(record("12345"));
        sink.record(record("123456"));
        sink.record(record("1234"));
        let records = sink.take();
        let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages[..2], ["12345", "1234"]);
        assert_eq!(records[2].source, LogSource::Host);
        assert!(records[2].message.contains("6 bytes dropped"), "{}", records[2].message);
    }

    #[test]
    fn endless_line_without_newline_is_bounded() {
        let sink = LogSink::new(16);
        for _ in 0..100 {
            sink.write_stdio(LogSource::Stderr, b"xxxxxxxx");
        }
        let records = sink.take();
        assert_eq!(records[0].message.len(), 16);
        assert_eq!(records.last().map(|r| r.source), Some(LogSource::Host));
    }
}
