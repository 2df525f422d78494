//! The planner: follows the queue, plans each event with the current config and
//! hands its requests to delivery; acknowledges an event once all of them ended.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use encharge_engine::{Destination, Planned};
use serde_json::Value;
use tokio::sync::watch;

use super::dedupe::Dedupe;
use super::metrics::Metrics;
use super::queue::{Entry, EventQueue, Position};
use crate::delivery::order::order_key;
use crate::delivery::{Job, Names, Origin, Outcome, Stats, jobs_from_planned};

/// Events whose requests are still going, by their [`Origin`] (which all of an
/// event's jobs share): where the event sits, how many requests are left, and
/// since when.
#[derive(Default)]
pub(super) struct Pending(Mutex<HashMap<usize, (Position, u32, Instant)>>);

impl Pending {
    fn key(origin: &Arc<Origin>) -> usize {
        // The origin lives as long as its jobs, so its address is not reused while pending.
        Arc::as_ptr(origin) as usize
    }

    /// Events still being delivered.
    pub(super) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A job ended: counts it, and acknowledges its event when it was the event's last.
pub(super) fn ended(pending: &Pending, queue: &dyn EventQueue, metrics: &Metrics, job: &Job, outcome: &Outcome) {
    let key = Pending::key(&job.origin);
    let done = {
        let mut pending = pending.0.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(&key) {
            Some((at, left, since)) => {
                metrics.ended(&job.action, outcome, since.elapsed());
                *left = left.saturating_sub(1);
                let at = *at;
                if *left == 0 {
                    pending.remove(&key);
                    Some(at)
                } else {
                    None
                }
            }
            None => None,
        }
    };
    if let Some(at) = done {
        queue.ack(at);
    }
}

pub(super) struct Planner {
    pub(super) destination: Arc<RwLock<Arc<Destination>>>,
    pub(super) pending: Arc<Pending>,
    pub(super) queue: Arc<dyn EventQueue>,
    pub(super) dedupe: Dedupe,
    pub(super) metrics: Arc<Metrics>,
    pub(super) stats: Arc<Stats>,
}

impl Planner {
    pub(super) fn run(
        mut self,
        submitter: &crate::delivery::Submitter,
        handle: &tokio::runtime::Handle,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut names = Names::new();
        let mut version: Option<Arc<Destination>> = None;
        loop {
            let queue = Arc::clone(&self.queue);
            let read = handle.block_on(async {
                // Biased: after a stop, what is already in the queue is still planned
                // (within the shutdown grace period) before the planner ends.
                tokio::select! {
                    biased;
                    read = queue.read(1024) => Some(read),
                    _ = stop.wait_for(|s| *s) => None,
                }
            });
            let entries = match read {
                None => return,
                Some(Ok(entries)) => entries,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "Cannot read the queue; trying again in a second.");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let destination = Arc::clone(&self.destination.read().unwrap_or_else(PoisonError::into_inner));
            if !version.as_ref().is_some_and(|v| Arc::ptr_eq(v, &destination)) {
                names.clear();
                version = Some(Arc::clone(&destination));
            }
            let mut planned: Vec<Planned<'_>> = Vec::new();
            let now = Instant::now();
            for entry in entries {
                if entry.done {
                    // Delivered by an earlier run: only its messageId matters.
                    if let Some(id) = message_id(&entry.text) {
                        self.dedupe.first(&id, now);
                    }
                    continue;
                }
                if entry.recovered {
                    self.queue.stats().recovered.fetch_add(1, Ordering::Relaxed);
                }
                let jobs = self.plan(&destination, &entry, now, &mut planned, &mut names);
                let Some((origin, jobs)) = jobs else {
                    self.queue.ack(entry.at);
                    continue;
                };
                let count = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
                self.pending
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(Pending::key(&origin), (entry.at, count, now));
                for job in jobs {
                    self.stats.planned.fetch_add(1, Ordering::Relaxed);
                    if submitter.blocking_submit(job).is_err() {
                        // Delivery has stopped (the server is stopping): the event is not
                        // acknowledged, so it stays in the queue for the next start.
                        tracing::debug!("Delivery has stopped; the planner stops too.");
                        return;
                    }
                }
            }
        }
    }

    /// The requests of one event, with the origin they share; `None` when
    /// there is nothing to send (no subscription matched, the event is invalid,
    /// or it is a duplicate).
    fn plan<'d>(
        &mut self,
        destination: &'d Destination,
        entry: &Entry,
        now: Instant,
        planned: &mut Vec<Planned<'d>>,
        names: &mut Names,
    ) -> Option<(Arc<Origin>, Vec<Job>)> {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        let event: Value = match serde_json::from_slice(&entry.text) {
            Ok(v) => v,
            Err(e) => {
                self.invalid(entry, None, &format!("not JSON in the queue: {e}"));
                return None;
            }
        };
        if let Some(id) = event.get("messageId").and_then(id_text)
            && !self.dedupe.first(&id, now)
        {
            self.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        planned.clear();
        if let Err(e) = destination.plan(&event, planned) {
            self.invalid(entry, None, &e.message);
            return None;
        }
        if planned.is_empty() {
            return None;
        }
        let key = order_key(&event);
        let origin = Arc::new(Origin {
            file: Some(Arc::clone(&entry.source)),
            line: Some(entry.at.line),
            event: String::from_utf8(entry.text.clone()).ok().map(String::into_boxed_str),
        });
        let jobs = jobs_from_planned(
            planned,
            names,
            &key,
            &origin,
            |name| self.metrics.matched(name),
            |subscription, message| self.invalid(entry, subscription.map(|s| &**s), message),
        );
        (!jobs.is_empty()).then_some((origin, jobs))
    }

    fn invalid(&self, entry: &Entry, subscription: Option<&str>, message: &str) {
        let (file, line) = (&*entry.source, entry.at.line);
        let n = self.metrics.invalid.fetch_add(1, Ordering::Relaxed) + 1;
        self.stats.invalid.fetch_add(1, Ordering::Relaxed);
        // One in a thousand after the first hundred: a bad mapping under load must not flood the log.
        if n <= 100 || n.is_multiple_of(1000) {
            tracing::warn!(
                file,
                line,
                subscription = subscription.unwrap_or(""),
                error = message,
                invalid_so_far = n,
                "Event not sent: nothing valid to send."
            );
        }
    }
}

/// An event's `messageId` as text (Segment's libraries send strings; a number counts too).
fn id_text(id: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match id {
        Value::String(s) if !s.is_empty() => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// The `messageId` of a queued line, without building the whole event.
fn message_id(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "messageId")]
        message_id: Option<Value>,
    }
    let id: Id = serde_json::from_slice(line).ok()?;
    id.message_id
        .as_ref()
        .and_then(id_text)
        .map(std::borrow::Cow::into_owned)
}
