//! `serve` over real sockets: the `encharge-actions` binary as a child process,
//! `fake-encharge` as Encharge, and a plain HTTP/1.1 client written here so that
//! tests can send exactly the bytes they mean (bad gzip, a slow client).
//!
//! No test asserts an upper bound on time; waits are bounded loops that fail
//! with what they saw.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_encharge::{FakeEncharge, Faults};
use serde_json::{Value, json};

const API_KEY: &str = "ek_test_serve_Hq3vL9";
const WRITE_KEY: &str = "wk_test_serve";
/// A write key the server's environment holds, for `${VAR}` in `settings.write_keys`.
const ENV_WRITE_KEY_VAR: &str = "SERVE_TEST_WRITE_KEY";
const ENV_WRITE_KEY: &str = "wk_test_from_env";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_encharge-actions")
}

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("encharge-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The embedded presets with their URLs pointed at the server.
fn presets_at(server: &FakeEncharge) -> String {
    encharge_runner::config::PRESETS.replace(
        "  api_key: ${ENCHARGE_API_KEY}\n",
        &format!(
            "  api_key: ${{ENCHARGE_API_KEY}}\n  ingest_url: {}\n  api_url: {}\n",
            server.ingest_url(),
            server.url()
        ),
    )
}

fn config_text(server: &FakeEncharge, extra: &str) -> String {
    format!("{}{extra}", presets_at(server))
}

/// The presets pointed at the server, with `api_key` (YAML) and more `settings` lines.
fn config_with_settings(server: &FakeEncharge, api_key: &str, settings: &str) -> String {
    presets_at(server).replace(
        "  api_key: ${ENCHARGE_API_KEY}\n",
        &format!("  api_key: {api_key}\n{settings}"),
    )
}

/// A running `serve`; killed when dropped.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` with `--write-key WRITE_KEY`.
fn start(dir: &Path, config: &Path, port: u16, extra: &[&str]) -> Serve {
    start_keys(dir, config, port, &[&["--write-key", WRITE_KEY], extra].concat())
}

/// Starts `serve` with only the write keys in `args` and in the config.
fn start_keys(dir: &Path, config: &Path, port: u16, args: &[&str]) -> Serve {
    start_as(Command::new(bin()), dir, config, port, args)
}

/// Starts `serve` from `command`: the binary, or a wrapper that ends in it.
fn start_as(mut command: Command, dir: &Path, config: &Path, port: u16, args: &[&str]) -> Serve {
    let log = dir.join(format!("serve-{}.log", fastrand_suffix()));
    let child = command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .args(["--backoff", "20ms", "--reload-interval", "100ms"])
        .args(args)
        .env("ENCHARGE_API_KEY", API_KEY)
        .env(ENV_WRITE_KEY_VAR, ENV_WRITE_KEY)
        .env_remove("ENCHARGE_WRITE_KEYS")
        .env("ENCHARGE_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let serve = Serve {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    };
    wait_for(&serve, "the server to answer /healthz", || {
        get(serve.addr, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    serve
}

fn fastrand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn wait_for(serve: &Serve, what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..600 {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(&serve.log).unwrap_or_default();
    panic!("waited 30 s for {what}; server log:\n{log}");
}

/// One request on its own connection: (status, body).
fn http(addr: SocketAddr, head: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) and close before reading a body it refuses; the write then
    // fails, but the answer is there to read, as HTTP clients do.
    let _ = stream.write_all(body);
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    let code = status.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((code, String::from_utf8_lossy(&body).into_owned()))
}

fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        b"",
    )
}

fn basic(key: &str) -> String {
    // base64 of "key:" without a dependency.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{key}:").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    http(addr, &head, body).expect("an answer")
}

fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, String) {
    post_as(addr, WRITE_KEY, path, body)
}

fn post_as(addr: SocketAddr, write_key: &str, path: &str, body: &Value) -> (u16, String) {
    let auth = basic(write_key);
    post(
        addr,
        path,
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn sample_events() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/analytics-python.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What `map` plans for the events in `files`, as (method, path, body) counts.
fn planned(config: &Path, files: &[PathBuf]) -> BTreeMap<String, usize> {
    let out = Command::new(bin())
        .args(["map", "--config"])
        .arg(config)
        .args(files)
        .env("ENCHARGE_API_KEY", API_KEY)
        .output()
        .unwrap();
    let mut counts = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(r) = v.get("request") else { continue };
        let url = r["url"].as_str().unwrap();
        let path = &url[url.find("/v1").unwrap()..];
        *counts
            .entry(format!("{} {path} {}", r["method"].as_str().unwrap(), r["body"]))
            .or_insert(0) += 1;
    }
    counts
}

fn received(server: &FakeEncharge) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in server.delivered() {
        let body = r.json().map_or_else(|| "null".to_owned(), |b| b.to_string());
        *counts.entry(format!("{} {} {body}", r.method, r.path)).or_insert(0) += 1;
    }
    counts
}

fn delivered_segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("data/queue/delivered"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let (_, text) = get(addr, "/metrics")?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn batches_are_queued_and_delivered_as_map_plans_them() {
    let dir = workdir("deliver");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let serve = start(&dir, &config, free_port(), &["--keep-delivered"]);
    let events = sample_events();
    for chunk in events.chunks(7) {
        let (status, body) = post_json(
            serve.addr,
            "/v1/batch",
            &json!({"batch": chunk, "sentAt": "2024-01-01T00:00:00.000Z", "writeKey": WRITE_KEY}),
        );
        assert_eq!((status, body.as_str()), (200, r#"{"success":true}"#));
    }
    // Single-event endpoints take the type from the path.
    let (status, _) = post_json(serve.addr, "/v1/track", &json!({"userId": "solo", "event": "Solo"}));
    assert_eq!(status, 200);
    let total = events.len() + 1;
    wait_for(&serve, "every event to be acknowledged", || {
        metric(serve.addr, "encharge_queue_depth") == Some(0.0)
            && metric(serve.addr, "encharge_queue_appended_total") == Some(total as f64)
    });
    let segments = delivered_segments(&dir);
    // The active segment is not moved until the writer is past it; map what is on disk.
    let mut files = segments.clone();
    files.extend(
        std::fs::read_dir(dir.join("data/queue"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ndjson")),
    );
    let expected = planned(&config, &files);
    assert!(!expected.is_empty());
    assert_eq!(received(&server), expected);
    let (status, text) = get(serve.addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        text.contains("encharge_events_received_total{type=\"track\"}"),
        "{text}"
    );
    assert!(
        text.contains("encharge_requests_total{action=\"trackEvent\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("encharge_delivery_latency_seconds_count"), "{text}");
    let log = std::fs::read_to_string(&serve.log).unwrap();
    assert!(!log.contains(API_KEY), "the API key is in the log");
}

#[test]
fn bad_requests_get_clear_answers_and_the_server_keeps_serving() {
    let dir = workdir("bad");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let serve = start(&dir, &config, free_port(), &["--read-timeout", "1s"]);
    let a = serve.addr;
    let auth = basic(WRITE_KEY);
    let json_ct = ("Content-Type", "application/json");
    let good = json!({"batch": [{"type": "track", "event": "E", "userId": "u"}]}).to_string();

    // No auth, a wrong key, a wrong key in the body.
    assert_eq!(post(a, "/v1/batch", &[json_ct], good.as_bytes()).0, 401);
    let wrong = basic("nope");
    let (status, body) = post(a, "/v1/batch", &[("Authorization", &wrong), json_ct], good.as_bytes());
    assert_eq!(status, 401);
    assert!(body.contains("invalid write key"), "{body}");
    let in_body = json!({"batch": [{"type": "track", "event": "E", "userId": "u"}], "writeKey": WRITE_KEY});
    assert_eq!(post(a, "/v1/batch", &[json_ct], in_body.to_string().as_bytes()).0, 200);
    // Malformed JSON, not an object, no batch.
    let (status, body) = post(a, "/v1/batch", &[("Authorization", &auth), json_ct], b"{\"batch\": [");
    assert_eq!(status, 400);
    assert!(body.contains("not valid JSON"), "{body}");
    assert_eq!(post(a, "/v1/batch", &[("Authorization", &auth), json_ct], b"[]").0, 400);
    assert_eq!(post(a, "/v1/batch", &[("Authorization", &auth), json_ct], b"{}").0, 400);
    // A content type that is not JSON; an unknown encoding; invalid gzip.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(
        post(a, "/v1/batch", &[("Authorization", &auth), form], good.as_bytes()).0,
        415
    );
    let br = ("Content-Encoding", "br");
    assert_eq!(
        post(
            a,
            "/v1/batch",
            &[("Authorization", &auth), json_ct, br],
            good.as_bytes()
        )
        .0,
        415
    );
    let gz = ("Content-Encoding", "gzip");
    let (status, body) = post(
        a,
        "/v1/batch",
        &[("Authorization", &auth), json_ct, gz],
        b"not gzip at all",
    );
    assert_eq!(status, 400);
    assert!(body.contains("gzip"), "{body}");
    // Valid gzip is taken.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(good.as_bytes()).unwrap();
    let zipped = enc.finish().unwrap();
    assert_eq!(
        post(a, "/v1/batch", &[("Authorization", &auth), json_ct, gz], &zipped).0,
        200
    );
    // A gzip bomb: small on the wire, over the limit inflated.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b' '; 5_000_000]).unwrap();
    let bomb = enc.finish().unwrap();
    assert_eq!(
        post(a, "/v1/batch", &[("Authorization", &auth), json_ct, gz], &bomb).0,
        413
    );
    // Over 500 KB; one event over 32 KB.
    let big = vec![b' '; 600 * 1024];
    let (status, body) = post(a, "/v1/batch", &[("Authorization", &auth), json_ct], &big);
    assert_eq!(status, 413);
    assert!(body.contains("500 KB"), "{body}");
    let fat = json!({"userId": "u", "event": "E", "properties": {"x": "y".repeat(40_000)}});
    assert_eq!(post_json(a, "/v1/track", &fat).0, 413);
    // Some bad events in a batch: the good ones are kept, the answer names the bad.
    let mixed = json!({"batch": [
        {"type": "track", "event": "Kept", "userId": "u1"},
        {"type": "track", "userId": "u1"},
        {"type": "nonsense", "userId": "u1"},
        {"type": "identify", "userId": "u2", "traits": {"email": "u2@example.com"}},
        {"type": "track", "event": "Fat", "userId": "u3", "properties": {"x": "y".repeat(40_000)}}
    ]});
    let (status, body) = post_json(a, "/v1/batch", &mixed);
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["success"], true);
    let failed: Vec<u64> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(failed, [1, 2, 4]);
    // A slow client (headers never finished) is cut off, and others are still served.
    let mut slow = TcpStream::connect(a).unwrap();
    slow.write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.contains("408"), "{text}");
    // A slow body: 408.
    let mut slow = TcpStream::connect(a).unwrap();
    slow.write_all(
        format!("POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 100\r\n\r\n{{")
            .as_bytes(),
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        String::from_utf8_lossy(&buf).contains(" 408 "),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    let (status, body) = post_json(a, "/v1/batch", &json!({"batch": []}));
    assert_eq!(status, 400);
    assert!(body.contains("the batch is empty"), "{body}");
    // Unknown paths and methods.
    let (status, body) = get(a, "/v1/batch").unwrap();
    assert_eq!(status, 405);
    assert!(body.contains("/v1/batch takes POST, not GET"), "{body}");
    assert_eq!(post_json(a, "/v2/whatever", &json!({})).0, 404);
    // Still serving; the good events were delivered.
    assert_eq!(
        post(a, "/v1/batch", &[("Authorization", &auth), json_ct], good.as_bytes()).0,
        200
    );
    wait_for(&serve, "the good events to be delivered", || {
        server
            .delivered()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("Kept"))
            .count()
            == 1
            && metric(a, "encharge_queue_depth") == Some(0.0)
    });
}

#[test]
fn events_acknowledged_before_a_sigkill_are_delivered_after_the_restart() {
    let dir = workdir("kill");
    // Encharge is down at first: nothing gets delivered before the kill.
    let server = FakeEncharge::start(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let port = free_port();
    let mut serve = start(&dir, &config, port, &["--max-attempts", "1000", "--retry-window", "1h"]);
    let mut ids = Vec::new();
    for b in 0..20 {
        let batch: Vec<Value> = (0..10)
            .map(|i| {
                let id = format!("kill-{b}-{i}");
                ids.push(id.clone());
                json!({"type": "track", "event": "Killed", "userId": format!("user-{i}"), "messageId": id, "properties": {"id": id}})
            })
            .collect();
        assert_eq!(post_json(serve.addr, "/v1/batch", &json!({"batch": batch})).0, 200);
    }
    serve.child.kill().unwrap(); // SIGKILL
    serve.child.wait().unwrap();
    server.set_faults(Faults::default());
    let serve = start(&dir, &config, port, &[]);
    wait_for(&serve, "every acknowledged event to arrive", || {
        let delivered: String = server
            .delivered()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        ids.iter().all(|id| delivered.contains(&format!("\"{id}\"")))
    });
    wait_for(&serve, "the queue to be empty", || {
        metric(serve.addr, "encharge_queue_depth") == Some(0.0)
    });
}

#[test]
fn a_bad_config_is_refused_on_reload_and_a_good_one_taken() {
    let dir = workdir("reload");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let serve = start(&dir, &config, free_port(), &[]);
    std::fs::write(
        &config,
        config_text(
            &server,
            "  - name: Broken\n    trigger: 'type = '\n    action: addTag\n",
        ),
    )
    .unwrap();
    wait_for(&serve, "the reload to be refused", || {
        metric(serve.addr, "encharge_config_reload_failures_total").is_some_and(|n| n >= 1.0)
    });
    // The old config still runs.
    let ev = json!({"userId": "r1", "event": "Before"});
    assert_eq!(post_json(serve.addr, "/v1/track", &ev).0, 200);
    wait_for(&serve, "the event under the old config", || {
        server
            .delivered()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("Before"))
    });
    let tagging = "  - name: Tag everyone\n    trigger: 'type = \"track\"'\n    action: addTag\n    mapping:\n      tag: reloaded\n      email: someone@example.com\n";
    std::fs::write(&config, config_text(&server, tagging)).unwrap();
    wait_for(&serve, "the reload to be taken", || {
        metric(serve.addr, "encharge_config_reloads_total").is_some_and(|n| n >= 1.0)
    });
    let ev = json!({"userId": "r2", "event": "After"});
    assert_eq!(post_json(serve.addr, "/v1/track", &ev).0, 200);
    wait_for(&serve, "the new subscription's request", || {
        server.delivered().iter().any(|r| r.path.starts_with("/v1/tags"))
    });
    let log = std::fs::read_to_string(&serve.log).unwrap();
    assert!(log.contains("the old one keeps running"), "{log}");
}

#[test]
fn sigterm_stops_cleanly() {
    let dir = workdir("term");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let mut serve = start(&dir, &config, free_port(), &[]);
    assert_eq!(
        post_json(serve.addr, "/v1/track", &json!({"userId": "t", "event": "Term"})).0,
        200
    );
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        server
            .delivered()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("Term"))
    );
}

/// Write keys from the config (literal and `${VAR}`) are accepted without `--write-key`, and
/// a reload that changes them lets the new key in and shuts the old ones out at once.
#[test]
fn write_keys_from_the_config_are_taken_and_replaced_on_reload() {
    let dir = workdir("write-keys");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    let keys = |keys: &str| config_with_settings(&server, "${ENCHARGE_API_KEY}", &format!("  write_keys: {keys}\n"));
    std::fs::write(&config, keys(&format!("[wk_file_first, \"${{{ENV_WRITE_KEY_VAR}}}\"]"))).unwrap();
    let serve = start_keys(&dir, &config, free_port(), &[]);
    let a = serve.addr;
    let event = |name: &str| json!({"type": "track", "userId": "wk", "event": name});

    assert_eq!(post_as(a, "wk_file_first", "/v1/track", &event("First")).0, 200);
    assert_eq!(post_as(a, ENV_WRITE_KEY, "/v1/track", &event("From env")).0, 200);
    let (status, body) = post_as(a, WRITE_KEY, "/v1/track", &event("Not a key"));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid write key"), "{body}");
    let json_ct = ("Content-Type", "application/json");
    let in_body = json!({"batch": [event("In body")], "writeKey": "wk_file_firsT"});
    assert_eq!(post(a, "/v1/batch", &[json_ct], in_body.to_string().as_bytes()).0, 401);

    // A longer key, so the file's size changes too and the change is seen whatever the clock.
    std::fs::write(&config, keys("[wk_file_second_one]")).unwrap();
    wait_for(&serve, "the reload", || {
        metric(a, "encharge_config_reloads_total") == Some(1.0)
    });
    assert_eq!(post_as(a, "wk_file_second_one", "/v1/track", &event("Second")).0, 200);
    assert_eq!(post_as(a, "wk_file_first", "/v1/track", &event("Old key")).0, 401);
    assert_eq!(post_as(a, ENV_WRITE_KEY, "/v1/track", &event("Old env key")).0, 401);
    let in_body = json!({"batch": [event("Second in body")], "writeKey": "wk_file_second_one"});
    assert_eq!(post(a, "/v1/batch", &[json_ct], in_body.to_string().as_bytes()).0, 200);

    // A config that would leave no key at all is refused; the keys before stay.
    std::fs::write(&config, keys("[]")).unwrap();
    wait_for(&serve, "the keyless config to be refused", || {
        metric(a, "encharge_config_reload_failures_total").is_some_and(|n| n >= 1.0)
    });
    assert_eq!(post_as(a, "wk_file_second_one", "/v1/track", &event("Still in")).0, 200);

    wait_for(&serve, "the accepted events to be delivered", || {
        let delivered: String = server
            .delivered()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        ["First", "From env", "Second", "Second in body", "Still in"]
            .iter()
            .all(|e| delivered.contains(&format!("\"{e}\"")))
    });
    let delivered: String = server
        .delivered()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    for refused in ["Not a key", "In body", "Old key", "Old env key"] {
        assert!(!delivered.contains(refused), "{refused} was let in");
    }
    let log = std::fs::read_to_string(&serve.log).unwrap();
    assert!(log.contains("The accepted write keys changed."), "{log}");
    assert!(log.contains("no client could send"), "{log}");
    assert!(!log.contains("wk_file_"), "a write key is in the log:\n{log}");
}

/// Without any write key (no flag, no variable, none in the config) `serve` does not start,
/// and says where keys go.
#[test]
fn serve_without_any_write_key_names_both_places() {
    let dir = workdir("no-keys");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir"])
        .arg(dir.join("data"))
        .env("ENCHARGE_API_KEY", API_KEY)
        .env_remove("ENCHARGE_WRITE_KEYS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--write-key") && stderr.contains("settings.write_keys"),
        "{stderr}"
    );
    // An unset variable among the config's write keys is an error at its place.
    let text = config_with_settings(
        &server,
        "${ENCHARGE_API_KEY}",
        "  write_keys:\n    - ${SERVE_TEST_UNSET_KEY}\n",
    );
    let line = text.lines().position(|l| l.contains("SERVE_TEST_UNSET_KEY")).unwrap() + 1;
    std::fs::write(&config, text).unwrap();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir"])
        .arg(dir.join("data"))
        .args(["--write-key", WRITE_KEY])
        .env("ENCHARGE_API_KEY", API_KEY)
        .env_remove("SERVE_TEST_UNSET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:{line}:7: error: field settings.write_keys.0: the environment variable SERVE_TEST_UNSET_KEY is not set",
            config.display()
        )),
        "{stderr}"
    );
}

/// A new `settings.api_key` is sent from the reload on, without a restart; when Encharge had
/// rejected the old one, delivery resumes and /healthz is healthy again.
#[test]
fn a_new_api_key_in_the_config_is_used_without_a_restart() {
    const NEW_KEY: &str = "ek_test_serve_new_Tw7pR2";
    let dir = workdir("api-key");
    let server = FakeEncharge::start(Faults {
        api_key: Some(NEW_KEY.to_owned()),
        ..Faults::default()
    })
    .unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let serve = start(&dir, &config, free_port(), &[]);
    let a = serve.addr;

    // Encharge rejects the key the server started with.
    assert_eq!(
        post_json(a, "/v1/track", &json!({"userId": "k", "event": "Before"})).0,
        200
    );
    wait_for(&serve, "/healthz to report the rejected key", || {
        get(a, "/healthz").is_some_and(|(s, b)| s == 503 && b.contains("rejected the API key"))
    });
    let dead = dir.join("data/dead-letters.ndjson");
    wait_for(&serve, "the event to be dead-lettered", || {
        std::fs::read_to_string(&dead).is_ok_and(|t| t.contains("Before"))
    });

    std::fs::write(&config, config_with_settings(&server, NEW_KEY, "")).unwrap();
    wait_for(&serve, "/healthz to be healthy again", || {
        get(a, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(
        post_json(a, "/v1/track", &json!({"userId": "k", "event": "After"})).0,
        200
    );
    wait_for(&serve, "the event sent with the new key", || {
        server
            .delivered()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("After"))
    });
    for r in server.requests() {
        let body = String::from_utf8_lossy(&r.body);
        let want = if body.contains("After") { NEW_KEY } else { API_KEY };
        assert_eq!(r.header("x-encharge-token"), Some(want), "{body}");
    }
    wait_for(&serve, "the reload to be counted", || {
        metric(a, "encharge_config_reloads_total") == Some(1.0)
    });
    let log = std::fs::read_to_string(&serve.log).unwrap();
    assert!(log.contains("The API key changed"), "{log}");
    assert!(log.contains("Delivery resumes with the new API key."), "{log}");
    assert!(
        !log.contains(API_KEY) && !log.contains(NEW_KEY),
        "an API key is in the log"
    );
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert!(!letters.contains(API_KEY) && !letters.contains(NEW_KEY), "{letters}");
}

/// Stops `serve` with SIGTERM and waits for it to exit.
fn terminate(serve: &mut Serve) {
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    for _ in 0..1200 {
        if let Some(status) = serve.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("serve did not stop within 60 s of SIGTERM");
}

#[test]
fn a_repeated_message_id_is_delivered_once_even_after_a_restart() {
    let dir = workdir("dedupe");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let port = free_port();
    let batch = |ids: &[&str]| {
        let events: Vec<Value> = ids
            .iter()
            .map(|id| json!({"type": "track", "event": "Once", "userId": "u-dedupe", "messageId": id, "properties": {"id": id}}))
            .collect();
        json!({"batch": events})
    };
    let sent_ids = |server: &FakeEncharge| -> Vec<String> {
        let mut ids: Vec<String> = server
            .delivered()
            .iter()
            .filter_map(|r| r.json())
            .filter_map(|b| b["properties"]["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    let mut serve = start(&dir, &config, port, &[]);
    assert_eq!(post_json(serve.addr, "/v1/batch", &batch(&["m1", "m2", "m3"])).0, 200);
    // A client that never saw the answer sends the batch again, and one id a third time.
    assert_eq!(post_json(serve.addr, "/v1/batch", &batch(&["m1", "m2", "m3"])).0, 200);
    assert_eq!(post_json(serve.addr, "/v1/track", &batch(&["m2"])["batch"][0]).0, 200);
    wait_for(&serve, "the duplicates to be counted", || {
        metric(serve.addr, "encharge_duplicates_total") == Some(4.0)
            && metric(serve.addr, "encharge_queue_depth") == Some(0.0)
    });
    assert_eq!(sent_ids(&server), ["m1", "m2", "m3"]);

    // After a restart the ids are still known; a new one goes through.
    terminate(&mut serve);
    let serve = start(&dir, &config, port, &[]);
    assert_eq!(post_json(serve.addr, "/v1/batch", &batch(&["m3", "m4"])).0, 200);
    wait_for(&serve, "the new event and the duplicate", || {
        metric(serve.addr, "encharge_duplicates_total") == Some(1.0)
            && metric(serve.addr, "encharge_queue_depth") == Some(0.0)
            && server.delivered().len() == 4
    });
    assert_eq!(sent_ids(&server), ["m1", "m2", "m3", "m4"]);
}

#[test]
fn a_full_queue_answers_503_until_delivery_makes_room() {
    let dir = workdir("full");
    // A slow Encharge: the queue fills faster than it drains.
    let server = FakeEncharge::start(Faults {
        latency: Duration::from_secs(2),
        ..Faults::default()
    })
    .unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let serve = start(
        &dir,
        &config,
        free_port(),
        &["--max-queue-bytes", "1MiB", "--concurrency", "2"],
    );
    let padding = "x".repeat(900);
    let mut accepted = 0;
    let mut refusal = None;
    for b in 0..40 {
        let events: Vec<Value> = (0..100)
            .map(|i| json!({"type": "track", "event": "Full", "userId": format!("u-{i}"), "messageId": format!("full-{b}-{i}"), "properties": {"pad": padding}}))
            .collect();
        match post_json(serve.addr, "/v1/batch", &json!({"batch": events})) {
            (200, _) => accepted += 100,
            (status, body) => {
                refusal = Some((status, body));
                break;
            }
        }
    }
    let (status, body) = refusal.expect("a 503 once the queue held 1 MiB");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the queue is full"), "{body}");
    assert!(
        (500..=1100).contains(&accepted),
        "accepted {accepted} events of ~1 KB under a 1 MiB cap"
    );
    assert!(metric(serve.addr, "encharge_queue_full_refusals_total").is_some_and(|n| n >= 100.0));
    assert!(metric(serve.addr, "encharge_queue_bytes").is_some_and(|n| n <= 1_048_576.0));
    // Encharge speeds up: delivery drains the queue, its files go, and events are taken again.
    server.set_faults(Faults::default());
    wait_for(&serve, "the queue to drain", || {
        metric(serve.addr, "encharge_queue_depth") == Some(0.0)
    });
    let more = json!({"type": "track", "event": "Full", "userId": "u-after", "messageId": "full-after"});
    assert_eq!(post_json(serve.addr, "/v1/track", &more).0, 200);
    wait_for(&serve, "every accepted event to arrive", || {
        server.delivered().len() == accepted + 1
    });
}

#[test]
fn a_disk_that_refuses_writes_gets_503s_and_loses_nothing() {
    let dir = workdir("disk");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let port = free_port();
    // A real write failure: the kernel refuses to grow a file past 300 KB (EFBIG, the
    // signal it would send ignored), as a full disk refuses with ENOSPC.
    let mut limited = Command::new("sh");
    limited
        .args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=300000:unlimited -- \"$@\"",
            "sh",
        ])
        .arg(bin());
    let mut serve = start_as(limited, &dir, &config, port, &["--write-key", WRITE_KEY]);
    let padding = "x".repeat(900);
    let batch = |b: usize| {
        let events: Vec<Value> = (0..100)
            .map(|i| json!({"type": "track", "event": "Disk", "userId": format!("u-{i}"), "messageId": format!("disk-{b}-{i}"), "properties": {"n": format!("{b}-{i}"), "pad": padding}}))
            .collect();
        json!({"batch": events})
    };
    let mut accepted = 0;
    let mut refusal = None;
    for b in 0..10 {
        match post_json(serve.addr, "/v1/batch", &batch(b)) {
            (200, _) => accepted += 100,
            (status, body) => {
                refusal = Some((b, status, body));
                break;
            }
        }
    }
    let (refused, status, body) = refusal.expect("a 503 once the segment reached 300 KB");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not be stored; retry later"), "{body}");
    assert!(
        (100..=300).contains(&accepted),
        "accepted {accepted} events of ~1 KB under 300 KB"
    );
    // Still serving, and every acknowledged event is delivered.
    assert_eq!(get(serve.addr, "/healthz").unwrap().0, 200);
    wait_for(&serve, "the accepted events to arrive", || {
        server.delivered().len() == accepted
    });
    // Room again, without a restart: the client's retry is taken, written after the
    // last whole line (what the failed write left was cut off), and delivered.
    let pid = serve.child.id().to_string();
    let lifted = Command::new("prlimit")
        .args(["--pid", &pid, "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success());
    assert_eq!(post_json(serve.addr, "/v1/batch", &batch(refused)).0, 200);
    wait_for(&serve, "the retried batch to arrive", || {
        server.delivered().len() == accepted + 100 && metric(serve.addr, "encharge_queue_depth") == Some(0.0)
    });
    // A restart reads the queue's files back whole: nothing torn, nothing sent again.
    terminate(&mut serve);
    let serve = start(&dir, &config, port, &[]);
    let more = json!({"type": "track", "event": "Disk", "userId": "u-after", "properties": {"n": "after"}});
    assert_eq!(post_json(serve.addr, "/v1/track", &more).0, 200);
    wait_for(&serve, "the event after the restart", || {
        server.delivered().len() == accepted + 101
    });
    let mut sent: Vec<String> = server
        .delivered()
        .iter()
        .filter_map(|r| r.json())
        .filter_map(|b| b["properties"]["n"].as_str().map(str::to_owned))
        .collect();
    sent.sort();
    let mut expected: Vec<String> = (0..accepted / 100)
        .chain([refused])
        .flat_map(|b| (0..100).map(move |i| format!("{b}-{i}")))
        .chain(["after".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(sent, expected);
    assert_eq!(metric(serve.addr, "encharge_events_invalid_total"), Some(0.0));
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = workdir("lock");
    let server = FakeEncharge::start(Faults::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text(&server, "")).unwrap();
    let mut first = start(&dir, &config, free_port(), &[]);
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir"])
        .arg(dir.join("data"))
        .args(["--write-key", WRITE_KEY])
        .env("ENCHARGE_API_KEY", API_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pid = first.child.id();
    assert!(
        stderr.contains(&format!("another process (pid {pid}) is using it")) && stderr.contains("--data-dir"),
        "{stderr}"
    );
    // Once the first has stopped, the directory is free again.
    terminate(&mut first);
    let second = start(&dir, &config, free_port(), &[]);
    assert_eq!(get(second.addr, "/healthz").unwrap().0, 200);
}
