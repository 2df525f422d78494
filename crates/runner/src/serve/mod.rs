//! `serve`: a Segment tracking-API-compatible ingest server in front of the
//! same delivery as `send`.
//!
//! A request is checked ([`ingest`]), its events are synced to the durable
//! [`queue`] and only then answered 200. A planner thread follows the queue,
//! plans each event with the current config and hands the requests to
//! [`Delivery`] (retries, per-user order, dead letters), which runs on a runtime
//! of its own so that it cannot hold up the answers. When every request of
//! an event has ended, the event is acknowledged in the queue; what was not
//! acknowledged when the process stopped (or was killed) is delivered after the
//! next start. The config is reloaded on SIGHUP or when its files change; a new
//! config that does not load is refused and the old one keeps running. SIGTERM
//! (or Ctrl-C) stops accepting, lets the requests being answered finish, and
//! gives delivery a grace period; what is still undelivered stays in the queue.

mod http;
pub mod ingest;
pub mod metrics;
mod planner;
pub mod queue;
mod reload;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use encharge_engine::Destination;
use tokio::sync::{Semaphore, watch};

use super::commands::{FAILED, OK, USAGE};
use crate::delivery::client::{self, ClientOptions};
use crate::delivery::deadletter::DeadLetters;
use crate::delivery::retry::{Backoff, RetryPolicy};
use crate::delivery::{Delivery, DeliveryOptions, Job, OnDone, Outcome, Stats};
use crate::report::print_diagnostics;
use metrics::Metrics;
use planner::{Pending, Planner, ended};
use queue::{Queue, QueueStats};

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
    // Delivery gets a runtime of its own, on one core fewer than the machine has.
    // To a fast Encharge it always has work, and on the ingest runtime its tasks
    // queued ahead of the requests being answered (a p50 of 12 ms instead of 2 at
    // 25,000 events/s on two cores). On threads of its own the kernel schedules it,
    // and the ingest threads, asleep most of the time, run as soon as they wake.
    let delivery_threads = std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
    let delivery_runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(delivery_threads)
        .thread_name("delivery")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return FAILED;
        }
    };
    let code = runtime.block_on(serve(
        options,
        listen,
        write_keys,
        loaded.destination,
        delivery_runtime.handle(),
    ));
    runtime.shutdown_timeout(Duration::from_secs(1));
    delivery_runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

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
    delivery_runtime: &tokio::runtime::Handle,
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
    let started = {
        let _on_delivery_runtime = delivery_runtime.enter();
        Delivery::start(
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
        )
    };
    let delivery = match started {
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
    let reloader = tokio::spawn(reload::reload_loop(
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
        let shutdown = shutdown_rx.clone();
        let read_timeout = options.read_timeout;
        let open = Arc::clone(&open);
        open.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            http::connection(app, stream, read_timeout, shutdown).await;
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
