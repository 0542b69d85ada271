//! What the guest logs: records from the `log` import and lines it prints on
//! stdout/stderr, collected per call under a byte quota and a record quota.
//!
//! The byte quota bounds what the host keeps, not only what the guest wrote:
//! every record is charged [`LOG_RECORD_OVERHEAD`] bytes on top of its message
//! and every field [`LOG_FIELD_OVERHEAD`] on top of its key and value, so empty
//! records and empty fields cost the host as much as they take in its memory.
//! With the default quotas the records of one call hold at most about 64 KiB of
//! text and headers plus the record vector's growth slack (under 64 KiB more).

use std::sync::{Arc, Mutex};

use crate::types::LogLevel;

/// Default cap on the log bytes one call may produce (messages, field keys and
/// values, printed lines, plus the overheads below); what comes after is dropped
/// and one marker record says so.
pub const DEFAULT_LOG_BYTES_PER_CALL: usize = 64 * 1024;

/// Default cap on the log records one call may produce (`log` calls and printed
/// lines together); later records are dropped and counted in the marker.
pub const DEFAULT_LOG_RECORDS_PER_CALL: usize = 1024;

/// What a record costs against the byte quota besides its text: about what the
/// host's record header takes in memory, so an empty record is not free.
pub const LOG_RECORD_OVERHEAD: usize = 64;

/// What a field costs against the byte quota besides its key and value: the
/// host's two string headers.
pub const LOG_FIELD_OVERHEAD: usize = 48;

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
    /// Bytes charged so far in this call (text plus overheads).
    bytes: usize,
    cap: usize,
    max_records: usize,
    /// Guest bytes (text) dropped in this call.
    dropped_bytes: usize,
    /// Records dropped in this call (printed output dropped unscanned once the
    /// log is full is counted in bytes only).
    dropped_records: usize,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl LogSink {
    /// A sink keeping at most `cap` charged bytes and `max_records` records per call.
    pub(crate) fn new(cap: usize, max_records: usize) -> Self {
        LogSink(Arc::new(Mutex::new(LogBuffer {
            records: Vec::new(),
            bytes: 0,
            cap,
            max_records,
            dropped_bytes: 0,
            dropped_records: 0,
            partial_stdout: Vec::new(),
            partial_stderr: Vec::new(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut LogBuffer) -> T) -> T {
        // A panic while holding this lock cannot leave the buffer inconsistent in a
        // way that matters for logs, so a poisoned lock is simply taken over.
        let mut buffer = crate::locks::lock(&self.0);
        f(&mut buffer)
    }

    pub(crate) fn record(&self, record: LogRecord) {
        self.with(|b| b.push(record));
    }

    /// Bytes the guest wrote to stdout or stderr: split into lines, each a record.
    pub(crate) fn write_stdio(&self, source: LogSource, bytes: &[u8]) {
        self.with(|b| {
            // Bound the unterminated line by what is left of the quota, or a guest
            // printing without newlines would grow it without limit; once no record
            // can fit any more (bytes or count), bytes are only counted (a guest
            // printing gigabytes, or millions of empty lines, costs the host a
            // counter, not a scan and not a record each).
            let partial_len = match source {
                LogSource::Stderr => b.partial_stderr.len(),
                _ => b.partial_stdout.len(),
            };
            // A line left unterminated will cost its record's overhead too.
            let room = if b.is_full() { 0 } else { (b.cap - b.bytes - LOG_RECORD_OVERHEAD).saturating_sub(partial_len) };
            if bytes.len() > room {
                b.dropped_bytes += bytes.len() - room;
            }
            if room == 0 {
                return;
            }
            // One linear pass: each complete line becomes a record, the tail waits
            // for its newline.
            let mut rest = &bytes[..bytes.len().min(room)];
            while let Some(pos) = rest.iter().position(|&c| c == b'\n') {
                let partial = match source {
                    LogSource::Stderr => &mut b.partial_stderr,
                    _ => &mut b.partial_stdout,
                };
                let line = if partial.is_empty() {
                    String::from_utf8_lossy(&rest[..pos]).into_owned()
                } else {
                    partial.extend_from_slice(&rest[..pos]);
                    let line = String::from_utf8_lossy(partial).into_owned();
                    partial.clear();
                    line
                };
                b.push(stdio_record(source, line));
                rest = &rest[pos + 1..];
            }
            match source {
                LogSource::Stderr => b.partial_stderr.extend_from_slice(rest),
                _ => b.partial_stdout.extend_from_slice(rest),
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
            if b.dropped_bytes > 0 || b.dropped_records > 0 {
                records.push(LogRecord {
                    level: LogLevel::Warn,
                    message: format!(
                        "[log truncated: {} records and {} bytes dropped over the quota of this call \
                         ({} bytes, {} records)]",
                        b.dropped_records, b.dropped_bytes, b.cap, b.max_records
                    ),
                    fields: Vec::new(),
                    source: LogSource::Host,
                });
            }
            b.bytes = 0;
            b.dropped_bytes = 0;
            b.dropped_records = 0;
            records
        })
    }
}

fn stdio_record(source: LogSource, message: String) -> LogRecord {
    let level = if source == LogSource::Stderr { LogLevel::Warn } else { LogLevel::Info };
    LogRecord { level, message, fields: Vec::new(), source }
}

/// What `record` costs against the byte quota: its text plus the overheads.
pub(crate) fn charged_bytes(record: &LogRecord) -> usize {
    let fields = record.fields.iter().fold(0usize, |sum, (k, v)| sum.saturating_add(LOG_FIELD_OVERHEAD + k.len() + v.len()));
    LOG_RECORD_OVERHEAD.saturating_add(record.message.len()).saturating_add(fields)
}

impl LogBuffer {
    /// No record can be kept any more: the count is reached, or not even an
    /// empty record fits in the bytes left.
    fn is_full(&self) -> bool {
        self.records.len() >= self.max_records || self.cap.saturating_sub(self.bytes) < LOG_RECORD_OVERHEAD
    }

    fn push(&mut self, record: LogRecord) {
        let size = charged_bytes(&record);
        if self.records.len() >= self.max_records || self.bytes.saturating_add(size) > self.cap {
            self.dropped_records += 1;
            let text = record.fields.iter().fold(record.message.len(), |sum, (k, v)| sum + k.len() + v.len());
            self.dropped_bytes = self.dropped_bytes.saturating_add(text);
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
        let sink = LogSink::new(1024, 16);
        sink.write_stdio(LogSource::Stdout, b"one\ntw");
        sink.write_stdio(LogSource::Stdout, b"o\nthree");
        let messages: Vec<_> = sink.take().into_iter().map(|r| r.message).collect();
        assert_eq!(messages, ["one", "two", "three"]);
        assert!(sink.take().is_empty());
    }

    #[test]
    fn quota_drops_excess_and_leaves_a_marker() {
        let sink = LogSink::new(2 * LOG_RECORD_OVERHEAD + 10, 16);
        sink.record(record("12345"));
        sink.record(record("123456"));
        sink.record(record("1234"));
        let records = sink.take();
        let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages[..2], ["12345", "1234"]);
        assert_eq!(records[2].source, LogSource::Host);
        assert!(records[2].message.contains("1 records and 6 bytes dropped"), "{}", records[2].message);
    }

    #[test]
    fn endless_line_without_newline_is_bounded() {
        let cap = LOG_RECORD_OVERHEAD + 16;
        let sink = LogSink::new(cap, 16);
        for _ in 0..100 {
            sink.write_stdio(LogSource::Stderr, b"xxxxxxxx");
        }
        let records = sink.take();
        assert_eq!(records[0].message.len(), cap - LOG_RECORD_OVERHEAD, "the line is kept up to the quota");
        assert_eq!(records.last().map(|r| r.source), Some(LogSource::Host));
    }

    #[test]
    fn empty_records_and_fields_are_charged() {
        let cap = 4096;
        let sink = LogSink::new(cap, 1_000_000);
        for _ in 0..100_000 {
            sink.record(record(""));
        }
        let fields = vec![(String::new(), String::new()); 1000];
        sink.record(LogRecord { fields, ..record("") });
        let records = sink.take();
        let kept = &records[..records.len() - 1];
        assert_eq!(kept.len(), cap / LOG_RECORD_OVERHEAD, "empty records fill the quota by their overhead");
        assert!(kept.iter().all(|r| r.fields.is_empty()), "1000 empty fields do not fit 4 KiB");
        assert_eq!(records.last().map(|r| r.source), Some(LogSource::Host));
        assert!(kept.iter().map(charged_bytes).sum::<usize>() <= cap);
    }

    #[test]
    fn the_record_count_is_capped_too() {
        let sink = LogSink::new(1 << 20, 10);
        for _ in 0..50 {
            sink.record(record("x"));
        }
        // Empty lines, many per write: once the log is full they are counted, not kept.
        for _ in 0..100 {
            sink.write_stdio(LogSource::Stdout, &[b'\n'; 4096]);
        }
        let records = sink.take();
        assert_eq!(records.len(), 11, "ten records and the marker");
        assert!(records[10].message.contains("40 records"), "{}", records[10].message);
    }

    #[test]
    fn many_empty_lines_cost_a_bounded_record_count() {
        let sink = LogSink::new(DEFAULT_LOG_BYTES_PER_CALL, DEFAULT_LOG_RECORDS_PER_CALL);
        for _ in 0..1000 {
            sink.write_stdio(LogSource::Stdout, &[b'\n'; 65_536]);
        }
        let records = sink.take();
        assert!(records.len() <= DEFAULT_LOG_RECORDS_PER_CALL + 1, "{} records", records.len());
        assert_eq!(records.last().map(|r| r.source), Some(LogSource::Host));
    }
}
