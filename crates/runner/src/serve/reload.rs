//! Reload of the config on SIGHUP or when its files change.
//!
//! A new config replaces the subscriptions, the write keys clients may use and
//! the API key at once, without a restart: a key Encharge rejected can be fixed
//! in the file, and a leaked write key revoked, while events keep coming in.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use encharge_engine::Destination;
use encharge_engine::actions::Settings;

use super::metrics::Metrics;
use crate::delivery::ApiKeys;

/// The write keys clients may use: those of `--write-key` (and `ENCHARGE_WRITE_KEYS`),
/// which stay, and the config's `settings.write_keys`, which a reload replaces.
pub(super) struct WriteKeys {
    flags: Vec<String>,
    /// Read on every request, written on a reload: a shared lock held for one lookup.
    accepted: RwLock<HashSet<String>>,
}

impl WriteKeys {
    pub(super) fn new(flags: &[String], settings: &Settings) -> WriteKeys {
        let flags: Vec<String> = flags.iter().filter(|k| !k.is_empty()).cloned().collect();
        let accepted = union(&flags, settings);
        WriteKeys {
            flags,
            accepted: RwLock::new(accepted),
        }
    }

    /// Whether a client may use `key`.
    pub(super) fn contains(&self, key: &str) -> bool {
        self.accepted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    /// Whether no key at all is accepted (no client could send).
    pub(super) fn is_empty(&self) -> bool {
        self.accepted.read().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// The keys a config with `settings` would leave accepted.
    fn with(&self, settings: &Settings) -> HashSet<String> {
        union(&self.flags, settings)
    }

    /// Accepts `keys` from now on, and no others; returns whether that changed anything.
    fn replace(&self, keys: HashSet<String>) -> bool {
        let mut accepted = self.accepted.write().unwrap_or_else(PoisonError::into_inner);
        if *accepted == keys {
            return false;
        }
        let old = std::mem::replace(&mut *accepted, keys);
        // Requests wait on the lock only for the swap, not for freeing the old set.
        drop(accepted);
        drop(old);
        true
    }
}

fn union(flags: &[String], settings: &Settings) -> HashSet<String> {
    flags
        .iter()
        .cloned()
        .chain(settings.write_keys.iter().map(|k| k.expose().to_owned()))
        .collect()
}

/// What a reload replaces.
pub(super) struct Targets {
    pub(super) destination: Arc<RwLock<Arc<Destination>>>,
    pub(super) write_keys: Arc<WriteKeys>,
    pub(super) api_keys: ApiKeys,
    pub(super) metrics: Arc<Metrics>,
}

/// Modification times and sizes of the config's files: a change means a reload.
pub(super) type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// The [`Fingerprint`] of the config at `path` now.
pub(super) fn fingerprint(path: &Path) -> Fingerprint {
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

/// Reloads the config on SIGHUP, or when its files differ from `seen`. `seen` is taken before
/// the running config was read: taken when this task starts, it would miss an edit made while
/// the server was starting (the queue opening, say).
pub(super) async fn reload_loop(config: PathBuf, mut seen: Fingerprint, interval: Duration, targets: Targets) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
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
        let loaded = tokio::task::spawn_blocking(move || crate::config::load_serve_config(&path)).await;
        match loaded {
            Ok(Ok((loaded, _))) => {
                for w in &loaded.warnings {
                    tracing::warn!(warning = %w, "Config warning.");
                }
                apply(why, loaded.destination, &targets);
            }
            Ok(Err(problems)) => {
                targets.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
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
                targets.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "Config reload failed.");
            }
        }
    }
}

/// Puts a loaded config in place: all of it, or (when its keys cannot be used) none of it.
fn apply(why: &str, destination: Destination, targets: &Targets) {
    let metrics = &targets.metrics;
    let write_keys = targets.write_keys.with(&destination.settings);
    if write_keys.is_empty() {
        metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            why,
            "The new config has no write key and none was given with --write-key: no client could send. \
             The old one keeps running."
        );
        return;
    }
    match targets.api_keys.set(crate::api_key(&destination.settings)) {
        Ok(true) => tracing::info!("The API key changed; requests go out with the new one."),
        Ok(false) => {}
        Err(e) => {
            metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(why, error = %e, "The new config does not load; the old one keeps running.");
            return;
        }
    }
    let accepted = write_keys.len();
    if targets.write_keys.replace(write_keys) {
        tracing::info!(write_keys = accepted, "The accepted write keys changed.");
    }
    let subscriptions = destination.subscriptions.len();
    *targets.destination.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(destination);
    metrics.reloads.fetch_add(1, Ordering::Relaxed);
    tracing::info!(why, subscriptions, "Config reloaded.");
}
