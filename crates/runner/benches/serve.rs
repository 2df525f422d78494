//! `cargo bench -p encharge-runner --bench serve`: a load test of `serve`.
//!
//! Starts the `encharge-actions` binary with a fresh data directory (the durable
//! queue on), delivering to an in-process `fake-encharge` that answers at once,
//! and posts batches of 100 events from `SERVE_BENCH_CONNECTIONS` (default 32)
//! keep-alive connections for `SERVE_BENCH_SECONDS` (default 10). Prints events
//! accepted per second and the p50/p99 latency of a request. With
//! `SERVE_BENCH_RATE=N` (events/s), each connection paces itself so that all of
//! them together offer N events/s: the latency at a given load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_encharge::{FakeEncharge, Faults};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn batch_body(conn: usize, n: u64) -> Vec<u8> {
    let events: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"type":"track","event":"Bench","userId":"user-{conn}-{}","properties":{{"n":{n},"i":{i},"plan":"pro"}},"timestamp":"2024-01-01T00:00:00.000Z"}}"#,
                i % 10
            )
        })
        .collect();
    format!(
        r#"{{"batch":[{}],"sentAt":"2024-01-01T00:00:00.000Z"}}"#,
        events.join(",")
    )
    .into_bytes()
}

fn main() {
    let seconds = env("SERVE_BENCH_SECONDS", 10);
    let connections = env("SERVE_BENCH_CONNECTIONS", 32) as usize;
    let rate = env("SERVE_BENCH_RATE", 0);
    let server = FakeEncharge::start_counting(Faults::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("encharge-serve-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nsettings: {{ api_key: bench, ingest_url: \"{}\", api_url: \"{}\" }}\nsubscriptions:\n  - {{ name: Track Event, trigger: 'type = \"track\"', action: trackEvent }}\n",
            server.ingest_url(),
            server.url()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_encharge-actions"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .args(["--write-key", "bench", "--concurrency", "64"])
        .env("ENCHARGE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if TcpStream::connect(&addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let per_conn_interval = (rate > 0).then(|| Duration::from_secs_f64(100.0 * connections as f64 / rate as f64));
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut stream = TcpStream::connect(&addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut n = 0u64;
                let mut next = Instant::now();
                while Instant::now() < deadline {
                    if let Some(interval) = per_conn_interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += interval;
                    }
                    let body = batch_body(c, n);
                    n += 1;
                    let head = format!(
                        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YmVuY2g6\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let started = Instant::now();
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(&body).unwrap();
                    let mut status = String::new();
                    reader.read_line(&mut status).unwrap();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut answer = vec![0; length];
                    reader.read_exact(&mut answer).unwrap();
                    assert!(status.contains(" 200 "), "{status}");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let events = latencies.len() as f64 * 100.0;
    println!(
        "serve: {connections} connections, batches of 100, {} offered: {:.0} events/s accepted durably, request p50 {:.1} ms, p99 {:.1} ms; {} requests delivered to Encharge meanwhile",
        if rate > 0 {
            format!("{rate} events/s")
        } else {
            "as fast as answered".to_owned()
        },
        events / elapsed,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        server.accepted()
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
