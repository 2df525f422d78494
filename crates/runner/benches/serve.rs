//! `cargo bench -p encharge-runner --bench serve`: a load test of `serve`.
//!
//! Starts the `encharge-actions` binary with a fresh data directory (the durable
//! queue on), delivering to an in-process `fake-encharge` that answers at once,
//! and posts batches of 100 events from `SERVE_BENCH_CONNECTIONS` (default 32)
//! keep-alive connections for `SERVE_BENCH_SECONDS` (default 10). Prints events
//! accepted per second and the p50/p99/max latency of a request. With
//! `SERVE_BENCH_RATE=N` (events/s), each connection paces itself so that all of
//! them together offer N events/s, their send times spread evenly: the latency
//! at a given load. A request that waited for the answer before it counts from
//! when it was due (no coordinated omission); how late the load generator
//! itself was on the cores it shares with the server is printed apart, and so
//! are the server's queue syncs (from its `/metrics`): one slow `fdatasync`
//! holds every request that arrives meanwhile.
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

/// The server's queue syncs from its `/metrics`: how many, how many took over
/// 50 ms, and the slowest bucket. A sync that stalls holds every request that
/// arrives meanwhile, so this tells a slow disk from a slow server.
fn sync_times(addr: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("encharge_queue_sync_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, n) = l.split_once("\"} ")?;
            Some((le.parse().unwrap_or(f64::INFINITY), n.parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    let within_50ms = buckets.iter().find(|(le, _)| *le >= 0.05)?.1;
    let mut slowest = 0.0;
    let mut below = 0;
    for (le, n) in &buckets {
        if *n > below {
            slowest = *le;
        }
        below = *n;
    }
    let slowest = if slowest.is_finite() {
        format!("at most {} ms", slowest * 1e3)
    } else {
        "over the last bucket".to_owned()
    };
    Some(format!(
        "{total} queue syncs (write and fdatasync), {} over 50 ms, the slowest {slowest}",
        total - within_50ms,
    ))
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
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let per_conn_interval = (rate > 0).then(|| Duration::from_secs_f64(100.0 * connections as f64 / rate as f64));
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut late = Vec::new();
                let mut stream = TcpStream::connect(&addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut n = 0u64;
                // Paced connections start evenly spread over one interval, so that the
                // offered load is a steady stream rather than all of them at once.
                let mut next = start + per_conn_interval.map_or(Duration::ZERO, |i| i * c as u32 / connections as u32);
                let mut answered = start;
                while Instant::now() < deadline {
                    let due = next;
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
                    // A request held back by the slow answer before it counts from when it
                    // was due, or the bench would hide the very delays it measures
                    // (coordinated omission). One sent late because this thread itself
                    // woke late (the cores are busy) counts from when it went out, and
                    // that lateness is reported apart.
                    let now = Instant::now();
                    let started = if per_conn_interval.is_some() && answered > due {
                        due
                    } else {
                        if per_conn_interval.is_some() {
                            late.push(now.saturating_duration_since(due));
                        }
                        now
                    };
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
                    answered = Instant::now();
                    latencies.push(answered - started);
                }
                (latencies, late)
            })
        })
        .collect();
    let (mut latencies, mut late): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for t in threads {
        let (l, d) = t.join().unwrap();
        latencies.extend(l);
        late.extend(d);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let events = latencies.len() as f64 * 100.0;
    println!(
        "serve: {connections} connections, batches of 100, {} offered: {:.0} events/s accepted durably, request p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} requests delivered to Encharge meanwhile{}",
        if rate > 0 {
            format!("{rate} events/s")
        } else {
            "as fast as answered".to_owned()
        },
        events / elapsed,
        pct(&mut latencies, 0.50),
        pct(&mut latencies, 0.99),
        pct(&mut latencies, 1.0),
        server.accepted(),
        if rate > 0 {
            format!(
                "; the load generator itself sent p99 {:.1} ms late",
                pct(&mut late, 0.99)
            )
        } else {
            String::new()
        }
    );
    if let Some(syncs) = sync_times(&addr) {
        println!("serve: {syncs}");
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
