//! `serve`: a Segment tracking-API-compatible ingest server in front of the
//! same delivery as `send`.
//!
//! A request is checked ([`ingest`]), its events are synced to the durable
//! [`queue`] and only then answered 200. A planner thread follows the queue,
//! plans each event with the current config and hands the requests to
//! [`Delivery`] (retries, per-user order, dead letters). When every request of
//! an event has ended, the event is acknowledged in the queue; what was not
//! acknowledged when the process stopped (or was killed) is delivered after the
//! next start. The config is reloaded on SIGHUP or when its files change; a new
//! config that does not load is refused and the old one keeps running. SIGTERM
//! (or Ctrl-C) stops accepting, lets the requests being answered finish, and
//! gives delivery a grace period; what is still undelivered stays in the queue.

pub mod ingest;
pub mod metrics;
pub mod queue;

use crate::delivery::{Names, jobs_from_planned};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use encharge_engine::{Destination, Planned};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use super::commands::{FAILED, OK, USAGE};
use crate::delivery::client::{self, ClientOptions};
use crate::delivery::deadletter::{DeadLetters, Reason};
use crate::delivery::order::order_key;
use crate::delivery::retry::{Backoff, RetryPolicy};
use crate::delivery::{Delivery, DeliveryOptions, Job, OnDone, Origin, Outcome, Stats, dead_letter_unsent};
use crate::report::print_diagnostics;
use ingest::Refusal;
use metrics::Metrics;
use queue::{Acks, Queue, QueueStats, Read};

/// Options of `serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--config`: a file or a directory of `*.yaml` files.
    pub config: PathBuf,
    /// `--listen`, e.g. `127.0.0.1:8088`.
    pub listen: String,
    /// `--data-dir`: the queue and the dead-letter file.
    pub data_dir: PathBuf,
    /// `--write-key`: the write keys accepted (basic-auth user name or the body's `writeKey`).
    pub write_keys: Vec<String>,
    /// Requests to Encharge in flight at most.
    pub concurrency: usize,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// No retry starts later than this after a request's first attempt.
    pub retry_window: Duration,
    /// Wait before the first retry.
    pub backoff: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Open client connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and its body.
    pub read_timeout: Duration,
    /// How often the config files are checked for changes (zero: only SIGHUP).
    pub reload_interval: Duration,
    /// After SIGTERM, how long delivery may go on before the process exits.
    pub shutdown_grace: Duration,
    /// Keep delivered queue segments (in `DATA_DIR/queue/delivered/`) instead of deleting them.
    pub keep_delivered: bool,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            config: PathBuf::new(),
            listen: "127.0.0.1:8088".to_owned(),
            data_dir: PathBuf::from("encharge-data"),
            write_keys: Vec::new(),
            concurrency: 64,
            max_attempts: RetryPolicy::default().max_attempts,
            retry_window: RetryPolicy::default().window,
            backoff: Backoff::default().initial,
            timeout: ClientOptions::default().timeout,
            max_connections: 4096,
            read_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
            keep_delivered: false,
        }
    }
}

/// Runs the server until SIGTERM or Ctrl-C; returns the exit code.
pub fn run(options: &ServeOptions) -> u8 {
    crate::logging::init();
    let (loaded, files) = match crate::config::load_config(Some(&options.config), true) {
        Ok(l) => l,
        Err(problems) => {
            print_diagnostics(&problems, &[]);
            return USAGE;
        }
    };
    print_diagnostics(&loaded.warnings, &files);
    let write_keys: HashSet<String> = options.write_keys.iter().filter(|k| !k.is_empty()).cloned().collect();
    if write_keys.is_empty() {
        eprintln!("error: give the write keys clients use with --write-key (or ENCHARGE_WRITE_KEYS, comma-separated)");
        return USAGE;
    }
    let listen: SocketAddr = match options.listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --listen {:?}: {e} (e.g. 127.0.0.1:8088)", options.listen);
            return USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return FAILED;
        }
    };
    let code = runtime.block_on(serve(options, listen, write_keys, loaded.destination));
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// An event's requests still going: how many, and since when.
type Pending = Mutex<HashMap<(u64, u64), (u32, Instant)>>;

struct App {
    write_keys: HashSet<String>,
    appender: queue::Appender,
    metrics: Arc<Metrics>,
    stats: Arc<Stats>,
    queue: Arc<QueueStats>,
    stopping: AtomicBool,
    key_rejected: AtomicBool,
}

async fn serve(
    options: &ServeOptions,
    listen: SocketAddr,
    write_keys: HashSet<String>,
    destination: Destination,
) -> u8 {
    let api_key = crate::api_key(&destination.settings).to_owned();
    let queue = match Queue::open(&options.data_dir.join("queue"), options.keep_delivered) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("error: cannot open the queue in {}: {e}", options.data_dir.display());
            return USAGE;
        }
    };
    let Some(appender) = queue.appender() else {
        return FAILED;
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return USAGE;
        }
    };
    let client = match client::build(&ClientOptions {
        timeout: options.timeout,
        max_idle_per_host: options.concurrency.max(1),
        ..ClientOptions::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let metrics = Arc::new(Metrics::default());
    let stats = Arc::new(Stats::default());
    let dead_letters = Arc::new(DeadLetters::new(options.data_dir.join("dead-letters.ndjson"), &api_key));
    let pending: Arc<Pending> = Arc::new(Mutex::new(HashMap::new()));
    let acks = queue.acks();
    let on_done: OnDone = {
        let (pending, acks, metrics) = (Arc::clone(&pending), Arc::clone(&acks), Arc::clone(&metrics));
        Arc::new(move |job: &Job, outcome: &Outcome| ended(&pending, &acks, &metrics, job, outcome))
    };
    let delivery = match Delivery::start(
        client,
        &api_key,
        DeliveryOptions {
            concurrency: options.concurrency.max(1),
            retry: RetryPolicy {
                max_attempts: options.max_attempts.max(1),
                window: options.retry_window,
                backoff: Backoff {
                    initial: options.backoff,
                    ..Backoff::default()
                },
            },
            on_done: Some(Arc::clone(&on_done)),
            ..DeliveryOptions::default()
        },
        Arc::clone(&dead_letters),
        Arc::clone(&stats),
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let Some(submitter) = delivery.submitter() else {
        return FAILED;
    };
    let destination = Arc::new(RwLock::new(Arc::new(destination)));
    let (stop_tx, stop_rx) = watch::channel(false);

    // The planner: follows the queue, plans, hands over to delivery.
    let reader = match queue.reader() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read the queue: {e}");
            return FAILED;
        }
    };
    let planner = {
        let ctx = Planner {
            destination: Arc::clone(&destination),
            pending: Arc::clone(&pending),
            acks: Arc::clone(&acks),
            metrics: Arc::clone(&metrics),
            stats: Arc::clone(&stats),
            dead_letters: Arc::clone(&dead_letters),
            on_done,
            first_new: queue.first_new,
            queue_stats: Arc::clone(&queue.stats),
        };
        let handle = tokio::runtime::Handle::current();
        let stop = stop_rx.clone();
        std::thread::Builder::new()
            .name("planner".to_owned())
            .spawn(move || ctx.run(reader, &submitter, &handle, stop))
    };
    let planner = match planner {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start the planner: {e}");
            return FAILED;
        }
    };

    let app = Arc::new(App {
        write_keys,
        appender,
        metrics: Arc::clone(&metrics),
        stats: Arc::clone(&stats),
        queue: Arc::clone(&queue.stats),
        stopping: AtomicBool::new(false),
        key_rejected: AtomicBool::new(false),
    });
    // Acknowledgements reach their files every 100 ms; a rejected API key shows in /healthz.
    let housekeeping = {
        let (acks, app) = (Arc::clone(&acks), Arc::clone(&app));
        let mut stop_watch = delivery.watch_stop();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => acks.flush(),
                    _ = stop_watch.changed() => {
                        app.key_rejected.store(true, Ordering::SeqCst);
                        tracing::error!("Encharge rejected the API key: requests are dead-lettered; fix settings.api_key, restart, and replay the dead letters.");
                    }
                }
            }
        })
    };
    let reloader = tokio::spawn(reload_loop(
        options.config.clone(),
        api_key.clone(),
        options.reload_interval,
        Arc::clone(&destination),
        Arc::clone(&metrics),
    ));

    match listener.local_addr() {
        Ok(addr) => tracing::info!(listen = %addr, data_dir = %options.data_dir.display(), "Listening."),
        Err(_) => tracing::info!(listen = %listen, "Listening."),
    }
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let open = Arc::new(AtomicUsize::new(0));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut terminate = terminate_signal();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit,
            () = &mut terminate => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut terminate => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(error = %e, "Cannot accept a connection.");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let mut shutdown = shutdown_rx.clone();
        let read_timeout = options.read_timeout;
        let open = Arc::clone(&open);
        open.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&app), req, read_timeout));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .max_buf_size(64 * 1024)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stopping = tokio::select! {
                _ = conn.as_mut() => false,
                r = shutdown.wait_for(|s| *s) => r.is_ok(),
            };
            if stopping {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            open.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        });
    }

    // Shutdown: no new connections; requests being answered finish (their events
    // are synced before the answer); then delivery gets its grace period.
    tracing::info!("Stopping: no new connections; finishing the requests in progress.");
    drop(listener);
    app.stopping.store(true, Ordering::SeqCst);
    let _ = shutdown_tx.send(true);
    let deadline = Instant::now() + options.read_timeout + Duration::from_secs(1);
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let grace = options.shutdown_grace;
    let finished = tokio::time::timeout(grace, async {
        let _ = tokio::task::spawn_blocking(move || planner.join()).await;
        delivery.finish().await;
    })
    .await;
    reloader.abort();
    housekeeping.abort();
    acks.flush();
    let left = pending.lock().unwrap_or_else(PoisonError::into_inner).len();
    match finished {
        Ok(()) => tracing::info!("Stopped; everything read from the queue has ended."),
        Err(_) => tracing::warn!(
            events = left,
            "Stopped with deliveries unfinished; they stay in the queue and go out after the next start."
        ),
    }
    drop(app);
    OK
}

/// Resolves on SIGTERM or Ctrl-C.
fn terminate_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    })
}

/// A job ended: counts it, and acknowledges its event when it was the event's last.
fn ended(pending: &Pending, acks: &Acks, metrics: &Metrics, job: &Job, outcome: &Outcome) {
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

struct Planner {
    destination: Arc<RwLock<Arc<Destination>>>,
    pending: Arc<Pending>,
    acks: Arc<Acks>,
    metrics: Arc<Metrics>,
    stats: Arc<Stats>,
    dead_letters: Arc<DeadLetters>,
    on_done: OnDone,
    first_new: u64,
    queue_stats: Arc<QueueStats>,
}

impl Planner {
    fn run(
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

// --- Reload -----------------------------------------------------------------

/// Modification times and sizes of the config's files: a change means a reload.
fn fingerprint(path: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut paths = vec![path.to_owned()];
    if path.is_dir()
        && let Ok(entries) = std::fs::read_dir(path)
    {
        paths.extend(entries.filter_map(Result::ok).map(|e| e.path()));
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            (p, modified, meta.map_or(0, |m| m.len()))
        })
        .collect()
}

async fn reload_loop(
    config: PathBuf,
    api_key: String,
    interval: Duration,
    destination: Arc<RwLock<Arc<Destination>>>,
    metrics: Arc<Metrics>,
) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = fingerprint(&config);
    let period = if interval.is_zero() {
        Duration::from_secs(3600)
    } else {
        interval
    };
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let why = tokio::select! {
            _ = tick.tick() => {
                if interval.is_zero() {
                    continue;
                }
                let now = fingerprint(&config);
                if now == seen {
                    continue;
                }
                seen = now;
                "the config files changed"
            }
            () = signalled => {
                seen = fingerprint(&config);
                "SIGHUP"
            }
        };
        let path = config.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::config::load_config(Some(&path), true)).await;
        match loaded {
            Ok(Ok((loaded, _))) => {
                if crate::api_key(&loaded.destination.settings) != api_key {
                    tracing::warn!("The new config has another API key; it takes effect at the next restart.");
                }
                for w in &loaded.warnings {
                    tracing::warn!(warning = %w, "Config warning.");
                }
                let subscriptions = loaded.destination.subscriptions.len();
                *destination.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded.destination);
                metrics.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(why, subscriptions, "Config reloaded.");
            }
            Ok(Err(problems)) => {
                metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                for p in &problems {
                    tracing::error!(problem = %p, "Config error.");
                }
                tracing::error!(
                    why,
                    errors = problems.len(),
                    "The new config does not load; the old one keeps running."
                );
            }
            Err(e) => {
                metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "Config reload failed.");
            }
        }
    }
}

// --- HTTP -------------------------------------------------------------------

type Answer = Response<Full<Bytes>>;

fn answer(app: &App, status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
    app.metrics.answered(status);
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

fn json_answer(app: &App, status: u16, body: &Value) -> Answer {
    answer(app, status, "application/json", body.to_string())
}

fn refuse(app: &App, refusal: &Refusal) -> Answer {
    app.metrics.rejected(refusal.reason, 1);
    json_answer(
        app,
        refusal.status,
        &json!({"success": false, "message": refusal.message}),
    )
}

fn path_type(path: &str) -> Option<Option<&'static str>> {
    let path = path.trim_end_matches('/');
    match path {
        "/v1/batch" | "/v1/import" => Some(None),
        _ => ingest::TYPES
            .iter()
            .find(|t| path.strip_prefix("/v1/") == Some(**t))
            .map(|t| Some(*t)),
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn handle(
    app: Arc<App>,
    req: HttpRequest<Incoming>,
    read_timeout: Duration,
) -> Result<Answer, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET {
        return Ok(match path.as_str() {
            "/healthz" | "/health" => {
                if app.stopping.load(Ordering::SeqCst) {
                    json_answer(&app, 503, &json!({"ok": false, "message": "stopping"}))
                } else if app.key_rejected.load(Ordering::SeqCst) {
                    json_answer(
                        &app,
                        503,
                        &json!({"ok": false, "message": "Encharge rejected the API key"}),
                    )
                } else {
                    json_answer(&app, 200, &json!({"ok": true}))
                }
            }
            "/metrics" => {
                let text = app.metrics.render(&app.stats, &app.queue);
                answer(&app, 200, "text/plain; version=0.0.4", text)
            }
            _ => json_answer(&app, 404, &json!({"success": false, "message": "not found"})),
        });
    }
    let Some(kind) = path_type(&path) else {
        return Ok(json_answer(
            &app,
            404,
            &json!({"success": false, "message": "not found"}),
        ));
    };
    if req.method() != Method::POST {
        return Ok(json_answer(
            &app,
            405,
            &json!({"success": false, "message": "use POST"}),
        ));
    }
    Ok(ingest_request(&app, req, kind, read_timeout).await)
}

async fn ingest_request(
    app: &App,
    req: HttpRequest<Incoming>,
    kind: Option<&'static str>,
    read_timeout: Duration,
) -> Answer {
    let headers = req.headers();
    let header = |name: hyper::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let auth_user = match header(hyper::header::AUTHORIZATION) {
        Some(h) => match ingest::basic_auth_user(&h) {
            Some(user) => Some(user),
            None => {
                return unauthorized(
                    app,
                    "the Authorization header must be Basic with the write key as the user name",
                );
            }
        },
        None => None,
    };
    if let Some(user) = &auth_user
        && !app.write_keys.contains(user)
    {
        return unauthorized(app, "invalid write key");
    }
    if !ingest::json_content_type(header(hyper::header::CONTENT_TYPE).as_deref()) {
        return refuse(
            app,
            &Refusal {
                status: 415,
                reason: "bad_content_type",
                message: "the body must be JSON (Content-Type: application/json)".to_owned(),
            },
        );
    }
    let encoding = header(hyper::header::CONTENT_ENCODING);
    let length = header(hyper::header::CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok());
    if let Some(length) = length
        && length > ingest::MAX_BATCH_BYTES
    {
        return refuse(app, &ingest::too_large(length));
    }
    let body = Limited::new(req.into_body(), ingest::MAX_BATCH_BYTES);
    let body = match tokio::time::timeout(read_timeout, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                return refuse(app, &ingest::too_large(ingest::MAX_BATCH_BYTES + 1));
            }
            return refuse(
                app,
                &Refusal {
                    status: 400,
                    reason: "bad_body",
                    message: format!("the body could not be read: {e}"),
                },
            );
        }
        Err(_) => {
            return refuse(
                app,
                &Refusal {
                    status: 408,
                    reason: "slow_body",
                    message: "the body did not arrive in time".to_owned(),
                },
            );
        }
    };
    let body = match ingest::decode(encoding.as_deref(), &body) {
        Ok(b) => b,
        Err(r) => return refuse(app, &r),
    };
    let events = match ingest::events(kind, &body, unix_ms()) {
        Ok(e) => e,
        Err(r) => return refuse(app, &r),
    };
    if auth_user.is_none() {
        match &events.write_key {
            Some(k) if app.write_keys.contains(k) => {}
            Some(_) => return unauthorized(app, "invalid write key"),
            None => return unauthorized(app, "no write key: send it as the Basic auth user name"),
        }
    }
    let errors: Vec<Value> = events
        .errors
        .iter()
        .map(|e| json!({"index": e.index, "message": e.message}))
        .collect();
    if !errors.is_empty() {
        app.metrics.rejected("bad_event", errors.len() as u64);
    }
    if events.types.is_empty() {
        let message = match events.errors.first() {
            Some(e) if kind.is_some() => e.message.clone(),
            _ => "no event in the batch is valid".to_owned(),
        };
        return json_answer(
            app,
            400,
            &json!({"success": false, "message": message, "errors": errors}),
        );
    }
    if app.stopping.load(Ordering::SeqCst) {
        return json_answer(
            app,
            503,
            &json!({"success": false, "message": "the server is stopping; retry"}),
        );
    }
    let count = events.types.len() as u64;
    if let Err(e) = app.appender.append(events.lines, count).await {
        tracing::error!(error = %e, "Cannot queue events.");
        return json_answer(
            app,
            503,
            &json!({"success": false, "message": "the events could not be stored; retry"}),
        );
    }
    let mut by_type: HashMap<&str, u64> = HashMap::new();
    for t in &events.types {
        *by_type.entry(t).or_insert(0) += 1;
    }
    for (t, n) in by_type {
        app.metrics.received(t, n);
    }
    if errors.is_empty() {
        json_answer(app, 200, &json!({"success": true}))
    } else {
        json_answer(app, 200, &json!({"success": true, "errors": errors}))
    }
}

fn unauthorized(app: &App, message: &str) -> Answer {
    app.metrics.rejected("unauthorized", 1);
    let mut response = json_answer(app, 401, &json!({"success": false, "message": message}));
    response.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Basic realm=\"write key\""),
    );
    response
}
