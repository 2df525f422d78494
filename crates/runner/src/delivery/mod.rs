//! Delivery to Encharge: planned requests in, each one delivered or written to
//! the dead-letter file, never dropped.
//!
//! A [`Delivery`] takes [`Job`]s (one request each) through a bounded channel,
//! so a reader faster than Encharge waits instead of filling memory. Its
//! dispatcher keeps per-user order ([`order`]): the requests of one user go out
//! one at a time in the order they came, different users in parallel, with at
//! most `concurrency` requests in flight. Each request is retried as
//! [`retry::RetryLogic`] decides, waiting as [`retry::Backoff`] says or as long
//! as a `Retry-After` asks (a 429 with `Retry-After` also holds back every other
//! request until then: the limit is the account's, not the request's).
//!
//! What cannot be delivered goes to [`deadletter::DeadLetters`]: a permanent
//! answer, retries used up, or a stop. A 401 or 403 stops the whole delivery
//! (every other request would get the same answer); so does [`Delivery::stop`]
//! (Ctrl-C): nothing new starts, what waits is dead-lettered, and what is in
//! flight finishes (or, with [`Stop::Abort`], is cut off and dead-lettered).
//!
//! A server cannot stop for a key the operator can fix while it runs: with
//! [`DeliveryOptions::stop_on_rejected_key`] off, a rejected key only dead-letters
//! each request at once, until [`Delivery::set_api_key`] brings another key;
//! then requests go out again.
//!
//! The pieces are apart so that `send` (a file) and a server with an on-disk
//! queue can feed the same workers.

pub mod client;
pub mod deadletter;
pub mod order;
pub mod retry;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use encharge_engine::actions::PlannedRequest;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::error::{Error, ErrorKind};
use deadletter::{DeadLetter, DeadLetters, Reason, StoredRequest};
use order::{Lanes, OrderKey};
use retry::{AttemptResult, RetryAction, RetryLogic, RetryPolicy, parse_retry_after};

/// The header that carries the API key.
pub const TOKEN_HEADER: &str = encharge_engine::actions::TOKEN_HEADER;
/// The same, parsed once rather than per request.
const TOKEN_HEADER_NAME: HeaderName = HeaderName::from_static("x-encharge-token");

/// A request ready to send, without the API key (the [`Delivery`] adds it), so
/// that a job can be logged, stored or dead-lettered without leaking it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: reqwest::Method,
    /// The full URL, parsed once.
    pub url: reqwest::Url,
    /// Headers other than the API key.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body as sent (compact JSON).
    pub body: Option<Bytes>,
}

impl Request {
    /// The engine's planned request, minus its API key header.
    pub fn from_planned(planned: &PlannedRequest) -> Result<Request, Error> {
        let headers = planned
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case(TOKEN_HEADER))
            .map(|(name, value)| header(name, value))
            .collect::<Result<_, _>>()?;
        let body = planned
            .body
            .is_some()
            .then(|| Bytes::copy_from_slice(planned.body_bytes()));
        Ok(Request {
            method: method(planned.method)?,
            url: url(&planned.url)?,
            headers,
            body,
        })
    }

    /// A request read back from a dead letter.
    pub fn from_stored(stored: &StoredRequest) -> Result<Request, Error> {
        let headers = stored
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case(TOKEN_HEADER))
            .map(|(name, value)| header(name, value.as_str().unwrap_or_default()))
            .collect::<Result<_, _>>()?;
        let body = match &stored.body {
            Some(body) => Some(Bytes::from(serde_json::to_vec(body).map_err(|e| {
                Error::new(ErrorKind::Config, format!("cannot serialize a request body: {e}"))
            })?)),
            None => None,
        };
        Ok(Request {
            method: method(&stored.method)?,
            url: url(&stored.url)?,
            headers,
            body,
        })
    }

    /// The request as a dead letter stores it.
    pub fn stored(&self) -> StoredRequest {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let body = self.body.as_ref().map(|b| {
            serde_json::from_slice(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
        });
        StoredRequest {
            method: self.method.as_str().to_owned(),
            url: self.url.to_string(),
            headers,
            body,
        }
    }
}

thread_local! {
    /// The URL parsed last on this thread: nearly every request of a run goes to
    /// the same ingest URL, and parsing it (IDNA included) is a visible share of a
    /// request's cost at thousands a second.
    static LAST_URL: std::cell::RefCell<Option<reqwest::Url>> = const { std::cell::RefCell::new(None) };
}

fn url(url: &str) -> Result<reqwest::Url, Error> {
    let cached = LAST_URL.with_borrow(|last| last.as_ref().filter(|u| u.as_str() == url).cloned());
    if let Some(u) = cached {
        return Ok(u);
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| Error::new(ErrorKind::Config, format!("not a URL: {url:?}: {e}")))?;
    LAST_URL.with_borrow_mut(|last| *last = Some(parsed.clone()));
    Ok(parsed)
}

fn method(name: &str) -> Result<reqwest::Method, Error> {
    reqwest::Method::from_bytes(name.as_bytes())
        .map_err(|_| Error::new(ErrorKind::Config, format!("not an HTTP method: {name:?}")))
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::new(ErrorKind::Config, format!("not a header name: {name:?}")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::new(ErrorKind::Config, format!("header {name}: not a valid value")))?;
    Ok((n, v))
}

/// Subscription and action names shared by the jobs of a run: one allocation per subscription.
pub type Names = std::collections::HashMap<String, (Arc<str>, Arc<str>)>;

/// Turns what one event planned into delivery jobs (`send` and `serve` alike).
///
/// `matched` hears of each matching subscription; `invalid(subscription, message)` of each
/// one that has nothing valid to send.
pub fn jobs_from_planned(
    planned: &mut Vec<encharge_engine::Planned<'_>>,
    names: &mut Names,
    key: &OrderKey,
    origin: &Arc<Origin>,
    mut matched: impl FnMut(&str),
    mut invalid: impl FnMut(Option<&Arc<str>>, &str),
) -> Vec<Job> {
    let mut jobs = Vec::with_capacity(planned.len());
    for p in planned.drain(..) {
        let name = &p.subscription.name;
        matched(name);
        let (subscription, action) = match names.get(name) {
            Some((n, a)) => (Arc::clone(n), Arc::clone(a)),
            None => {
                let n: Arc<str> = Arc::from(name.as_str());
                let a: Arc<str> = Arc::from(p.subscription.action.name());
                names.insert(name.clone(), (Arc::clone(&n), Arc::clone(&a)));
                (n, a)
            }
        };
        let requests = match p.result {
            Ok(requests) => requests,
            Err(e) => {
                invalid(Some(&subscription), &e.to_string());
                continue;
            }
        };
        for r in &requests {
            match Request::from_planned(r) {
                Ok(request) => jobs.push(Job {
                    request,
                    key: key.clone(),
                    subscription: Arc::clone(&subscription),
                    action: Arc::clone(&action),
                    origin: Arc::clone(origin),
                }),
                Err(e) => invalid(Some(&subscription), &e.to_string()),
            }
        }
    }
    jobs
}

/// Where a job's event came from; shared by the requests planned from one event.
#[derive(Debug, Default)]
pub struct Origin {
    /// The input file (`-` for stdin).
    pub file: Option<Arc<str>>,
    /// The line (or array element) in it.
    pub line: Option<u64>,
    /// The event as compact JSON, for the dead-letter file. Text rather than a
    /// parsed value: one allocation per event instead of one per member, which
    /// matters at thousands of events a second.
    pub event: Option<Box<str>>,
}

/// One request to deliver.
#[derive(Debug)]
pub struct Job {
    /// The request.
    pub request: Request,
    /// Its user, for per-user order.
    pub key: OrderKey,
    /// The subscription that planned it.
    pub subscription: Arc<str>,
    /// That subscription's action, e.g. `trackEvent`.
    pub action: Arc<str>,
    /// The event and where it was read.
    pub origin: Arc<Origin>,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Encharge accepted it.
    Delivered {
        /// The 2xx status.
        status: u16,
        /// Attempts it took.
        attempts: u32,
    },
    /// It went to the dead-letter file.
    DeadLettered {
        /// Why.
        reason: Reason,
        /// The last answer's status, if an answer came.
        status: Option<u16>,
        /// Attempts made.
        attempts: u32,
    },
}

/// A job's final status, as counted per subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Delivered with this status.
    Delivered(u16),
    /// Dead-lettered; the last status if an answer came.
    DeadLettered(Reason, Option<u16>),
    /// The event could not be planned (bad JSON, mapping failure, payload invalid): nothing to send.
    Invalid,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Delivered(s) => write!(f, "delivered ({s})"),
            Status::DeadLettered(reason, Some(s)) => write!(f, "dead-lettered: {} ({s})", reason.label()),
            Status::DeadLettered(reason, None) => write!(f, "dead-lettered: {}", reason.label()),
            Status::Invalid => f.write_str("invalid, not sent"),
        }
    }
}

/// Counters of a run, read by the progress bar and the summary.
#[derive(Debug)]
pub struct Stats {
    /// When the run started.
    pub started: Instant,
    /// Events read.
    pub events: AtomicU64,
    /// Requests planned (handed to delivery).
    pub planned: AtomicU64,
    /// Events or subscriptions that produced nothing to send.
    pub invalid: AtomicU64,
    /// Requests sent, retries included.
    pub attempts: AtomicU64,
    /// Retries scheduled.
    pub retries: AtomicU64,
    /// Requests delivered.
    pub delivered: AtomicU64,
    /// Requests dead-lettered.
    pub dead_lettered: AtomicU64,
    by: Mutex<BTreeMap<(Arc<str>, Status), u64>>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            started: Instant::now(),
            events: AtomicU64::new(0),
            planned: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            by: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Stats {
    /// Counts one final status for a subscription.
    pub fn count(&self, subscription: &Arc<str>, status: Status) {
        let mut by = self.by.lock().unwrap_or_else(PoisonError::into_inner);
        *by.entry((Arc::clone(subscription), status)).or_insert(0) += 1;
    }

    /// `(subscription, status, count)`, sorted by subscription then status.
    pub fn by_subscription(&self) -> Vec<(Arc<str>, Status, u64)> {
        let by = self.by.lock().unwrap_or_else(PoisonError::into_inner);
        by.iter().map(|((s, st), n)| (Arc::clone(s), *st, *n)).collect()
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Called when a job has ended (delivered or dead-lettered), e.g. to acknowledge a queue entry.
pub type OnDone = Arc<dyn Fn(&Job, &Outcome) + Send + Sync>;

/// The knobs of delivery.
#[derive(Clone)]
pub struct DeliveryOptions {
    /// Requests in flight at most, across users.
    pub concurrency: usize,
    /// How hard to try each request.
    pub retry: RetryPolicy,
    /// Jobs taken in and not yet ended at most (waiting in a user's lane, backing
    /// off or in flight); beyond it, submitting waits. Bounds memory.
    pub queue: usize,
    /// Called for every job that ends.
    pub on_done: Option<OnDone>,
    /// On a 401 or 403, stop delivery as [`Stop::Drain`] does (a run of `send`). When off
    /// (a server), delivery goes on taking jobs and dead-letters each at once while the key
    /// stays rejected; [`Delivery::set_api_key`] with another key resumes sending.
    pub stop_on_rejected_key: bool,
}

impl Default for DeliveryOptions {
    fn default() -> DeliveryOptions {
        DeliveryOptions {
            concurrency: 16,
            retry: RetryPolicy::default(),
            queue: 4096,
            on_done: None,
            stop_on_rejected_key: true,
        }
    }
}

/// How far delivery is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Working.
    Running,
    /// No new attempts: jobs waiting or backing off are dead-lettered, requests
    /// in flight finish.
    Drain,
    /// As `Drain`, and requests in flight are cut off and dead-lettered too.
    Abort,
}

struct Shared {
    client: reqwest::Client,
    /// The API key header; replaced whole by [`Delivery::set_api_key`], so that an attempt can
    /// tell whether the key it was sent with is still the current one.
    token: RwLock<Arc<HeaderValue>>,
    options: DeliveryOptions,
    limit: Semaphore,
    stop: watch::Sender<Stop>,
    /// The status with which Encharge rejected the current key, if it did.
    rejected_key: watch::Sender<Option<u16>>,
    paused_until: Mutex<Option<Instant>>,
    /// Retries are logged once a minute at most.
    retry_log: Mutex<crate::logging::Throttle>,
    stats: Arc<Stats>,
    dead_letters: Arc<DeadLetters>,
    seed: AtomicU64,
}

/// Hands jobs to a [`Delivery`]; clone it for each producer.
#[derive(Clone)]
pub struct Submitter(mpsc::Sender<Job>);

impl Submitter {
    /// Hands a job over, waiting while delivery is full. Gives the job back when
    /// delivery has stopped taking jobs.
    pub async fn submit(&self, job: Job) -> Result<(), Box<Job>> {
        self.0.send(job).await.map_err(|e| Box::new(e.0))
    }

    /// [`Submitter::submit`] from a thread outside the runtime (a reader thread).
    pub fn blocking_submit(&self, job: Job) -> Result<(), Box<Job>> {
        self.0.blocking_send(job).map_err(|e| Box::new(e.0))
    }
}

/// A running delivery: see the module's documentation.
pub struct Delivery {
    submitter: Option<Submitter>,
    shared: Arc<Shared>,
    dispatcher: tokio::task::JoinHandle<()>,
}

impl Delivery {
    /// Starts delivery on the current tokio runtime, sending with `client` and `api_key`.
    pub fn start(
        client: reqwest::Client,
        api_key: &str,
        options: DeliveryOptions,
        dead_letters: Arc<DeadLetters>,
        stats: Arc<Stats>,
    ) -> Result<Delivery, Error> {
        let token = token(api_key)?;
        let (tx, rx) = mpsc::channel(options.queue.clamp(1, 1024));
        let shared = Arc::new(Shared {
            client,
            token: RwLock::new(Arc::new(token)),
            limit: Semaphore::new(options.concurrency.max(1)),
            options,
            stop: watch::Sender::new(Stop::Running),
            rejected_key: watch::Sender::new(None),
            paused_until: Mutex::new(None),
            retry_log: Mutex::default(),
            stats,
            dead_letters,
            seed: AtomicU64::new(fastrand::u64(..)),
        });
        let dispatcher = tokio::spawn(dispatch(Arc::clone(&shared), rx));
        Ok(Delivery {
            submitter: Some(Submitter(tx)),
            shared,
            dispatcher,
        })
    }

    /// A handle to hand jobs over.
    pub fn submitter(&self) -> Option<Submitter> {
        self.submitter.clone()
    }

    /// Stops delivery (see [`Stop`]); a stop never goes back to running.
    pub fn stop(&self, stop: Stop) {
        raise(&self.shared.stop, stop);
    }

    /// A handle that can stop delivery from elsewhere (a Ctrl-C handler).
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.shared))
    }

    /// Follows how far delivery is stopping (it stops by itself on a rejected API key).
    pub fn watch_stop(&self) -> watch::Receiver<Stop> {
        self.shared.stop.subscribe()
    }

    /// How far delivery is stopping.
    pub fn stopping(&self) -> Stop {
        *self.shared.stop.borrow()
    }

    /// The status (401 or 403) with which Encharge rejected the API key, if it did.
    pub fn api_key_rejected(&self) -> Option<u16> {
        *self.shared.rejected_key.borrow()
    }

    /// Follows [`Delivery::api_key_rejected`]: it goes back to `None` when
    /// [`Delivery::set_api_key`] brings another key (unless delivery stops on a rejected key).
    pub fn watch_api_key_rejected(&self) -> watch::Receiver<Option<u16>> {
        self.shared.rejected_key.subscribe()
    }

    /// Sends with `api_key` from now on: see [`ApiKeys::set`].
    pub fn set_api_key(&self, api_key: &str) -> Result<bool, Error> {
        self.shared.set_api_key(api_key)
    }

    /// A handle that changes the API key from elsewhere (a config reload).
    pub fn api_keys(&self) -> ApiKeys {
        ApiKeys(Arc::clone(&self.shared))
    }

    /// Waits until every job handed over has ended. Call it after the producers
    /// are done (or gone): it waits for every [`Submitter`] to be dropped, unless
    /// delivery is stopping.
    pub async fn finish(mut self) {
        self.submitter = None;
        let _ = (&mut self.dispatcher).await;
    }
}

/// Stops a [`Delivery`] from elsewhere.
#[derive(Clone)]
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// See [`Delivery::stop`].
    pub fn stop(&self, stop: Stop) {
        raise(&self.0.stop, stop);
    }

    /// See [`Delivery::api_key_rejected`]; still answers after [`Delivery::finish`].
    pub fn api_key_rejected(&self) -> Option<u16> {
        *self.0.rejected_key.borrow()
    }
}

/// Changes the API key of a [`Delivery`] from elsewhere.
#[derive(Clone)]
pub struct ApiKeys(Arc<Shared>);

impl ApiKeys {
    /// Sends with `api_key` from now on, requests already waiting or backing off included; the
    /// dead-letter file masks it as well as the keys before it. When Encharge had rejected the
    /// old key and delivery does not stop on a rejected key, requests go out again. Returns
    /// whether the key changed; an error (and no change) when it cannot be an HTTP header.
    pub fn set(&self, api_key: &str) -> Result<bool, Error> {
        self.0.set_api_key(api_key)
    }
}

impl Shared {
    fn set_api_key(&self, api_key: &str) -> Result<bool, Error> {
        let new = token(api_key)?;
        let mut current = self.token.write().unwrap_or_else(PoisonError::into_inner);
        if **current == new {
            return Ok(false);
        }
        // Masked before anything is sent with it, so no dead letter can show it.
        self.dead_letters.add_secret(api_key);
        *current = Arc::new(new);
        // A stopped delivery stays stopped: its report must still say why.
        if !self.options.stop_on_rejected_key {
            self.rejected_key.send_if_modified(|r| r.take().is_some());
        }
        Ok(true)
    }

    /// The API key header to send with now.
    fn token(&self) -> Arc<HeaderValue> {
        Arc::clone(&self.token.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Encharge answered `status` (401 or 403) to a request sent with `used`. Returns false when
    /// the key has changed since: the answer says nothing of the current key.
    fn reject_key(&self, used: &Arc<HeaderValue>, status: u16) -> bool {
        // Under the lock, so that a new key cannot slip in between the check and the mark.
        let current = self.token.read().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&current, used) {
            return false;
        }
        self.rejected_key.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(status);
                true
            } else {
                false
            }
        });
        true
    }

    /// Why a job must not be attempted now, if it must not.
    fn halted(&self, stop: &watch::Receiver<Stop>) -> Option<Reason> {
        if self.rejected_key.borrow().is_some() {
            Some(Reason::ApiKeyRejected)
        } else if *stop.borrow() != Stop::Running {
            Some(Reason::Interrupted)
        } else {
            None
        }
    }
}

fn raise(stop: &watch::Sender<Stop>, to: Stop) {
    stop.send_if_modified(|s| {
        if to > *s {
            *s = to;
            true
        } else {
            false
        }
    });
}

fn token(api_key: &str) -> Result<HeaderValue, Error> {
    let mut token = HeaderValue::from_str(api_key).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            "the API key has characters an HTTP header cannot carry (a line break?)",
        )
    })?;
    // Keeps it out of reqwest's and hyper's debug output.
    token.set_sensitive(true);
    Ok(token)
}

async fn dispatch(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<OrderKey>();
    let mut stop = shared.stop.subscribe();
    let mut lanes: Lanes<Job> = Lanes::default();
    let mut pending = 0usize;
    let mut open = true;
    let mut closing = false;
    let queue = shared.options.queue.max(1);
    loop {
        if !open && pending == 0 {
            break;
        }
        tokio::select! {
            biased;
            Some(key) = done_rx.recv() => {
                pending -= 1;
                if let Some(next) = lanes.finish(&key) {
                    spawn_job(&shared, next, &done_tx);
                }
            }
            _ = stop.wait_for(|s| *s != Stop::Running), if !closing => {
                // Producers get their job back from now on; jobs already in the
                // channel are still taken, and dead-lettered by their worker.
                closing = true;
                rx.close();
            }
            job = rx.recv(), if open && pending < queue => match job {
                Some(job) => {
                    pending += 1;
                    let key = job.key.clone();
                    if let Some(job) = lanes.admit(&key, job) {
                        spawn_job(&shared, job, &done_tx);
                    }
                }
                None => open = false,
            },
        }
    }
}

fn spawn_job(shared: &Arc<Shared>, job: Job, done: &mpsc::UnboundedSender<OrderKey>) {
    let shared = Arc::clone(shared);
    let done = Done {
        key: Some(job.key.clone()),
        tx: done.clone(),
    };
    tokio::spawn(async move {
        let outcome = deliver(&shared, &job).await;
        if let Some(on_done) = &shared.options.on_done {
            on_done(&job, &outcome);
        }
        drop(done);
    });
}

/// Tells the dispatcher a job has ended, even if its task panicked (an `on_done`
/// hook, say): otherwise its lane, and `finish`, would wait forever.
struct Done {
    key: Option<OrderKey>,
    tx: mpsc::UnboundedSender<OrderKey>,
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let _ = self.tx.send(key);
        }
    }
}

/// The last thing an attempt got.
enum Last {
    Nothing,
    Answer { status: u16, body: Bytes },
    NoAnswer { error: String },
}

async fn deliver(shared: &Shared, job: &Job) -> Outcome {
    let policy = shared.options.retry;
    let mut rng = fastrand::Rng::with_seed(shared.seed.fetch_add(1, Ordering::Relaxed));
    let mut stop = shared.stop.subscribe();
    let started = Instant::now();
    let mut attempts = 0u32;
    let mut last = Last::Nothing;
    loop {
        if let Some(reason) = shared.halted(&stop) {
            return give_up(shared, job, reason, attempts, last);
        }
        let paused = *shared.paused_until.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(until) = paused.filter(|u| *u > Instant::now()) {
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = stop.wait_for(|s| *s != Stop::Running) => continue,
            }
        }
        let permit = tokio::select! {
            permit = shared.limit.acquire() => permit,
            _ = stop.wait_for(|s| *s != Stop::Running) => continue,
        };
        // The permit may have come free from a request that just stopped the run (401).
        if shared.halted(&stop).is_some() {
            continue;
        }
        attempts += 1;
        shared.stats.attempts.fetch_add(1, Ordering::Relaxed);
        let token = shared.token();
        let (answered, retry_after) = tokio::select! {
            answered = attempt(&shared.client, &token, &job.request) => answered,
            _ = stop.wait_for(|s| *s == Stop::Abort) => {
                last = Last::NoAnswer { error: "cut off in flight when delivery was aborted; it may have arrived".to_owned() };
                drop(permit);
                continue;
            }
        };
        drop(permit);
        let result = match &answered {
            Last::Answer { status, .. } => AttemptResult::Answer {
                status: *status,
                retry_after,
            },
            _ => AttemptResult::NoAnswer,
        };
        last = answered;
        match RetryLogic.decide(result) {
            RetryAction::Done => {
                let status = match last {
                    Last::Answer { status, .. } => status,
                    _ => 200,
                };
                let outcome = Outcome::Delivered { status, attempts };
                shared.stats.delivered.fetch_add(1, Ordering::Relaxed);
                shared.stats.count(&job.subscription, Status::Delivered(status));
                return outcome;
            }
            RetryAction::Permanent => return give_up(shared, job, Reason::Rejected, attempts, last),
            RetryAction::ApiKeyRejected => {
                let status = match last {
                    Last::Answer { status, .. } => status,
                    _ => 401,
                };
                if !shared.reject_key(&token, status) {
                    // Sent with a key that has been replaced since: try the new one.
                    if attempts < policy.max_attempts {
                        continue;
                    }
                    return give_up(shared, job, Reason::RetriesExhausted, attempts, last);
                }
                if shared.options.stop_on_rejected_key {
                    tracing::debug!(status, "API key refused; delivery stops.");
                    raise(&shared.stop, Stop::Drain);
                } else {
                    tracing::debug!(status, "API key refused; requests are dead-lettered until it changes.");
                }
                return give_up(shared, job, Reason::ApiKeyRejected, attempts, last);
            }
            RetryAction::Retry { after } => {
                if attempts >= policy.max_attempts {
                    return give_up(shared, job, Reason::RetriesExhausted, attempts, last);
                }
                let delay = match after {
                    Some(after) => policy.backoff.after_retry_after(after, &mut rng),
                    None => policy.backoff.delay(attempts, &mut rng),
                };
                if started.elapsed() + delay > policy.window {
                    return give_up(shared, job, Reason::RetriesExhausted, attempts, last);
                }
                if let (Some(after), Last::Answer { status: 429, .. }) = (retry_after, &last) {
                    let until = Instant::now() + after;
                    let mut paused = shared.paused_until.lock().unwrap_or_else(PoisonError::into_inner);
                    if paused.is_none_or(|p| p < until) {
                        *paused = Some(until);
                    }
                }
                shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                let retries = shared.retry_log.lock().unwrap_or_else(PoisonError::into_inner).hit();
                if let Some(retries) = retries {
                    let why = match &last {
                        Last::Answer { status, .. } => format!("answered {status}"),
                        Last::NoAnswer { error } => format!("did not answer: {error}"),
                        Last::Nothing => "did not answer".to_owned(),
                    };
                    tracing::warn!(
                        retries,
                        "Encharge {why}; requests are retried with backoff (logged once a minute at most)."
                    );
                }
                match &last {
                    Last::Answer { status, .. } => tracing::debug!(
                        subscription = %job.subscription, status, attempts, delay_ms = delay.as_millis() as u64,
                        "Request failed, retrying."
                    ),
                    Last::NoAnswer { error } => tracing::debug!(
                        subscription = %job.subscription, error = %error, attempts, delay_ms = delay.as_millis() as u64,
                        "Request got no answer, retrying."
                    ),
                    Last::Nothing => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s != Stop::Running) => {}
                }
            }
        }
    }
}

fn give_up(shared: &Shared, job: &Job, reason: Reason, attempts: u32, last: Last) -> Outcome {
    dead_letter(&shared.dead_letters, &shared.stats, job, reason, attempts, last)
}

/// Dead-letters a job that was never handed to delivery (its producer got it
/// back because delivery had stopped): nothing is dropped without a trace.
pub fn dead_letter_unsent(dead_letters: &DeadLetters, stats: &Stats, job: &Job, reason: Reason) -> Outcome {
    dead_letter(dead_letters, stats, job, reason, 0, Last::Nothing)
}

fn dead_letter(
    dead_letters: &DeadLetters,
    stats: &Stats,
    job: &Job,
    reason: Reason,
    attempts: u32,
    last: Last,
) -> Outcome {
    let (status, response, error) = match last {
        Last::Nothing => (None, None, None),
        Last::Answer { status, body } => (Some(status), Some(deadletter::response_text(&body)), None),
        Last::NoAnswer { error } => (None, None, Some(error)),
    };
    let letter = DeadLetter {
        time: deadletter::now_rfc3339(),
        reason,
        subscription: job.subscription.to_string(),
        action: job.action.to_string(),
        file: job.origin.file.as_deref().map(str::to_owned),
        line: job.origin.line,
        user: job.key.as_deref().map(str::to_owned),
        status,
        response,
        error,
        attempts,
        request: job.request.stored(),
        event: job
            .origin
            .event
            .as_deref()
            .map(|e| serde_json::from_str(e).unwrap_or_else(|_| Value::String(e.to_owned()))),
    };
    let _ = dead_letters.write(&letter);
    if matches!(reason, Reason::Rejected | Reason::RetriesExhausted) {
        let file = job.origin.file.as_deref().unwrap_or("");
        let line = job.origin.line.unwrap_or(0);
        match (&letter.status, &letter.error) {
            (Some(status), _) => tracing::warn!(
                subscription = %job.subscription, file, line, status, attempts, reason = reason.label(),
                "Request dead-lettered."
            ),
            (None, error) => tracing::warn!(
                subscription = %job.subscription, file, line, error = error.as_deref().unwrap_or(""), attempts,
                reason = reason.label(), "Request dead-lettered."
            ),
        }
    }
    stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
    stats.count(&job.subscription, Status::DeadLettered(reason, status));
    Outcome::DeadLettered {
        reason,
        status,
        attempts,
    }
}

/// One attempt: the answer (or why none came) and its `Retry-After`.
async fn attempt(client: &reqwest::Client, token: &HeaderValue, request: &Request) -> (Last, Option<Duration>) {
    let mut builder = client
        .request(request.method.clone(), request.url.clone())
        .header(TOKEN_HEADER_NAME, token.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name.clone(), value.clone());
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let last = match response.bytes().await {
                Ok(body) => Last::Answer { status, body },
                // The status says it arrived; a body cut short does not undo that.
                Err(_) if (200..300).contains(&status) => Last::Answer {
                    status,
                    body: Bytes::new(),
                },
                Err(e) => Last::NoAnswer { error: describe(&e) },
            };
            (last, retry_after)
        }
        Err(e) => (Last::NoAnswer { error: describe(&e) }, None),
    }
}

/// A transport error in one line: what happened, and its root cause.
pub fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "no answer"
    };
    let mut root: &dyn std::error::Error = e;
    while let Some(source) = root.source() {
        root = source;
    }
    format!("{what}: {root}")
}

/// Sends one request with retries (no per-user order, no dead letters): the
/// account calls (`check-auth`, `delete`, `objects`). Returns the 2xx answer's
/// status and body.
pub async fn request_with_retries(
    client: &reqwest::Client,
    api_key: &str,
    request: &Request,
    policy: &RetryPolicy,
) -> Result<(u16, Bytes), Error> {
    let token = token(api_key)?;
    let started = Instant::now();
    let mut rng = fastrand::Rng::new();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let (last, retry_after) = attempt(client, &token, request).await;
        let result = match &last {
            Last::Answer { status, .. } => AttemptResult::Answer {
                status: *status,
                retry_after,
            },
            _ => AttemptResult::NoAnswer,
        };
        let fail = |last: Last| match last {
            Last::Answer { status, body } => Error::new(
                ErrorKind::Status { status },
                format!(
                    "Encharge answered {status} to {} {}: {}",
                    request.method,
                    request.url,
                    deadletter::response_text(&body)
                ),
            ),
            Last::NoAnswer { error } => Error::new(
                ErrorKind::Transport,
                format!("{} {}: {error}", request.method, request.url),
            ),
            Last::Nothing => Error::new(ErrorKind::Transport, "no attempt was made"),
        };
        match RetryLogic.decide(result) {
            RetryAction::Done => {
                return match last {
                    Last::Answer { status, body } => Ok((status, body)),
                    other => Err(fail(other)),
                };
            }
            RetryAction::ApiKeyRejected => {
                let status = match last {
                    Last::Answer { status, .. } => status,
                    _ => 401,
                };
                return Err(Error::api_key_rejected(status));
            }
            RetryAction::Permanent => return Err(fail(last)),
            RetryAction::Retry { after } => {
                let delay = match after {
                    Some(after) => policy.backoff.after_retry_after(after, &mut rng),
                    None => policy.backoff.delay(attempts, &mut rng),
                };
                if attempts >= policy.max_attempts || started.elapsed() + delay > policy.window {
                    return Err(fail(last));
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_header_names_agree() {
        assert_eq!(TOKEN_HEADER_NAME.as_str(), TOKEN_HEADER);
    }

    #[test]
    fn requests_lose_the_key_and_keep_the_rest() {
        let planned = PlannedRequest {
            method: "POST",
            url: "http://127.0.0.1:9/v1".to_owned(),
            headers: vec![
                (TOKEN_HEADER, "secret-key-123".to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
            body: Some(serde_json::value::RawValue::from_string(r#"{"b":1,"a":2}"#.to_owned()).unwrap()),
        };
        let request = Request::from_planned(&planned).unwrap();
        assert_eq!(request.headers.len(), 1);
        assert_eq!(request.body.as_deref(), Some(&br#"{"b":1,"a":2}"#[..]));
        let stored = request.stored();
        assert!(!serde_json::to_string(&stored).unwrap().contains("secret-key-123"));
        let back = Request::from_stored(&stored).unwrap();
        assert_eq!(
            (back.method, back.url, back.body),
            (request.method, request.url, request.body)
        );
        assert!(token("line\nbreak").is_err());
        assert!(format!("{:?}", token("secret-key-123").unwrap()).contains("Sensitive"));
    }
}
