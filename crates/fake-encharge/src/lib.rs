//! A server that plays Encharge for tests and benches: real HTTP/1.1 over a
//! real socket on `127.0.0.1`, every request recorded, faults injected on demand.
//!
//! It answers what the delivery code calls: `POST /v1` (ingest), `POST` and
//! `DELETE /v1/tags`, `DELETE /v1/people`, `GET /v1/accounts/info` and
//! `GET /v1/schemas`. [`Faults`] turns on the ways the real service fails:
//! a fraction of 500s, connections closed before any answer, answers slower
//! than the client's timeout, 429s with `Retry-After`, a rate limit, 401s for a
//! wrong API key, and chosen 4xx answers for requests whose body contains a
//! string. The dice are seeded, so a test sees the same faults for the same
//! requests in the same order.
//!
//! The server runs on its own thread and tokio runtime, so synchronous tests
//! (which run the `encharge-actions` binary) and async ones use it alike.
//!
//! ```
//! use fake_encharge::{FakeEncharge, Faults};
//!
//! let server = FakeEncharge::start(Faults::default()).unwrap();
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.requests().len(), 0);
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;

/// The header that carries the API key.
pub const TOKEN_HEADER: &str = "x-encharge-token";

/// The faults to inject. The default is a healthy server.
///
/// Checks run in this order: API key, [`Faults::reject`], [`Faults::throttle_first`],
/// [`Faults::rate_limit`], [`Faults::drop_rate`], [`Faults::error_rate`],
/// [`Faults::slow_rate`]; then [`Faults::latency`] and the normal answer.
#[derive(Debug, Clone)]
pub struct Faults {
    /// When set, a request whose `X-Encharge-Token` differs gets 401.
    pub api_key: Option<String>,
    /// Requests whose body or path contains `needle` get this answer.
    pub reject: Vec<Rejection>,
    /// The first N requests get 429 with [`Faults::retry_after`].
    pub throttle_first: u64,
    /// `Retry-After` sent with 429s (seconds or an HTTP date); none when `None`.
    pub retry_after: Option<String>,
    /// At most this many requests per second (a fixed one-second window); the rest get
    /// 429 with `Retry-After: 1`.
    pub rate_limit: Option<u64>,
    /// Fraction of requests whose connection is closed before any answer.
    pub drop_rate: f64,
    /// Fraction of requests answered 500.
    pub error_rate: f64,
    /// Fraction of requests answered only after [`Faults::slow_delay`].
    pub slow_rate: f64,
    /// How late the slow answers come.
    pub slow_delay: Duration,
    /// Every answer waits this long first (network and server time).
    pub latency: Duration,
    /// Seed of the dice.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            api_key: None,
            reject: Vec::new(),
            throttle_first: 0,
            retry_after: None,
            rate_limit: None,
            drop_rate: 0.0,
            error_rate: 0.0,
            slow_rate: 0.0,
            slow_delay: Duration::ZERO,
            latency: Duration::ZERO,
            seed: 7,
        }
    }
}

/// A chosen answer for some requests.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Requests whose body or path contains this string get the answer.
    pub needle: String,
    /// The status, e.g. 400.
    pub status: u16,
    /// The response body.
    pub body: String,
}

/// What the server did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It answered with this status.
    Status(u16),
    /// It closed the connection without answering.
    Dropped,
}

impl Answer {
    /// Whether the request was accepted (2xx).
    pub fn is_success(self) -> bool {
        matches!(self, Answer::Status(s) if (200..300).contains(&s))
    }
}

/// One request as received.
#[derive(Clone)]
pub struct Recorded {
    /// Arrival order, from 0.
    pub seq: u64,
    /// When its body had been read.
    pub at: Instant,
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// Path and query, e.g. `/v1/people?people[0][userId]=u1`.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// What the server answered.
    pub answer: Answer,
}

impl Recorded {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded")
            .field("seq", &self.seq)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("answer", &self.answer)
            .finish()
    }
}

struct State {
    faults: Mutex<Faults>,
    dice: Mutex<fastrand::Rng>,
    recorded: Mutex<Vec<Recorded>>,
    record: bool,
    seq: AtomicU64,
    accepted: AtomicU64,
    window: Mutex<(Instant, u64)>,
    object_types: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a lock should not hide its own message
    // behind a poisoned lock here.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running server. Dropping it stops it.
pub struct FakeEncharge {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeEncharge {
    /// Starts a server on `127.0.0.1` and a free port that records every request.
    pub fn start(faults: Faults) -> io::Result<FakeEncharge> {
        FakeEncharge::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), faults, true)
    }

    /// Starts a server that only counts requests (for benches that send millions).
    pub fn start_counting(faults: Faults) -> io::Result<FakeEncharge> {
        FakeEncharge::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), faults, false)
    }

    /// Starts a server on `addr`; `record` keeps every request, else they are only counted.
    pub fn start_on(addr: SocketAddr, faults: Faults, record: bool) -> io::Result<FakeEncharge> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            dice: Mutex::new(fastrand::Rng::with_seed(faults.seed)),
            faults: Mutex::new(faults),
            recorded: Mutex::new(Vec::new()),
            record,
            seq: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            window: Mutex::new((Instant::now(), 0)),
            object_types: Mutex::new(vec!["company".to_owned()]),
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = oneshot::channel();
        let served = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("fake-encharge".to_owned())
            .spawn(move || runtime.block_on(serve(listener, served, stopped)))?;
        Ok(FakeEncharge {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: the REST API base (`settings.api_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: the ingest endpoint (`settings.ingest_url`).
    pub fn ingest_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the faults from now on (e.g. a healthy server for a replay).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.state.dice) = fastrand::Rng::with_seed(faults.seed);
        *lock(&self.state.faults) = faults;
    }

    /// The object types `GET /v1/schemas` lists (default: `company`).
    pub fn set_object_types(&self, types: &[&str]) {
        *lock(&self.state.object_types) = types.iter().map(|t| (*t).to_owned()).collect();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.recorded).clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Recorded> {
        lock(&self.state.recorded)
            .iter()
            .filter(|r| r.answer.is_success())
            .cloned()
            .collect()
    }

    /// How many requests arrived.
    pub fn received(&self) -> u64 {
        self.state.seq.load(Ordering::Relaxed)
    }

    /// How many were answered 2xx.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FakeEncharge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, state: Arc<State>, mut stopped: oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&state), req));
            // An error here is a connection we dropped on purpose, or a client that went away.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why the service refused to answer: hyper then closes the connection without a response.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

enum Plan {
    Answer {
        status: u16,
        body: String,
        retry_after: Option<String>,
        delay: Duration,
    },
    Drop,
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let seq = state.seq.fetch_add(1, Ordering::Relaxed);
    let at = Instant::now();
    let plan = decide(&state, seq, &method, &path, &headers, &body);
    let answer = match &plan {
        Plan::Answer { status, .. } => Answer::Status(*status),
        Plan::Drop => Answer::Dropped,
    };
    if answer.is_success() {
        state.accepted.fetch_add(1, Ordering::Relaxed);
    }
    if state.record {
        lock(&state.recorded).push(Recorded {
            seq,
            at,
            method,
            path,
            headers,
            body,
            answer,
        });
    }
    match plan {
        Plan::Drop => Err(Dropped),
        Plan::Answer {
            status,
            body,
            retry_after,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let h = response.headers_mut();
            h.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            if let Some(value) = retry_after.and_then(|v| hyper::header::HeaderValue::from_str(&v).ok()) {
                h.insert(hyper::header::RETRY_AFTER, value);
            }
            Ok(response)
        }
    }
}

fn decide(state: &State, seq: u64, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Plan {
    let faults = lock(&state.faults).clone();
    let answer = |status: u16, body: &str| Plan::Answer {
        status,
        body: body.to_owned(),
        retry_after: None,
        delay: faults.latency,
    };
    if let Some(key) = &faults.api_key {
        let token = headers.iter().find(|(n, _)| n == TOKEN_HEADER).map(|(_, v)| v.as_str());
        if token != Some(key.as_str()) {
            return answer(401, r#"{"error":{"message":"Invalid API key."}}"#);
        }
    }
    let text = String::from_utf8_lossy(body);
    if let Some(r) = faults
        .reject
        .iter()
        .find(|r| text.contains(&r.needle) || path.contains(&r.needle))
    {
        return answer(r.status, &r.body);
    }
    if seq < faults.throttle_first {
        return Plan::Answer {
            status: 429,
            body: r#"{"error":{"message":"Too many requests."}}"#.to_owned(),
            retry_after: faults.retry_after.clone(),
            delay: faults.latency,
        };
    }
    if let Some(limit) = faults.rate_limit {
        let mut window = lock(&state.window);
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > limit {
            return Plan::Answer {
                status: 429,
                body: r#"{"error":{"message":"Rate limit exceeded."}}"#.to_owned(),
                retry_after: Some("1".to_owned()),
                delay: faults.latency,
            };
        }
    }
    let (drop, error, slow) = {
        let mut dice = lock(&state.dice);
        (dice.f64(), dice.f64(), dice.f64())
    };
    if drop < faults.drop_rate {
        return Plan::Drop;
    }
    if error < faults.error_rate {
        return answer(500, r#"{"error":{"message":"Internal server error."}}"#);
    }
    let delay = if slow < faults.slow_rate {
        faults.slow_delay
    } else {
        faults.latency
    };
    let (status, body) = route(state, method, path);
    Plan::Answer {
        status,
        body,
        retry_after: None,
        delay,
    }
}

fn route(state: &State, method: &str, path: &str) -> (u16, String) {
    let route = path.split('?').next().unwrap_or(path);
    match (method, route) {
        ("POST", "/v1") | ("POST" | "DELETE", "/v1/tags") | ("DELETE", "/v1/people") => {
            (200, r#"{"success":true}"#.to_owned())
        }
        ("GET", "/v1/accounts/info") => (
            200,
            r#"{"account":{"accountId":1,"name":"Fake Encharge","site":"example.com"}}"#.to_owned(),
        ),
        ("GET", "/v1/schemas") => {
            let objects: Vec<Value> = lock(&state.object_types)
                .iter()
                .map(|name| serde_json::json!({ "name": name, "displayNameSingular": name }))
                .collect();
            (200, serde_json::json!({ "objects": objects }).to_string())
        }
        _ => (404, r#"{"error":{"message":"Not found."}}"#.to_owned()),
    }
}

/// Parses `--name value` arguments of the `fake-encharge` binary into faults.
pub fn faults_from_args(args: &[String]) -> Result<(Faults, u16), String> {
    let mut faults = Faults::default();
    let mut port = 0u16;
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let number = |v: String| v.parse::<f64>().map_err(|e| format!("{name}: {e}"));
        let duration = |v: String| humantime::parse_duration(&v).map_err(|e| format!("{name}: {e}"));
        match name.as_str() {
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--api-key" => faults.api_key = Some(value()?),
            "--error-rate" => faults.error_rate = number(value()?)?,
            "--drop-rate" => faults.drop_rate = number(value()?)?,
            "--slow-rate" => faults.slow_rate = number(value()?)?,
            "--slow-delay" => faults.slow_delay = duration(value()?)?,
            "--latency" => faults.latency = duration(value()?)?,
            "--rate-limit" => faults.rate_limit = Some(value()?.parse().map_err(|e| format!("{name}: {e}"))?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((faults, port))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn exchange(server: &FakeEncharge, request: &str) -> String {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    const POST: &str =
        "POST /v1 HTTP/1.1\r\nhost: x\r\nx-encharge-token: k\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";

    #[test]
    fn a_dropped_connection_gets_no_answer_at_all() {
        let server = FakeEncharge::start(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
        assert_eq!(exchange(&server, POST), "");
        assert_eq!(server.requests()[0].answer, Answer::Dropped);
    }

    #[test]
    fn faults_in_their_order() {
        let server = FakeEncharge::start(Faults {
            api_key: Some("k".to_owned()),
            throttle_first: 1,
            retry_after: Some("2".to_owned()),
            ..Faults::default()
        })
        .unwrap();
        let first = exchange(&server, POST);
        assert!(first.starts_with("HTTP/1.1 429"), "{first}");
        assert!(first.to_ascii_lowercase().contains("retry-after: 2"), "{first}");
        assert!(exchange(&server, POST).starts_with("HTTP/1.1 200"));
        let wrong = POST.replace("x-encharge-token: k", "x-encharge-token: nope");
        assert!(exchange(&server, &wrong).starts_with("HTTP/1.1 401"));
        let recorded = server.requests();
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded[1].json(), Some(serde_json::json!({})));
        assert_eq!(recorded[1].header("X-Encharge-Token"), Some("k"));
        assert_eq!((server.received(), server.accepted()), (3, 1));
    }
}
