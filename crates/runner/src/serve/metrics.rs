//! `/metrics`: counters in Prometheus' text format (version 0.0.4), written by
//! hand; a dozen series do not need a metrics library.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::delivery::{Outcome, Stats};

use super::queue::QueueStats;

/// Upper bounds (seconds) of the delivery latency histogram's buckets.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];
/// Upper bounds (seconds) of the queue sync histogram's buckets.
const SYNC_BUCKETS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// How long the queue's writes and syncs take, for `/metrics`. One thread records
/// and any reads, without a lock. A request waits for at most two syncs, so a
/// slow disk shows here first when answers are slow.
#[derive(Debug, Default)]
pub struct SyncTimes {
    buckets: [AtomicU64; SYNC_BUCKETS.len() + 1],
    micros: AtomicU64,
}

impl SyncTimes {
    /// One group written and synced in `took`.
    pub fn record(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = SYNC_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(SYNC_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// The server's own counters; delivery's are in [`Stats`], the queue's in [`QueueStats`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events accepted (durable) per type.
    received: Mutex<BTreeMap<String, u64>>,
    /// Events refused inside accepted requests, and whole requests refused, by reason.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// HTTP answers by status.
    http: Mutex<BTreeMap<u16, u64>>,
    /// Events each subscription matched.
    matched: Mutex<BTreeMap<String, u64>>,
    /// Ended requests by action and final status.
    requests: Mutex<BTreeMap<(String, String), u64>>,
    /// Delivery latency: planned to ended, per bucket (and the sum, in microseconds).
    latency: Mutex<([u64; BUCKETS.len() + 1], u64)>,
    /// Config reloads that took effect.
    pub reloads: AtomicU64,
    /// Config reloads refused (the old config kept running).
    pub reload_failures: AtomicU64,
    /// Events that could not be planned (bad event, mapping failure).
    pub invalid: AtomicU64,
    /// Events not delivered because their `messageId` was seen within the window.
    pub duplicates: AtomicU64,
    /// Client connections open now.
    pub connections: AtomicU64,
    /// The cap on open client connections.
    pub max_connections: AtomicU64,
    /// Times the cap was reached: a new connection had to wait in the listen backlog.
    pub connections_at_limit: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    *map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert(0) += n;
}

impl Metrics {
    /// An event of this type was accepted.
    pub fn received(&self, kind: &str, n: u64) {
        let mut map = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(kind) {
            Some(v) => *v += n,
            None => {
                map.insert(kind.to_owned(), n);
            }
        }
    }

    /// Events or a request were refused.
    pub fn rejected(&self, reason: &'static str, n: u64) {
        bump(&self.rejected, reason, n);
    }

    /// An HTTP answer went out.
    pub fn answered(&self, status: u16) {
        bump(&self.http, status, 1);
    }

    /// A subscription matched an event.
    pub fn matched(&self, subscription: &str) {
        let mut map = self.matched.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(subscription) {
            Some(v) => *v += 1,
            None => {
                map.insert(subscription.to_owned(), 1);
            }
        }
    }

    /// A request ended, `took` after it was planned.
    pub fn ended(&self, action: &str, outcome: &Outcome, took: Duration) {
        let status = match outcome {
            Outcome::Delivered { status, .. } => status.to_string(),
            Outcome::DeadLettered { status: Some(s), .. } => format!("dead_letter_{s}"),
            Outcome::DeadLettered { reason, .. } => format!("dead_letter_{}", reason.label().replace(' ', "_")),
        };
        bump(&self.requests, (action.to_owned(), status), 1);
        let secs = took.as_secs_f64();
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        let mut h = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        h.0[i] += 1;
        h.1 += u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    }

    /// The text `/metrics` answers.
    pub fn render(&self, delivery: &Stats, queue: &QueueStats) -> String {
        let mut out = String::with_capacity(4096);
        let lock = |m: &Mutex<BTreeMap<String, u64>>| m.lock().unwrap_or_else(PoisonError::into_inner).clone();
        head(
            &mut out,
            "encharge_events_received_total",
            "counter",
            "Events accepted and queued, by type.",
        );
        for (kind, n) in lock(&self.received) {
            let _ = writeln!(out, "encharge_events_received_total{{type=\"{}\"}} {n}", escape(&kind));
        }
        head(
            &mut out,
            "encharge_events_rejected_total",
            "counter",
            "Events or requests refused, by reason.",
        );
        for (reason, n) in self.rejected.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "encharge_events_rejected_total{{reason=\"{reason}\"}} {n}");
        }
        head(
            &mut out,
            "encharge_http_responses_total",
            "counter",
            "Ingest answers, by HTTP status.",
        );
        for (status, n) in self.http.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "encharge_http_responses_total{{status=\"{status}\"}} {n}");
        }
        head(
            &mut out,
            "encharge_events_matched_total",
            "counter",
            "Events each subscription matched.",
        );
        for (sub, n) in lock(&self.matched) {
            let _ = writeln!(
                out,
                "encharge_events_matched_total{{subscription=\"{}\"}} {n}",
                escape(&sub)
            );
        }
        head(
            &mut out,
            "encharge_events_invalid_total",
            "counter",
            "Events or matches that could not be planned.",
        );
        let _ = writeln!(
            out,
            "encharge_events_invalid_total {}",
            self.invalid.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "encharge_requests_total",
            "counter",
            "Requests to Encharge that ended, by action and final status.",
        );
        for ((action, status), n) in self.requests.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(
                out,
                "encharge_requests_total{{action=\"{}\",status=\"{status}\"}} {n}",
                escape(action)
            );
        }
        let counters = [
            (
                "encharge_request_attempts_total",
                "HTTP attempts to Encharge, retries included.",
                Stats::get(&delivery.attempts),
            ),
            (
                "encharge_retries_total",
                "Retries scheduled.",
                Stats::get(&delivery.retries),
            ),
            (
                "encharge_dead_letters_total",
                "Requests written to the dead-letter file.",
                Stats::get(&delivery.dead_lettered),
            ),
            (
                "encharge_queue_appended_total",
                "Events synced to the queue.",
                queue.appended.load(Ordering::Relaxed),
            ),
            (
                "encharge_queue_syncs_total",
                "Queue syncs (group commits).",
                queue.syncs.load(Ordering::Relaxed),
            ),
            (
                "encharge_queue_full_refusals_total",
                "Events refused (503) because the queue held its maximum size.",
                queue.refused_full.load(Ordering::Relaxed),
            ),
            (
                "encharge_duplicates_total",
                "Events not delivered: their messageId was seen within the duplicate window.",
                self.duplicates.load(Ordering::Relaxed),
            ),
            (
                "encharge_config_reloads_total",
                "Config reloads that took effect.",
                self.reloads.load(Ordering::Relaxed),
            ),
            (
                "encharge_config_reload_failures_total",
                "Config reloads refused; the old config kept running.",
                self.reload_failures.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            head(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        let depth = queue
            .appended
            .load(Ordering::Relaxed)
            .saturating_add(queue.recovered.load(Ordering::Relaxed))
            .saturating_sub(queue.acked.load(Ordering::Relaxed));
        head(
            &mut out,
            "encharge_queue_depth",
            "gauge",
            "Events accepted and not yet delivered or dead-lettered.",
        );
        let _ = writeln!(out, "encharge_queue_depth {depth}");
        head(
            &mut out,
            "encharge_queue_bytes",
            "gauge",
            "Bytes of the queue's files on disk.",
        );
        let _ = writeln!(out, "encharge_queue_bytes {}", queue.bytes.load(Ordering::Relaxed));
        let (buckets, sum) = *self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        histogram(
            &mut out,
            "encharge_delivery_latency_seconds",
            "From planning to the request's end (delivered or dead-lettered).",
            &BUCKETS,
            buckets.iter().copied(),
            sum,
        );
        let connections = [
            (
                "encharge_connections_open",
                "gauge",
                "Client connections open.",
                &self.connections,
            ),
            (
                "encharge_connections_max",
                "gauge",
                "The cap on open client connections (--max-connections).",
                &self.max_connections,
            ),
            (
                "encharge_connections_at_limit_total",
                "counter",
                "Times every connection was in use and a new one waited in the listen backlog.",
                &self.connections_at_limit,
            ),
        ];
        for (name, kind, help, value) in connections {
            head(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        histogram(
            &mut out,
            "encharge_queue_sync_seconds",
            "Writing and syncing one group of requests to the queue (a request waits for one or two).",
            &SYNC_BUCKETS,
            queue.sync_times.buckets.iter().map(|b| b.load(Ordering::Relaxed)),
            queue.sync_times.micros.load(Ordering::Relaxed),
        );
        out
    }
}

/// A histogram: `counts` per bucket of `bounds` and one more above them, `micros` their sum.
fn histogram(out: &mut String, name: &str, help: &str, bounds: &[f64], counts: impl Iterator<Item = u64>, micros: u64) {
    head(out, name, "histogram", help);
    let mut cumulative = 0;
    let bounds = bounds.iter().map(ToString::to_string).chain(["+Inf".to_owned()]);
    for (bound, count) in bounds.zip(counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum {}", micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {cumulative}");
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_times_are_a_cumulative_histogram() {
        let queue = QueueStats::default();
        for ms in [1, 3, 3, 40, 700, 5000] {
            queue.sync_times.record(Duration::from_millis(ms));
        }
        let text = Metrics::default().render(&Stats::default(), &queue);
        let line = |le: &str| {
            let prefix = format!("encharge_queue_sync_seconds_bucket{{le=\"{le}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_owned)
        };
        assert_eq!(line("0.001").as_deref(), Some("1"));
        assert_eq!(line("0.005").as_deref(), Some("3"));
        assert_eq!(line("0.05").as_deref(), Some("4"));
        assert_eq!(line("1").as_deref(), Some("5"));
        assert_eq!(line("+Inf").as_deref(), Some("6"));
        assert!(text.contains("encharge_queue_sync_seconds_count 6"), "{text}");
        assert!(text.contains("encharge_queue_sync_seconds_sum 5.747"), "{text}");
    }
}
