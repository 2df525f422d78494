//! Open files and the connection cap.
//!
//! Every client connection holds a file descriptor, and the soft limit on open
//! files is often 1024 while the hard one is far higher (systemd: 524288), so
//! `serve` raises the soft limit to the hard one at start, as nginx's
//! `worker_rlimit_nofile` or Go's runtime do. The connection cap is then sized
//! from it, keeping a reserve for everything else the process opens; without
//! the reserve, a crowd of clients would take the descriptors the queue and
//! delivery need, and an event already answered 200 could not be delivered.

/// Client connections at most when `--max-connections` is not given, whatever
/// the open-file limit: each idle or slow connection costs some memory (see the
/// README), and this keeps the total bounded.
pub const AUTO_MAX_CONNECTIONS: usize = 32_768;

/// The soft limit asked for when the hard one is unlimited (Linux refuses an
/// unlimited soft limit on open files; this is more than `AUTO_MAX_CONNECTIONS` needs).
#[cfg(unix)]
const UNLIMITED_TARGET: u64 = 1 << 20;

/// The limit on open files (RLIMIT_NOFILE) before and after [`raise_open_file_limit`].
#[derive(Debug)]
pub struct OpenFiles {
    /// The soft limit found at start (`None`: unlimited, or no such limit on this system).
    pub was: Option<u64>,
    /// The soft limit now (`None`: unlimited).
    pub now: Option<u64>,
    /// The hard limit (`None`: unlimited or unknown).
    pub hard: Option<u64>,
    /// Why the soft limit could not be raised.
    pub error: Option<std::io::Error>,
}

/// Raises this process's soft limit on open files to its hard limit.
#[cfg(unix)]
pub fn raise_open_file_limit() -> OpenFiles {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let mut files = OpenFiles {
        was: current,
        now: current,
        hard: maximum,
        error: None,
    };
    let target = maximum.unwrap_or(UNLIMITED_TARGET);
    if current.is_none_or(|c| c >= target) {
        return files;
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum,
        },
    ) {
        Ok(()) => files.now = Some(target),
        Err(e) => files.error = Some(e.into()),
    }
    files
}

/// Raises this process's soft limit on open files to its hard limit (nothing to do here).
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> OpenFiles {
    OpenFiles {
        was: None,
        now: None,
        hard: None,
        error: None,
    }
}

/// Descriptors kept for all but client connections: stdio, the runtime's
/// poller and wakers, the listener, queue segments and their `.acks` files,
/// the config files read at each reload, the dead-letter file, and the
/// connections to Encharge (`concurrency` in use and as many idle in the pool).
pub fn reserved_files(concurrency: usize) -> u64 {
    256 + 2 * concurrency as u64
}

/// The connection cap when `--max-connections` is not given: what the
/// open-file limit (`None`: unlimited) leaves after the reserve, at most
/// [`AUTO_MAX_CONNECTIONS`].
pub fn auto_max_connections(open_files: Option<u64>, concurrency: usize) -> usize {
    let Some(limit) = open_files else {
        return AUTO_MAX_CONNECTIONS;
    };
    let left = limit.saturating_sub(reserved_files(concurrency));
    usize::try_from(left)
        .unwrap_or(usize::MAX)
        .clamp(1, AUTO_MAX_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_and_a_ceiling() {
        assert_eq!(auto_max_connections(Some(20_000), 64), 20_000 - 384);
        assert_eq!(auto_max_connections(Some(1024), 64), 640);
        assert_eq!(auto_max_connections(Some(100), 64), 1);
        assert_eq!(auto_max_connections(Some(1 << 20), 64), AUTO_MAX_CONNECTIONS);
        assert_eq!(auto_max_connections(None, 64), AUTO_MAX_CONNECTIONS);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let files = raise_open_file_limit();
        assert!(files.error.is_none(), "{:?}", files.error);
        if let Some(hard) = files.hard {
            assert_eq!(files.now, Some(hard));
        }
    }
}
