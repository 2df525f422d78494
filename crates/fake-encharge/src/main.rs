//! `fake-encharge`: the test server, by hand, to watch `send` against it.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;

const HELP: &str = "\
fake-encharge: a local server that plays Encharge (for trying `encharge-actions send`)

Options:
  --port N           port on 127.0.0.1 (default: a free one)
  --api-key K        answer 401 to any other X-Encharge-Token
  --error-rate F     fraction of requests answered 500 (e.g. 0.3)
  --drop-rate F      fraction of connections closed before any answer
  --slow-rate F      fraction of answers delayed by --slow-delay
  --slow-delay D     e.g. 40s
  --latency D        delay of every answer, e.g. 50ms
  --rate-limit N     requests per second; above that 429 with Retry-After: 1
  --record FILE      append each request answered 2xx to FILE as an NDJSON line
                     with method, path and body (for scripts that check what arrived)

Prints its ingest and API URLs, then (without --record) a count of requests every few seconds.";

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let record = match args.iter().position(|a| a == "--record") {
        Some(i) if i + 1 < args.len() => {
            let path = args.remove(i + 1);
            args.remove(i);
            Some(path)
        }
        Some(_) => {
            eprintln!("error: --record needs a value\n\n{HELP}");
            return std::process::ExitCode::from(2);
        }
        None => None,
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        eprintln!("{HELP}");
        return std::process::ExitCode::SUCCESS;
    }
    let (faults, port) = match fake_encharge::faults_from_args(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}\n\n{HELP}");
            return std::process::ExitCode::from(2);
        }
    };
    let server =
        match fake_encharge::FakeEncharge::start_on(SocketAddr::from(([127, 0, 0, 1], port)), faults, record.is_some())
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen: {e}");
                return std::process::ExitCode::from(1);
            }
        };
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "Listening.\n  ingest_url: {}\n  api_url:    {}",
        server.ingest_url(),
        server.url()
    );
    if let Some(path) = record {
        return record_loop(&server, &path);
    }
    let mut last = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(2));
        let received = server.received();
        if received != last {
            let _ = writeln!(err, "{received} requests received, {} accepted", server.accepted());
            last = received;
        }
    }
}

/// Appends the requests answered 2xx to `path` as they arrive, until killed.
fn record_loop(server: &fake_encharge::FakeEncharge, path: &str) -> std::process::ExitCode {
    let mut file = match std::fs::OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let mut written = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let delivered = server.delivered();
        let mut out = String::new();
        for r in delivered.iter().skip(written) {
            let body = r.json().unwrap_or(serde_json::Value::Null);
            let line = serde_json::json!({"method": r.method, "path": r.path, "body": body});
            out.push_str(&line.to_string());
            out.push('\n');
        }
        written = delivered.len();
        if !out.is_empty() && file.write_all(out.as_bytes()).and_then(|()| file.flush()).is_err() {
            return std::process::ExitCode::from(1);
        }
    }
}
