//! Logs: `tracing` to stderr, one line per event. `ENCHARGE_LOG` sets the level
//! (`warn`, `info`, `debug`, or per target: `info,encharge_runner=debug`).
//!
//! While a progress bar is drawn, each log line is written above it (the bar is
//! hidden for the write) so the two do not garble each other.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, PoisonError};

use indicatif::ProgressBar;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Installs the subscriber; later calls do nothing.
pub fn init() {
    let filter = std::env::var("ENCHARGE_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(Stderr);
    let _ = tracing_subscriber::registry().with(filter).with(layer).try_init();
}

/// Shows log lines above `bar` while it is drawn; `None` when it is done.
pub fn set_bar(bar: Option<ProgressBar>) {
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = bar;
}

struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Lets a warning out the first time and then once a minute at most, with the
/// number of times it happened since: a problem that repeats under load must
/// not flood the log.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<std::time::Instant>,
    times: u64,
}

impl Throttle {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    /// Counts one occurrence; `Some(n)` when a message should go out, `n` the
    /// occurrences since the last one (this one included).
    pub fn hit(&mut self) -> Option<u64> {
        self.times += 1;
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return None;
        }
        self.last = Some(std::time::Instant::now());
        Some(std::mem::take(&mut self.times))
    }
}
