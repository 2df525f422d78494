//! `send`: plan events and deliver the requests to Encharge, or (`--replay`)
//! send the requests of a dead-letter file again.
//!
//! A reader thread reads and plans one event at a time and hands each request
//! to [`Delivery`]; the handing over waits while delivery is full, so a 1 GB
//! input runs in bounded memory. Ctrl-C stops the reading; what was handed
//! over finishes or is dead-lettered (a second Ctrl-C cuts requests in flight
//! off too), and the summary says where reading stopped.

use crate::delivery::{Names, jobs_from_planned};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use encharge_engine::{Destination, Planned};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::{FAILED, OK, USAGE};
use crate::delivery::client::{self, ClientOptions};
use crate::delivery::deadletter::{DeadLetter, DeadLetters, Reason};
use crate::delivery::order::order_key;
use crate::delivery::retry::RetryPolicy;
use crate::delivery::{
    Delivery, DeliveryOptions, Job, Origin, Request, Stats, Status, Stop, Submitter, dead_letter_unsent,
};
use crate::input::{Record, read_records};
use crate::report::print_diagnostics;

/// The dead-letter file when `--dead-letter` is not given.
pub const DEFAULT_DEAD_LETTER: &str = "dead-letters.ndjson";

/// Options of `send`.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// `--config`; the embedded presets when `None`.
    pub config: Option<PathBuf>,
    /// Event files; stdin when empty.
    pub files: Vec<PathBuf>,
    /// `--replay`: a dead-letter file to send again instead of events.
    pub replay: Option<PathBuf>,
    /// `--dead-letter`: where undeliverable requests go.
    pub dead_letter: Option<PathBuf>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// How hard each request is tried.
    pub retry: RetryPolicy,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Seconds between progress log lines when stderr is not a terminal.
    pub progress_interval: Duration,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions {
            config: None,
            files: Vec::new(),
            replay: None,
            dead_letter: None,
            concurrency: 16,
            retry: RetryPolicy::default(),
            timeout: ClientOptions::default().timeout,
            progress_interval: Duration::from_secs(10),
        }
    }
}

/// The dead-letter file to use: `--dead-letter`, else [`DEFAULT_DEAD_LETTER`], or
/// with `--replay F`, `F` with `-replay` before its extension (never F itself,
/// which is being read).
pub fn dead_letter_path(options: &SendOptions) -> PathBuf {
    if let Some(path) = &options.dead_letter {
        return path.clone();
    }
    match &options.replay {
        Some(replay) => {
            let stem = replay
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = replay
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            replay.with_file_name(format!("{stem}-replay{ext}"))
        }
        None => PathBuf::from(DEFAULT_DEAD_LETTER),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Runs `send` and returns the exit code: 0 all delivered, 1 something was not
/// (dead-lettered, invalid, interrupted), 2 bad usage, bad config or a rejected API key.
pub fn run(options: &SendOptions) -> u8 {
    crate::logging::init();
    let (loaded, config_files) = match crate::config::load_config(options.config.as_deref(), true) {
        Ok(l) => l,
        Err(problems) => {
            print_diagnostics(&problems, &[]);
            return USAGE;
        }
    };
    print_diagnostics(&loaded.warnings, &config_files);
    let dead_path = dead_letter_path(options);
    let inputs: Vec<PathBuf> = match &options.replay {
        Some(replay) => {
            if !options.files.is_empty() {
                eprintln!("error: give either --replay or event files, not both");
                return USAGE;
            }
            if same_file(replay, &dead_path) {
                eprintln!(
                    "error: the dead-letter file {} is the file being replayed; pass another with --dead-letter",
                    dead_path.display()
                );
                return USAGE;
            }
            vec![replay.clone()]
        }
        None => options.files.clone(),
    };
    for path in &inputs {
        if path != Path::new("-")
            && let Err(e) = super::open_file(path)
        {
            eprintln!("error: {e}");
            return USAGE;
        }
    }
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return FAILED;
        }
    };
    let api_key = crate::api_key(&loaded.destination.settings).to_owned();
    let dead_letters = Arc::new(DeadLetters::new(&dead_path, &api_key));
    let stats = Arc::new(Stats::default());
    let delivery_options = DeliveryOptions {
        concurrency: options.concurrency.max(1),
        retry: options.retry,
        ..DeliveryOptions::default()
    };
    let input = match &options.replay {
        Some(_) => Input::Replay,
        None => Input::Events(Arc::new(loaded.destination)),
    };
    let report = runtime.block_on(deliver(
        client,
        &api_key,
        delivery_options,
        input,
        inputs,
        Arc::clone(&dead_letters),
        Arc::clone(&stats),
        options.progress_interval,
    ));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    // Workers may still be unwinding; the summary is printed after they are gone.
    runtime.shutdown_timeout(Duration::from_secs(1));
    print_summary(&report, &stats, &dead_letters, options);
    if let Some(status) = report.rejected_key {
        eprintln!("error: {}", crate::Error::api_key_rejected(status));
        return USAGE;
    }
    let failed = Stats::get(&stats.dead_lettered) > 0
        || Stats::get(&stats.invalid) > 0
        || dead_letters.failed() > 0
        || report.interrupted;
    if failed { FAILED } else { OK }
}

enum Input {
    Events(Arc<Destination>),
    Replay,
}

/// How a run ended, besides the counters.
#[derive(Debug, Default)]
struct Report {
    /// Where reading stopped early, if it did: (file, line).
    stopped_at: Option<(String, u64)>,
    interrupted: bool,
    rejected_key: Option<u16>,
}

/// Where the reader is, and whether it should stop.
#[derive(Default)]
struct Reading {
    stop: AtomicBool,
    /// Every input was read to its end.
    complete: AtomicBool,
    position: std::sync::Mutex<(String, u64)>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
async fn deliver(
    client: reqwest::Client,
    api_key: &str,
    options: DeliveryOptions,
    input: Input,
    files: Vec<PathBuf>,
    dead_letters: Arc<DeadLetters>,
    stats: Arc<Stats>,
    progress_interval: Duration,
) -> Result<Report, crate::Error> {
    let delivery = Delivery::start(client, api_key, options, Arc::clone(&dead_letters), Arc::clone(&stats))?;
    let Some(submitter) = delivery.submitter() else {
        return Ok(Report::default());
    };
    let reading = Arc::new(Reading::default());
    let (read_done, read_finished) = tokio::sync::oneshot::channel::<()>();
    {
        let (reading, stats, dead_letters) = (Arc::clone(&reading), Arc::clone(&stats), Arc::clone(&dead_letters));
        std::thread::Builder::new().name("reader".to_owned()).spawn(move || {
            read_all(&input, &files, &submitter, &stats, &dead_letters, &reading);
            drop(submitter);
            let _ = read_done.send(());
        })?;
    }
    let progress = Progress::start(Arc::clone(&stats), progress_interval);
    let stopper = delivery.stopper();
    let after_finish = delivery.stopper();
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = {
        let (reading, interrupted) = (Arc::clone(&reading), Arc::clone(&interrupted));
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            interrupted.store(true, Ordering::SeqCst);
            reading.stop.store(true, Ordering::SeqCst);
            stopper.stop(Stop::Drain);
            tracing::warn!(
                "Interrupted: reading stopped; requests in flight finish, the rest go to the dead-letter file. Ctrl-C again to cut them off."
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                stopper.stop(Stop::Abort);
                tracing::warn!("Interrupted again: requests in flight are cut off and dead-lettered.");
            }
        })
    };
    let mut read_finished = read_finished;
    let mut stop_watch = StopWatch::new(&delivery);
    let read_all_input = tokio::select! {
        _ = &mut read_finished => true,
        _ = stop_watch.stopped() => false,
    };
    delivery.finish().await;
    // Read after the last request has ended: a 401 may come after all input was read.
    let rejected_key = after_finish.api_key_rejected();
    // After a stop the reader gives its last job back and dead-letters it; a reader
    // stuck on a terminal's stdin is left behind.
    if !read_all_input {
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut read_finished).await;
    }
    signals.abort();
    progress.finish();
    let interrupted = interrupted.load(Ordering::SeqCst);
    let stopped_at = (!reading.complete.load(Ordering::SeqCst)).then(|| {
        reading
            .position
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    });
    Ok(Report {
        stopped_at,
        interrupted,
        rejected_key,
    })
}

/// Waits for delivery to stop on its own (a rejected API key) or by Ctrl-C.
struct StopWatch(tokio::sync::watch::Receiver<Stop>);

impl StopWatch {
    fn new(delivery: &Delivery) -> StopWatch {
        StopWatch(delivery.watch_stop())
    }

    async fn stopped(&mut self) {
        let _ = self.0.wait_for(|s| *s != Stop::Running).await;
    }
}

const MAX_LOGGED_INVALID: u64 = 20;

fn read_all(
    input: &Input,
    files: &[PathBuf],
    submitter: &Submitter,
    stats: &Stats,
    dead_letters: &DeadLetters,
    reading: &Reading,
) {
    let sources: Vec<PathBuf> = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut names: Names = HashMap::new();
    let mut planned: Vec<Planned<'_>> = Vec::new();
    for path in sources {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::with_capacity(256 * 1024, std::io::stdin()))
        } else {
            match super::open_file(&path) {
                Ok(f) => Box::new(BufReader::with_capacity(256 * 1024, f)),
                Err(e) => {
                    tracing::error!(error = %e, "Cannot open the input.");
                    stats.invalid.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        };
        let mut go_on = true;
        let result = read_records(reader, |record| {
            if reading.stop.load(Ordering::Relaxed) {
                go_on = false;
                return false;
            }
            let line = match &record {
                Record::Value { line, .. } | Record::Error { line, .. } => *line,
            };
            if let Ok(mut p) = reading.position.lock() {
                p.0.clear();
                p.0.push_str(&name);
                p.1 = line;
            }
            let jobs = match record {
                Record::Error { line, message } => {
                    invalid(stats, &name, line, None, &format!("not read: {message}"));
                    return true;
                }
                Record::Value { line, value } => match input {
                    Input::Events(destination) => {
                        plan_jobs(destination, value, &name, line, stats, &mut planned, &mut names)
                    }
                    Input::Replay => replay_job(value, &name, line, stats),
                },
            };
            for job in jobs {
                stats.planned.fetch_add(1, Ordering::Relaxed);
                if let Err(job) = submitter.blocking_submit(job) {
                    // Delivery stopped (Ctrl-C or a rejected key): this one was never sent.
                    let reason = if reading.stop.load(Ordering::Relaxed) {
                        Reason::Interrupted
                    } else {
                        Reason::ApiKeyRejected
                    };
                    dead_letter_unsent(dead_letters, stats, &job, reason);
                    go_on = false;
                }
            }
            go_on
        });
        if let Err(e) = result {
            tracing::error!(file = %name, error = %e, "Cannot read the input.");
            stats.invalid.fetch_add(1, Ordering::Relaxed);
        }
        if !go_on {
            return;
        }
    }
    reading.complete.store(true, Ordering::SeqCst);
}

fn plan_jobs<'d>(
    destination: &'d Destination,
    event: Value,
    file: &Arc<str>,
    line: u64,
    stats: &Stats,
    planned: &mut Vec<Planned<'d>>,
    names: &mut Names,
) -> Vec<Job> {
    stats.events.fetch_add(1, Ordering::Relaxed);
    planned.clear();
    if let Err(e) = destination.plan(&event, planned) {
        invalid(stats, file, line, None, &e.message);
        return Vec::new();
    }
    if planned.is_empty() {
        return Vec::new();
    }
    let key = order_key(&event);
    let origin = Arc::new(Origin {
        file: Some(Arc::clone(file)),
        line: Some(line),
        event: serde_json::to_string(&event).ok().map(String::into_boxed_str),
    });
    drop(event);
    jobs_from_planned(
        planned,
        names,
        &key,
        &origin,
        |_| {},
        |subscription, message| invalid(stats, file, line, subscription, message),
    )
}

fn replay_job(value: Value, file: &Arc<str>, line: u64, stats: &Stats) -> Vec<Job> {
    stats.events.fetch_add(1, Ordering::Relaxed);
    let letter: DeadLetter = match serde_json::from_value(value) {
        Ok(l) => l,
        Err(e) => {
            invalid(stats, file, line, None, &format!("not a dead letter: {e}"));
            return Vec::new();
        }
    };
    let subscription: Arc<str> = Arc::from(letter.subscription.as_str());
    match Request::from_stored(&letter.request) {
        Ok(request) => vec![Job {
            request,
            key: letter.user.as_deref().map(Arc::from),
            subscription,
            action: Arc::from(letter.action.as_str()),
            origin: Arc::new(Origin {
                file: letter.file.as_deref().map(Arc::from),
                line: letter.line,
                event: letter.event.map(|e| e.to_string().into_boxed_str()),
            }),
        }],
        Err(e) => {
            invalid(stats, file, line, Some(&subscription), &e.to_string());
            Vec::new()
        }
    }
}

/// The subscription name events that fail before any subscription are counted under.
const INPUT: &str = "(input)";

fn invalid(stats: &Stats, file: &str, line: u64, subscription: Option<&Arc<str>>, message: &str) {
    let n = stats.invalid.fetch_add(1, Ordering::Relaxed) + 1;
    let name: Arc<str> = subscription.map_or_else(|| Arc::from(INPUT), Arc::clone);
    stats.count(&name, Status::Invalid);
    if n <= MAX_LOGGED_INVALID {
        tracing::warn!(file, line, subscription = %name, error = message, "Event not sent: nothing valid to send.");
    }
    if n == MAX_LOGGED_INVALID {
        tracing::warn!("More events that cannot be sent are counted in the summary, not logged.");
    }
}

/// The progress bar (on a terminal) or periodic log lines.
struct Progress {
    bar: Option<ProgressBar>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(stats: Arc<Stats>, interval: Duration) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
            if let Ok(style) = ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {msg}") {
                bar.set_style(style);
            }
            crate::logging::set_bar(Some(bar.clone()));
            let shown = bar.clone();
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(125));
                loop {
                    tick.tick().await;
                    shown.set_message(progress_line(&stats));
                    shown.tick();
                }
            });
            Progress { bar: Some(bar), task }
        } else {
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    tracing::info!(
                        events = Stats::get(&stats.events),
                        sent = Stats::get(&stats.attempts),
                        delivered = Stats::get(&stats.delivered),
                        retries = Stats::get(&stats.retries),
                        failed = Stats::get(&stats.dead_lettered) + Stats::get(&stats.invalid),
                        rate = format!("{:.0}/s", rate(&stats)),
                        "Progress."
                    );
                }
            });
            Progress { bar: None, task }
        }
    }

    fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            crate::logging::set_bar(None);
            bar.finish_and_clear();
        }
    }
}

fn rate(stats: &Stats) -> f64 {
    let secs = stats.started.elapsed().as_secs_f64().max(0.001);
    Stats::get(&stats.delivered) as f64 / secs
}

fn progress_line(stats: &Stats) -> String {
    format!(
        "events read {} · requests sent {} · delivered {} · retries {} · failed {} · {:.0} req/s",
        Stats::get(&stats.events),
        Stats::get(&stats.attempts),
        Stats::get(&stats.delivered),
        Stats::get(&stats.retries),
        Stats::get(&stats.dead_lettered) + Stats::get(&stats.invalid),
        rate(stats)
    )
}

fn print_summary(report: &Report, stats: &Stats, dead_letters: &DeadLetters, options: &SendOptions) {
    let replay = options.replay.is_some();
    let rows = stats.by_subscription();
    let mut out = std::io::stdout().lock();
    let width = rows
        .iter()
        .map(|(s, _, _)| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    let status_width = rows
        .iter()
        .map(|(_, st, _)| st.to_string().chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let _ = writeln!(
        out,
        "{:<width$}  {:<status_width$}  {:>8}",
        "subscription", "status", "requests"
    );
    for (subscription, status, n) in &rows {
        let _ = writeln!(
            out,
            "{subscription:<width$}  {:<status_width$}  {n:>8}",
            status.to_string()
        );
    }
    let elapsed = stats.started.elapsed().as_secs_f64();
    let what = if replay { "dead letters read" } else { "events read" };
    let _ = writeln!(
        out,
        "\n{} {what}; {} requests: {} delivered, {} dead-lettered; {} not sent (invalid); {} retries; {:.1} s, {:.0} requests/s.",
        Stats::get(&stats.events),
        Stats::get(&stats.planned),
        Stats::get(&stats.delivered),
        Stats::get(&stats.dead_lettered),
        Stats::get(&stats.invalid),
        Stats::get(&stats.retries),
        elapsed,
        Stats::get(&stats.delivered) as f64 / elapsed.max(0.001),
    );
    if let Some((file, line)) = &report.stopped_at {
        let _ = writeln!(
            out,
            "Stopped early: reading stopped at {file}, line {line}; what follows was not read."
        );
    } else if report.interrupted {
        let _ = writeln!(out, "Interrupted after the whole input was read.");
    }
    let written = dead_letters.written();
    if written > 0 {
        let path = dead_letters.path().display();
        let config = options
            .config
            .as_ref()
            .map(|c| format!(" --config {}", c.display()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{written} dead letters written to {path}; send them again with: encharge-actions send{config} --replay {path}"
        );
    }
    if dead_letters.failed() > 0 {
        let _ = writeln!(
            out,
            "{} dead letters could not be written to the file and were printed on stderr.",
            dead_letters.failed()
        );
    }
}
