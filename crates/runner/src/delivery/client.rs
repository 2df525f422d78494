//! The one place an HTTP client is made (clippy's `disallowed-methods` bans the
//! others), so every request gets the same timeouts and connection pool.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Timeouts and pool size of the client.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// Whole request, connecting to the last byte of the answer. A slower answer
    /// counts as a timeout and is retried.
    pub timeout: Duration,
    /// Connecting (TCP and TLS).
    pub connect_timeout: Duration,
    /// Idle connections kept per host: one per concurrent request, so a run reuses
    /// its connections instead of opening one per request.
    pub max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 64,
        }
    }
}

/// The user agent Encharge sees.
pub const USER_AGENT: &str = concat!("encharge-actions/", env!("CARGO_PKG_VERSION"));

/// Builds the client: HTTP/1.1 with keep-alive, rustls (ring) with the system's roots.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one constructor the lint points to"
)]
pub fn build(options: &ClientOptions) -> Result<reqwest::Client, Error> {
    // reqwest is built without a crypto provider of its own (see Cargo.toml); a
    // second install fails harmlessly when one is already there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .pool_max_idle_per_host(options.max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(50))
        .tcp_nodelay(true)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| Error::new(ErrorKind::Config, format!("cannot set up the HTTP client: {e}")))
}
