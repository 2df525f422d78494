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
//! next start. The config is reloaded on SIGHUP or when its files change (its
//! subscriptions, write keys and API key alike); a new config that does not load
//! is refused and the old one keeps running. SIGTERM
//! (or Ctrl-C) stops accepting, lets the requests being answered finish, and
//! gives delivery a grace period; what is still undelivered stays in the queue.

mod dedupe;
mod http;
pub mod ingest;
pub mod limits;
pub mod metrics;
mod planner;
pub mod queue;
mod reload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use encharge_engine::Destination;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, TryAcquireError, watch};

use super::commands::{FAILED, OK, USAGE};
use crate::delivery::client::{self, ClientOptions};
use crate::delivery::deadletter::DeadLetters;
use crate::delivery::retry::RetryPolicy;
use crate::delivery::{Delivery, DeliveryOptions, Job, OnDone, Outcome, Stats};
use crate::logging::Throttle;
use crate::report::print_diagnostics;
use dedupe::Dedupe;
use metrics::Metrics;
use planner::{Pending, Planner, ended};
use queue::{EventQueue, LogQueue};

/// Options of `serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--config`: a file or a directory of `*.yaml` files.
    pub config: PathBuf,
    /// `--listen`, e.g. `127.0.0.1:8088`.
    pub listen: String,
    /// `--data-dir`: the queue and the dead-letter file.
    pub data_dir: PathBuf,
    /// `--write-key`: the write keys accepted (basic-auth user name or the body's `writeKey`),
    /// besides the config's `settings.write_keys`.
    pub write_keys: Vec<String>,
    /// Requests to Encharge in flight at most.
    pub concurrency: usize,
    /// How hard each request is tried.
    pub retry: RetryPolicy,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Open client connections at most; more wait in the listen backlog. `None`:
    /// what the open-file limit leaves ([`limits::auto_max_connections`]).
    pub max_connections: Option<usize>,
    /// How long a new connection may take to start its request, then to finish
    /// the headers, then the body; an idle keep-alive connection is closed after it too.
    pub read_timeout: Duration,
    /// How often the config files are checked for changes (zero: only SIGHUP).
    pub reload_interval: Duration,
    /// After SIGTERM, how long delivery may go on before the process exits.
    pub shutdown_grace: Duration,
    /// The queue's files on disk at most, in bytes; beyond it, requests get 503.
    pub max_queue_bytes: u64,
    /// A `messageId` seen again within this time is not delivered again (zero: off).
    pub dedupe_window: Duration,
    /// Ids remembered for duplicate detection at most; the oldest are forgotten first.
    pub dedupe_max_ids: usize,
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
            retry: RetryPolicy::default(),
            timeout: ClientOptions::default().timeout,
            max_connections: None,
            read_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
            max_queue_bytes: 10 * 1024 * 1024 * 1024,
            dedupe_window: Duration::from_secs(24 * 3600),
            dedupe_max_ids: 1_000_000,
            keep_delivered: false,
        }
    }
}

/// Runs the server until SIGTERM or Ctrl-C; returns the exit code.
pub fn run(options: &ServeOptions) -> u8 {
    crate::logging::init();
    let seen = reload::fingerprint(&options.config);
    let (loaded, files) = match crate::config::load_serve_config(&options.config) {
        Ok(l) => l,
        Err(problems) => {
            print_diagnostics(&problems, &[]);
            return USAGE;
        }
    };
    print_diagnostics(&loaded.warnings, &files);
    let write_keys = reload::WriteKeys::new(&options.write_keys, &loaded.destination.settings);
    if write_keys.is_empty() {
        eprintln!(
            "error: no write key: give the keys clients use with --write-key (or ENCHARGE_WRITE_KEYS, \
             comma-separated), or in the config as settings.write_keys"
        );
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
        seen,
        delivery_runtime.handle(),
    ));
    runtime.shutdown_timeout(Duration::from_secs(1));
    delivery_runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

struct App {
    write_keys: Arc<reload::WriteKeys>,
    queue: Arc<dyn EventQueue>,
    metrics: Arc<Metrics>,
    stats: Arc<Stats>,
    stopping: AtomicBool,
    key_rejected: AtomicBool,
    /// Refusals for lack of room are logged once a minute at most.
    refusal_log: std::sync::Mutex<Throttle>,
}

async fn serve(
    options: &ServeOptions,
    listen: SocketAddr,
    write_keys: reload::WriteKeys,
    destination: Destination,
    config_seen: reload::Fingerprint,
    delivery_runtime: &tokio::runtime::Handle,
) -> u8 {
    let api_key = crate::api_key(&destination.settings).to_owned();
    let log = match LogQueue::open(
        &options.data_dir.join("queue"),
        options.max_queue_bytes,
        options.keep_delivered,
    ) {
        Ok(q) => Arc::new(q),
        Err(e) => {
            eprintln!("error: cannot open the queue in {}: {e}", options.data_dir.display());
            return USAGE;
        }
    };
    let queue: Arc<dyn EventQueue> = Arc::clone(&log) as Arc<dyn EventQueue>;
    let max_connections = connection_cap(options);
    let listener = match bind(listen) {
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
    let pending = Arc::new(Pending::default());
    let on_done: OnDone = {
        let (pending, queue, metrics) = (Arc::clone(&pending), Arc::clone(&queue), Arc::clone(&metrics));
        Arc::new(move |job: &Job, outcome: &Outcome| ended(&pending, &*queue, &metrics, job, outcome))
    };
    let started = {
        let _on_delivery_runtime = delivery_runtime.enter();
        Delivery::start(
            client,
            &api_key,
            DeliveryOptions {
                concurrency: options.concurrency.max(1),
                retry: options.retry,
                on_done: Some(on_done),
                // A key fixed in the config is taken by a reload; the server need not stop for it.
                stop_on_rejected_key: false,
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
    let planner = {
        let ctx = Planner {
            destination: Arc::clone(&destination),
            pending: Arc::clone(&pending),
            queue: Arc::clone(&queue),
            dedupe: Dedupe::new(options.dedupe_window, options.dedupe_max_ids),
            metrics: Arc::clone(&metrics),
            stats: Arc::clone(&stats),
        };
        let handle = tokio::runtime::Handle::current();
        let stop = stop_rx.clone();
        std::thread::Builder::new()
            .name("planner".to_owned())
            .spawn(move || ctx.run(&submitter, &handle, stop))
    };
    let planner = match planner {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start the planner: {e}");
            return FAILED;
        }
    };

    let write_keys = Arc::new(write_keys);
    let app = Arc::new(App {
        write_keys: Arc::clone(&write_keys),
        queue: Arc::clone(&queue),
        metrics: Arc::clone(&metrics),
        stats: Arc::clone(&stats),
        stopping: AtomicBool::new(false),
        key_rejected: AtomicBool::new(false),
        refusal_log: std::sync::Mutex::default(),
    });
    // Acknowledgements reach their files every 100 ms; a rejected API key shows in /healthz
    // until a reload brings another.
    let housekeeping = {
        let (log, app) = (Arc::clone(&log), Arc::clone(&app));
        let mut rejected = delivery.watch_api_key_rejected();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut following = true;
            loop {
                tokio::select! {
                    _ = tick.tick() => log.flush(),
                    changed = rejected.changed(), if following => {
                        following = changed.is_ok();
                        let now = rejected.borrow_and_update().is_some();
                        if now && !app.key_rejected.swap(true, Ordering::SeqCst) {
                            tracing::error!("Encharge rejected the API key: requests are dead-lettered until it changes. Fix settings.api_key in the config (a reload takes it, no restart needed), then replay the dead letters.");
                        } else if !now && app.key_rejected.swap(false, Ordering::SeqCst) {
                            tracing::info!("Delivery resumes with the new API key.");
                        }
                    }
                }
            }
        })
    };
    let reloader = tokio::spawn(reload::reload_loop(
        options.config.clone(),
        config_seen,
        options.reload_interval,
        reload::Targets {
            destination: Arc::clone(&destination),
            write_keys,
            api_keys: delivery.api_keys(),
            metrics: Arc::clone(&metrics),
        },
    ));

    let addr = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    tracing::info!(
        listen = %addr,
        data_dir = %options.data_dir.display(),
        max_connections,
        read_timeout = ?options.read_timeout,
        "Listening."
    );
    let connections = Arc::new(Semaphore::new(max_connections));
    metrics.max_connections.store(max_connections as u64, Ordering::Relaxed);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut terminate = terminate_signal();
    let mut at_cap = Throttle::default();
    let mut accept_failed = Throttle::default();
    loop {
        // At the cap, clients wait in the listen backlog rather than being
        // refused: every connection that is idle or slow is closed within
        // --read-timeout, so a slot comes free soon unless all are busy.
        let permit = match Arc::clone(&connections).try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => {
                metrics.connections_at_limit.fetch_add(1, Ordering::Relaxed);
                if let Some(times) = at_cap.hit() {
                    tracing::warn!(
                        max_connections,
                        times,
                        "All client connections are in use: new ones wait in the listen backlog until one closes \
                         (idle and slow ones are closed after --read-timeout); see --max-connections."
                    );
                }
                let permit = tokio::select! {
                    permit = Arc::clone(&connections).acquire_owned() => permit,
                    () = &mut terminate => break,
                };
                let Ok(permit) = permit else { break };
                permit
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut terminate => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                if let Some(times) = accept_failed.hit() {
                    tracing::warn!(error = %e, times, "Cannot accept a connection; retrying.");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let shutdown = shutdown_rx.clone();
        let read_timeout = options.read_timeout;
        let metrics = Arc::clone(&metrics);
        metrics.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            http::connection(app, stream, read_timeout, shutdown).await;
            metrics.connections.fetch_sub(1, Ordering::SeqCst);
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
    while metrics.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
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
    queue.close();
    let left = pending.len();
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

/// The listen backlog asked for: a burst of connections waits here while the
/// accept loop catches up, or while all connections are in use. Linux caps it
/// at `net.core.somaxconn` (4096 by default since 5.4); tokio's own `bind` asks for 1024.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As tokio's `TcpListener::bind`: a restart may bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the open-file limit and returns the connection cap: `--max-connections`,
/// or what the limit leaves after a reserve for the queue and delivery.
fn connection_cap(options: &ServeOptions) -> usize {
    let files = limits::raise_open_file_limit();
    let limit = files.now.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    match &files.error {
        Some(e) => tracing::warn!(
            open_files = %limit,
            hard_limit = ?files.hard,
            error = %e,
            "Cannot raise the open-file limit to the hard limit; client connections are capped by it."
        ),
        None if files.was != files.now => {
            let was = files.was.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
            tracing::info!(open_files = %limit, was = %was, "Raised the open-file limit to the hard limit.");
        }
        None => tracing::info!(open_files = %limit, "Open-file limit."),
    }
    let fits = limits::auto_max_connections(files.now, options.concurrency);
    match options.max_connections {
        None => fits,
        Some(asked) if asked > fits && files.now.is_some() => {
            tracing::warn!(
                max_connections = asked,
                open_files = %limit,
                reserved = limits::reserved_files(options.concurrency),
                using = fits,
                "--max-connections is more than the open-file limit leaves after the queue's and delivery's share; \
                 using what fits (raise the hard limit, e.g. LimitNOFILE= in systemd, for more)."
            );
            fits
        }
        Some(asked) => asked.max(1),
    }
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
