//! Reload of the config on SIGHUP or when its files change.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use encharge_engine::Destination;

use super::metrics::Metrics;

/// Modification times and sizes of the config's files: a change means a reload.
/// What a config's files looked like: paths, modification times and sizes.
pub(super) type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

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

/// Reloads the config when its files differ from `seen` (taken before the
/// running config was loaded, so that no change slips in between) or on SIGHUP.
pub(super) async fn reload_loop(
    mut seen: Fingerprint,
    config: PathBuf,
    api_key: String,
    interval: Duration,
    destination: Arc<RwLock<Arc<Destination>>>,
    metrics: Arc<Metrics>,
) {
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
