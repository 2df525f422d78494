//! The HTTP side of `serve`: routing, checks, answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::App;
use super::ingest::{self, Refusal};
use super::queue::AppendError;

/// Serves one client connection (keep-alive, HTTP/1.1) until it closes, or
/// until `shutdown` fires and the request in progress is answered.
///
/// Slow and idle clients are bounded by `read_timeout`: a connection that sends
/// nothing for that long is closed; once it has started, its headers must be in
/// within `read_timeout` (hyper's `header_read_timeout`, which in hyper 1.x also
/// runs while a keep-alive connection waits for its next request, so an idle one
/// is closed after `read_timeout` too), and then its body ([`ingest_request`]).
pub(super) async fn connection(
    app: Arc<App>,
    stream: TcpStream,
    read_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // hyper allocates about 16 KiB of buffers per connection up front; waiting
    // for the first byte (a peek, into the stack) keeps a connection that only
    // sits there at about 2 KiB, which is what a crowd of idle clients costs.
    let mut first = [0u8; 1];
    let started = tokio::select! {
        peeked = tokio::time::timeout(read_timeout, stream.peek(&mut first)) => matches!(peeked, Ok(Ok(1..))),
        _ = shutdown.wait_for(|s| *s) => false,
    };
    if !started {
        return;
    }
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
}

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

fn not_found(app: &App) -> Answer {
    json_answer(app, 404, &json!({"success": false, "message": "not found"}))
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
    if req.method() == Method::GET || req.method() == Method::HEAD {
        match path.as_str() {
            "/healthz" | "/health" => {
                return Ok(if app.stopping.load(Ordering::SeqCst) {
                    json_answer(&app, 503, &json!({"ok": false, "message": "stopping"}))
                } else if app.key_rejected.load(Ordering::SeqCst) {
                    json_answer(
                        &app,
                        503,
                        &json!({"ok": false, "message": "Encharge rejected the API key"}),
                    )
                } else {
                    json_answer(&app, 200, &json!({"ok": true}))
                });
            }
            "/metrics" => {
                let text = app.metrics.render(&app.stats, app.queue.stats());
                return Ok(answer(&app, 200, "text/plain; version=0.0.4", text));
            }
            _ => {}
        }
    }
    let Some(kind) = path_type(&path) else {
        return Ok(not_found(&app));
    };
    if req.method() != Method::POST {
        let message = format!("{path} takes POST, not {}", req.method());
        let mut response = json_answer(&app, 405, &json!({"success": false, "message": message}));
        response
            .headers_mut()
            .insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
        return Ok(response);
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
        // A body not much over the limit is read and dropped first: closing on unread
        // bytes resets the connection, and the client would see that instead of the 413.
        if length <= 4 * ingest::MAX_BATCH_BYTES {
            let drain = Limited::new(req.into_body(), length).collect();
            let _ = tokio::time::timeout(read_timeout, drain).await;
        }
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
    let body = match ingest::parse(&body) {
        Ok(b) => b,
        Err(r) => return refuse(app, &r),
    };
    // The key is checked before the events are: a request that is not allowed in
    // costs no more than reading its body.
    if auth_user.is_none() {
        match &body.write_key {
            Some(k) if app.write_keys.contains(k) => {}
            Some(_) => return unauthorized(app, "invalid write key"),
            None => return unauthorized(app, "no write key: send it as the Basic auth user name"),
        }
    }
    let events = match ingest::events(kind, body, unix_ms()) {
        Ok(e) => e,
        Err(r) => return refuse(app, &r),
    };
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
            Some(_) => "no event in the batch is valid".to_owned(),
            None => "the batch is empty".to_owned(),
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
    if let Err(e) = app.queue.append(events.lines, count).await {
        let refusals = app
            .refusal_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .hit();
        let message = match e {
            AppendError::Full { .. } => {
                if let Some(refusals) = refusals {
                    tracing::warn!(error = %e, refusals, "Queue full: refusing events until delivery catches up (logged once a minute at most).");
                }
                "the queue is full while delivery catches up; retry later"
            }
            AppendError::Io(_) | AppendError::Closed => {
                if let Some(refusals) = refusals {
                    tracing::error!(error = %e, refusals, "Cannot queue events (logged once a minute at most).");
                }
                "the events could not be stored; retry later"
            }
        };
        app.metrics.rejected("not_stored", count);
        let mut response = json_answer(app, 503, &json!({"success": false, "message": message}));
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("5"));
        return response;
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
