//! The planner: follows the queue, plans each event with the current config and
//! hands its requests to delivery; acknowledges an event once all of them ended.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use encharge_engine::{Destination, Planned};
use serde_json::Value;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::queue::{self, Acks, QueueStats, Read};
use crate::delivery::deadletter::{DeadLetters, Reason};
use crate::delivery::order::order_key;
use crate::delivery::{Job, Names, OnDone, Origin, Outcome, Stats, dead_letter_unsent, jobs_from_planned};

/// An event's requests still going: how many, and since when.
pub(super) type Pending = Mutex<HashMap<(u64, u64), (u32, Instant)>>;

/// A job ended: counts it, and acknowledges its event when it was the event's last.
pub(super) fn ended(pending: &Pending, acks: &Acks, metrics: &Metrics, job: &Job, outcome: &Outcome) {
    let Some(segment) = job.origin.file.as_deref().and_then(queue::segment_number) else {
        return;
    };
    let Some(line) = job.origin.line else { return };
    let done = {
        let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(&(segment, line)) {
            Some((left, since)) => {
                metrics.ended(&job.action, outcome, since.elapsed());
                *left = left.saturating_sub(1);
                if *left == 0 {
                    pending.remove(&(segment, line));
                    true
                } else {
                    false
                }
            }
            None => false,
        }
    };
    if done {
        acks.ack(segment, line);
    }
}

pub(super) struct Planner {
    pub(super) destination: Arc<RwLock<Arc<Destination>>>,
    pub(super) pending: Arc<Pending>,
    pub(super) acks: Arc<Acks>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) stats: Arc<Stats>,
    pub(super) dead_letters: Arc<DeadLetters>,
    pub(super) on_done: OnDone,
    pub(super) first_new: u64,
    pub(super) queue_stats: Arc<QueueStats>,
}

impl Planner {
    pub(super) fn run(
        self,
        mut reader: queue::Reader,
        submitter: &crate::delivery::Submitter,
        handle: &tokio::runtime::Handle,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut names = Names::new();
        let mut files: HashMap<u64, Arc<str>> = HashMap::new();
        let mut version: Option<Arc<Destination>> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            let entries = match reader.next_batch(1024) {
                Ok(Read::Entries(e)) => e,
                Ok(Read::Caught) => {
                    handle.block_on(async {
                        tokio::select! {
                            () = reader.wait() => {}
                            _ = stop.changed() => {}
                        }
                    });
                    continue;
                }
                Err(e) => {
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
            for entry in entries {
                if entry.segment < self.first_new {
                    self.queue_stats.recovered.fetch_add(1, Ordering::Relaxed);
                }
                let file = Arc::clone(
                    files
                        .entry(entry.segment)
                        .or_insert_with(|| Arc::from(queue::segment_name(entry.segment))),
                );
                let jobs = self.plan(&destination, &entry, &file, &mut planned, &mut names);
                if jobs.is_empty() {
                    self.acks.ack(entry.segment, entry.line);
                    continue;
                }
                let count = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
                self.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert((entry.segment, entry.line), (count, Instant::now()));
                for job in jobs {
                    self.stats.planned.fetch_add(1, Ordering::Relaxed);
                    if let Err(job) = submitter.blocking_submit(job) {
                        // Delivery stopped on a rejected API key: dead-lettered, as in `send`.
                        let outcome = dead_letter_unsent(&self.dead_letters, &self.stats, &job, Reason::ApiKeyRejected);
                        (self.on_done)(&job, &outcome);
                    }
                }
            }
            if files.len() > 16 {
                files.clear();
            }
        }
    }

    fn plan<'d>(
        &self,
        destination: &'d Destination,
        entry: &queue::Entry,
        file: &Arc<str>,
        planned: &mut Vec<Planned<'d>>,
        names: &mut Names,
    ) -> Vec<Job> {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        let event: Value = match serde_json::from_slice(&entry.text) {
            Ok(v) => v,
            Err(e) => {
                self.invalid(file, entry.line, None, &format!("not JSON in the queue: {e}"));
                return Vec::new();
            }
        };
        planned.clear();
        if let Err(e) = destination.plan(&event, planned) {
            self.invalid(file, entry.line, None, &e.message);
            return Vec::new();
        }
        if planned.is_empty() {
            return Vec::new();
        }
        let key = order_key(&event);
        let origin = Arc::new(Origin {
            file: Some(Arc::clone(file)),
            line: Some(entry.line),
            event: String::from_utf8(entry.text.clone()).ok().map(String::into_boxed_str),
        });
        jobs_from_planned(
            planned,
            names,
            &key,
            &origin,
            |name| self.metrics.matched(name),
            |subscription, message| self.invalid(file, entry.line, subscription.map(|s| &**s), message),
        )
    }

    fn invalid(&self, file: &str, line: u64, subscription: Option<&str>, message: &str) {
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
