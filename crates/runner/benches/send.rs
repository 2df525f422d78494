//! Throughput of `send` to a local `fake-encharge`, and memory while a big input streams.
//!
//! ```sh
//! cargo bench -p encharge-runner --bench send                 # instant server and 50 ms server
//! cargo bench -p encharge-runner --bench send -- --memory 1   # plus a 1 GB input, peak RSS sampled
//! ```
//!
//! `SEND_BENCH_EVENTS` (default 100000) sets the events sent to the instant
//! server; the 50 ms server gets a tenth of them. Each run goes through
//! `commands::send::run`, the code of `encharge-actions send`, planning
//! included (each event plans one `trackEvent` request).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use encharge_runner::commands::send::{SendOptions, run};
use fake_encharge::{FakeEncharge, Faults};

fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("encharge-send-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, server: &FakeEncharge) -> PathBuf {
    let path = dir.join("config.yaml");
    let text = format!(
        "version: 1\nsettings:\n  api_key: bench-key-0123456789\n  ingest_url: {}\n  api_url: {}\nsubscriptions:\n  - name: Track Event\n    trigger: 'type = \"track\"'\n    action: trackEvent\n",
        server.ingest_url(),
        server.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One track event of about `size` bytes, for one of 1000 users.
fn event(i: u64, size: usize) -> String {
    let base = format!(
        r#"{{"type":"track","event":"Order Completed","userId":"user-{}","messageId":"m-{i}","timestamp":"2026-12-03T15:34:29.672Z","context":{{"library":{{"name":"analytics-python","version":"2.4.0"}}}},"properties":{{"orderId":"o-{i}","revenue":42.5,"currency":"USD","note":""#,
        i % 1000
    );
    let pad = size.saturating_sub(base.len() + 3);
    format!("{base}{}\"}}}}", "x".repeat(pad))
}

fn write_events(path: &Path, count: u64, size: usize) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for i in 0..count {
        writeln!(out, "{}", event(i, size)).unwrap();
    }
    out.flush().unwrap();
}

fn throughput(name: &str, latency: Duration, events: u64, concurrency: usize) {
    let server = FakeEncharge::start_counting(Faults {
        latency,
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir();
    let config = config(&dir, &server);
    let input = dir.join(format!("{name}.ndjson"));
    write_events(&input, events, 400);
    let options = SendOptions {
        config: Some(config),
        files: vec![input.clone()],
        dead_letter: Some(dir.join("dead.ndjson")),
        concurrency,
        ..SendOptions::default()
    };
    let started = Instant::now();
    let code = run(&options);
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "send failed");
    assert_eq!(server.accepted(), events);
    let rate = events as f64 / elapsed;
    let ideal = if latency.is_zero() {
        String::new()
    } else {
        format!(
            " (concurrency ÷ latency = {:.0}/s, {:.0}% of it)",
            concurrency as f64 / latency.as_secs_f64(),
            100.0 * rate * latency.as_secs_f64() / concurrency as f64
        )
    };
    println!(
        "bench send/{name}: {events} events, concurrency {concurrency}: {elapsed:.2} s, {rate:.0} requests/s{ideal}"
    );
    let _ = std::fs::remove_file(input);
}

/// Runs the binary on a `gigabytes` GB input and samples its resident memory.
fn memory(gigabytes: f64) {
    let server = FakeEncharge::start_counting(Faults::default()).unwrap();
    let dir = workdir();
    let config = config(&dir, &server);
    let input = dir.join("big.ndjson");
    let size = 500;
    let events = (gigabytes * 1e9 / (size as f64 + 1.0)) as u64;
    println!("bench send/memory: writing {events} events ({gigabytes} GB)...");
    write_events(&input, events, size);
    let mut child = Command::new(env!("CARGO_BIN_EXE_encharge-actions"))
        .current_dir(&dir)
        .args(["send", "--concurrency", "64", "--config"])
        .arg(&config)
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let mut next_report = 0.1;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "send failed: {status}");
            break;
        }
        if let Some(kb) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
        }) {
            peak = peak.max(kb);
            let done = server.accepted() as f64 / events as f64;
            if done >= next_report {
                println!(
                    "  {:>3.0}% delivered after {:>5.1} s: RSS {:>6.1} MiB (peak so far {:.1} MiB)",
                    done * 100.0,
                    started.elapsed().as_secs_f64(),
                    kb as f64 / 1024.0,
                    peak as f64 / 1024.0
                );
                next_report += 0.1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "bench send/memory: {events} events in {elapsed:.1} s ({:.0} requests/s), peak RSS {:.1} MiB",
        server.accepted() as f64 / elapsed,
        peak as f64 / 1024.0
    );
    assert_eq!(server.accepted(), events);
    let _ = std::fs::remove_file(input);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs benches with `--test`-like flags; only `cargo bench` (`--bench`) measures.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let events: u64 = std::env::var("SEND_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    throughput("instant", Duration::ZERO, events, 64);
    throughput("latency-50ms", Duration::from_millis(50), events / 10, 64);
    throughput("latency-50ms-c256", Duration::from_millis(50), events / 10, 256);
    if let Some(gb) = args
        .iter()
        .position(|a| a == "--memory")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<f64>().ok())
    {
        memory(gb);
    }
    let _ = std::fs::remove_dir_all(workdir());
}
