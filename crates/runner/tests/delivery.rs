//! Delivery under faults: the `encharge-actions` binary against `fake-encharge`,
//! real HTTP over real sockets on 127.0.0.1.
//!
//! Each test runs `send` (or `check-auth`, `delete`, `objects`) as a child
//! process and checks what the server recorded, the exit code, the summary and
//! the dead-letter file. No test asserts an upper bound on time; the waits that
//! matter (Retry-After) are checked as lower bounds on the server's clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fake_encharge::{Answer, FakeEncharge, Faults, Recorded, Rejection};
use serde_json::{Value, json};

/// A key distinctive enough to grep for.
const KEY: &str = "ek_test_Zq8KsW2v9TnR4pLxY7";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_encharge-actions")
}

fn sample_events() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/analytics-python.ndjson")
}

/// A fresh directory for one test, removed when the test passes.
struct Workdir(PathBuf);

impl std::ops::Deref for Workdir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn workdir(name: &str) -> Workdir {
    let dir = std::env::temp_dir().join(format!("encharge-delivery-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Workdir(dir)
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

/// Segment's five presets, pointed at the server; the key comes from the environment.
fn config(dir: &Path, server: &FakeEncharge) -> PathBuf {
    let path = dir.join("config.yaml");
    let text = presets_at(server);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, args: &[&str], key: &str) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .env("ENCHARGE_API_KEY", key)
        .env("ENCHARGE_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn send(dir: &Path, config: &Path, extra: &[&str], events: &Path) -> Output {
    let mut args = vec!["send", "--config", config.to_str().unwrap(), "--backoff", "10ms"];
    args.extend_from_slice(extra);
    args.push(events.to_str().unwrap());
    run(dir, &args, KEY)
}

/// What `map` plans for the events, as (method, path, body) triples.
fn planned(dir: &Path, config: &Path, events: &Path) -> Vec<(String, String, Value)> {
    let out = run(
        dir,
        &["map", "--config", config.to_str().unwrap(), events.to_str().unwrap()],
        KEY,
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let r = v.get("request")?;
            let url = r["url"].as_str().unwrap();
            let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
            Some((r["method"].as_str().unwrap().to_owned(), path, r["body"].clone()))
        })
        .collect()
}

fn received(requests: &[Recorded]) -> Vec<(String, String, Value)> {
    requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.json().unwrap_or(Value::Null)))
        .collect()
}

/// Multiset equality, independent of order.
fn assert_same_requests(mut got: Vec<(String, String, Value)>, mut want: Vec<(String, String, Value)>) {
    let key = |t: &(String, String, Value)| format!("{} {} {}", t.0, t.1, t.2);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got.len(), want.len(), "number of requests delivered");
    assert!(got == want, "delivered requests differ from the planned ones");
}

fn dead_letters(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn with_30_percent_5xx_and_5_percent_dropped_connections_every_event_arrives() {
    let server = FakeEncharge::start(Faults {
        api_key: Some(KEY.to_owned()),
        error_rate: 0.3,
        drop_rate: 0.05,
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("faults");
    let config = config(&dir, &server);
    let want = planned(&dir, &config, &sample_events());
    assert!(want.len() >= 100, "the sample plans {} requests", want.len());
    let out = send(&dir, &config, &["--concurrency", "8"], &sample_events());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let all = server.requests();
    assert!(
        all.iter().any(|r| r.answer == Answer::Status(500)),
        "no 500 was injected"
    );
    assert!(
        all.iter().any(|r| r.answer == Answer::Dropped),
        "no connection was dropped"
    );
    assert_same_requests(received(&server.delivered()), want.clone());
    assert!(all.iter().all(|r| r.header("x-encharge-token") == Some(KEY)));
    // The summary is exact.
    let n = want.len();
    assert!(
        stdout.contains(&format!("{n} requests: {n} delivered, 0 dead-lettered")),
        "{stdout}"
    );
    let retries = all.len() - n;
    assert!(stdout.contains(&format!("; {retries} retries;")), "{stdout}");
    assert!(!dir.join("dead-letters.ndjson").exists());
}

#[test]
fn answers_slower_than_the_timeout_are_retried() {
    let server = FakeEncharge::start(Faults {
        slow_rate: 0.3,
        slow_delay: Duration::from_secs(2),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("slow");
    let config = config(&dir, &server);
    let events = dir.join("events.ndjson");
    let sample = std::fs::read_to_string(sample_events()).unwrap();
    std::fs::write(&events, sample.lines().take(20).collect::<Vec<_>>().join("\n")).unwrap();
    let want = planned(&dir, &config, &events);
    let out = send(&dir, &config, &["--timeout", "300ms"], &events);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(server.requests().len() > want.len(), "no answer was slow");
    // A slow answer may still have been a success on the server's side: at least once.
    let delivered = received(&server.delivered());
    for w in &want {
        assert!(delivered.contains(w), "not delivered: {w:?}");
    }
}

#[test]
fn a_429_with_retry_after_2_is_waited_out() {
    let server = FakeEncharge::start(Faults {
        throttle_first: 1,
        retry_after: Some("2".to_owned()),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("retry-after");
    let config = config(&dir, &server);
    let events = dir.join("one.ndjson");
    std::fs::write(
        &events,
        r#"{"type":"track","event":"Signed Up","userId":"u1","messageId":"m1","timestamp":"2026-12-03T15:34:29.672Z"}"#,
    )
    .unwrap();
    let out = send(&dir, &config, &[], &events);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let all = server.requests();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].answer, Answer::Status(429));
    assert_eq!(all[1].answer, Answer::Status(200));
    let waited = all[1].at.duration_since(all[0].at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
}

#[test]
fn a_rate_limit_is_obeyed_and_everything_arrives() {
    let server = FakeEncharge::start(Faults {
        rate_limit: Some(40),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("rate-limit");
    let config = config(&dir, &server);
    let events = dir.join("events.ndjson");
    let sample = std::fs::read_to_string(sample_events()).unwrap();
    std::fs::write(&events, sample.lines().take(60).collect::<Vec<_>>().join("\n")).unwrap();
    let want = planned(&dir, &config, &events);
    let out = send(&dir, &config, &[], &events);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(server.requests().iter().any(|r| r.answer == Answer::Status(429)));
    assert_same_requests(received(&server.delivered()), want);
}

#[test]
fn per_user_order_holds_under_concurrency() {
    let server = FakeEncharge::start(Faults {
        error_rate: 0.3,
        drop_rate: 0.05,
        slow_rate: 0.1,
        slow_delay: Duration::from_millis(30),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("order");
    let config = config(&dir, &server);
    let events = dir.join("events.ndjson");
    let (users, per_user) = (12, 15);
    let mut lines = String::new();
    for i in 0..per_user {
        for u in 0..users {
            let e = json!({
                "type": "track", "event": "Step", "userId": format!("user-{u}"),
                "properties": {"seq": i}, "messageId": format!("m-{u}-{i}"),
                "timestamp": "2026-12-03T15:34:29.672Z"
            });
            lines.push_str(&format!("{e}\n"));
        }
    }
    std::fs::write(&events, lines).unwrap();
    let out = send(&dir, &config, &["--concurrency", "8"], &events);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let mut per: HashMap<String, Vec<(i64, bool)>> = HashMap::new();
    for r in server.requests() {
        let body = r.json().unwrap();
        let user = body["userId"].as_str().unwrap().to_owned();
        let seq = body["properties"]["seq"].as_i64().unwrap();
        per.entry(user).or_default().push((seq, r.answer.is_success()));
    }
    assert_eq!(per.len(), users);
    for (user, attempts) in &per {
        // Request n+1 of a user is sent only once request n has been accepted.
        let mut expect = 0;
        for (seq, ok) in attempts {
            assert_eq!(*seq, expect, "{user}: {attempts:?}");
            if *ok {
                expect += 1;
            }
        }
        assert_eq!(expect, per_user, "{user}: {attempts:?}");
    }
    // And users did go in parallel: the arrival order is not user after user.
    let order: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json().unwrap()["userId"].as_str().unwrap().to_owned())
        .collect();
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > users * 2, "{switches} switches");
}

#[test]
fn a_400_goes_to_the_dead_letter_file_with_its_body_and_is_not_retried() {
    let server = FakeEncharge::start(Faults {
        reject: vec![Rejection {
            needle: "user-11-25".to_owned(),
            status: 400,
            body: r#"{"error":{"message":"Invalid email for user-11-25"}}"#.to_owned(),
        }],
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("400");
    let config = config(&dir, &server);
    let want = planned(&dir, &config, &sample_events());
    let bad = want.iter().filter(|w| w.2.to_string().contains("user-11-25")).count();
    assert!(bad >= 1);
    let out = send(&dir, &config, &[], &sample_events());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let hits: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| r.answer == Answer::Status(400))
        .collect();
    assert_eq!(hits.len(), bad, "a 400 was retried");
    let letters = dead_letters(&dir.join("dead-letters.ndjson"));
    assert_eq!(letters.len(), bad);
    for l in &letters {
        assert_eq!(l["reason"], "rejected");
        assert_eq!(l["status"], 400);
        assert_eq!(l["attempts"], 1);
        assert_eq!(l["response"], r#"{"error":{"message":"Invalid email for user-11-25"}}"#);
        assert!(l["event"]["userId"].as_str().is_some());
        assert_eq!(l["file"].as_str().unwrap(), sample_events().to_str().unwrap());
        assert!(l["line"].as_u64().unwrap() >= 1);
        assert!(l["request"]["url"].as_str().unwrap().starts_with(&server.url()));
        assert!(l["request"]["body"].to_string().contains("user-11-25"));
        assert!(l["time"].as_str().unwrap().ends_with('Z'));
        assert!(l["request"]["headers"].get("x-encharge-token").is_none());
    }
    let n = want.len();
    assert!(
        stdout.contains(&format!("{n} requests: {} delivered, {bad} dead-lettered", n - bad)),
        "{stdout}"
    );
    assert!(stdout.contains("dead-lettered: rejected (400)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "send --config {} --replay dead-letters.ndjson",
            dir.join("config.yaml").display()
        )),
        "{stdout}"
    );
}

#[test]
fn a_401_stops_the_run_with_one_message() {
    let server = FakeEncharge::start(Faults {
        api_key: Some("another-key-entirely".to_owned()),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("401");
    let config = config(&dir, &server);
    let out = send(&dir, &config, &["--concurrency", "4"], &sample_events());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert_eq!(all.matches("Encharge rejected the API key").count(), 1, "{all}");
    assert!(
        stderr.contains("error: Encharge rejected the API key (HTTP 401)"),
        "{stderr}"
    );
    // Only what was in flight when the first 401 came; nothing retried.
    let sent = server.requests().len();
    assert!(sent <= 8, "{sent} requests sent with a rejected key");
    assert!(stdout.contains("Stopped early"), "{stdout}");
    // What was taken in but not delivered is in the dead-letter file, for a replay with the right key.
    let letters = dead_letters(&dir.join("dead-letters.ndjson"));
    assert!(letters.len() >= sent, "{} dead letters, {sent} sent", letters.len());
    assert!(letters.iter().all(|l| l["reason"] == "api_key_rejected"));

    // A short input is read whole before the first answer: the 401 still stops it all.
    let one = dir.join("one.ndjson");
    std::fs::write(
        &one,
        r#"{"type":"track","event":"Signed Up","userId":"u1","messageId":"m1","timestamp":"2026-12-03T15:34:29.672Z"}"#,
    )
    .unwrap();
    let out = send(&dir, &config, &["--dead-letter", "short.ndjson"], &one);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: Encharge rejected the API key (HTTP 401)"),
        "{stderr}"
    );
    assert_eq!(dead_letters(&dir.join("short.ndjson")).len(), 1);
}

#[test]
fn the_api_key_appears_in_no_output_log_or_dead_letter() {
    // The worst case: the server echoes the key in its error bodies.
    let server = FakeEncharge::start(Faults {
        reject: vec![Rejection {
            needle: "Signed Up".to_owned(),
            status: 422,
            body: format!(r#"{{"error":"token {KEY} may not send Signed Up"}}"#),
        }],
        error_rate: 0.2,
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("secret");
    let config = config(&dir, &server);
    let out = send(&dir, &config, &["--max-attempts", "2"], &sample_events());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let dead = std::fs::read_to_string(dir.join("dead-letters.ndjson")).unwrap();
    assert!(
        dead.contains("may not send Signed Up"),
        "the rejection was not dead-lettered"
    );
    assert!(stderr.contains("DEBUG"), "debug logs were not on: {stderr}");
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr), ("dead letters", &dead)] {
        assert!(!text.contains(KEY), "the API key is in {what}");
    }
    // And with a rejected key: its error message.
    server.set_faults(Faults {
        api_key: Some("another-key-entirely".to_owned()),
        ..Faults::default()
    });
    for args in [vec!["check-auth"], vec!["objects"], vec!["delete", "--user-id", "u1"]] {
        let mut args = args.clone();
        args.extend(["--config", config.to_str().unwrap()]);
        let out = run(&dir, &args, KEY);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr.contains("Encharge rejected the API key"), "{stderr}");
        assert!(!stdout.contains(KEY) && !stderr.contains(KEY), "{args:?}");
    }
}

#[test]
fn replay_delivers_what_was_dead_lettered_once_the_server_is_healthy() {
    let server = FakeEncharge::start(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("replay");
    let config = config(&dir, &server);
    let want = planned(&dir, &config, &sample_events());
    let out = send(&dir, &config, &["--max-attempts", "2"], &sample_events());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    let dead = dir.join("dead-letters.ndjson");
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), want.len());
    assert!(
        letters
            .iter()
            .all(|l| l["reason"] == "retries_exhausted" && l["attempts"] == 2 && l["status"] == 500)
    );
    assert_eq!(server.delivered().len(), 0);

    server.set_faults(Faults {
        api_key: Some(KEY.to_owned()),
        ..Faults::default()
    });
    let out = run(
        &dir,
        &[
            "send",
            "--config",
            config.to_str().unwrap(),
            "--replay",
            "dead-letters.ndjson",
        ],
        KEY,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_same_requests(received(&server.delivered()), want.clone());
    let n = want.len();
    assert!(
        stdout.contains(&format!("{n} dead letters read; {n} requests: {n} delivered")),
        "{stdout}"
    );
    assert!(!dir.join("dead-letters-replay.ndjson").exists());

    // Replaying into the file being read is refused.
    let out = run(
        &dir,
        &[
            "send",
            "--config",
            config.to_str().unwrap(),
            "--replay",
            "dead-letters.ndjson",
            "--dead-letter",
            "dead-letters.ndjson",
        ],
        KEY,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_finishes_or_dead_letters_what_is_in_flight_and_prints_the_summary() {
    let server = FakeEncharge::start(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("ctrl-c");
    let config = config(&dir, &server);
    let mut child = Command::new(bin())
        .current_dir(&*dir)
        .args(["send", "--config", config.to_str().unwrap(), "--concurrency", "2"])
        .env("ENCHARGE_API_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Events come from a pipe that stays open: only Ctrl-C ends this run.
    let mut stdin = child.stdin.take().unwrap();
    let sample = std::fs::read_to_string(sample_events()).unwrap();
    stdin.write_all(sample.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let waiting = std::time::Instant::now();
    while server.received() < 2 {
        if waiting.elapsed() > Duration::from_secs(60) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("send did not start sending: {:?}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("Stopped early: reading stopped at -, line"), "{stdout}");
    // Every request taken in is either delivered or dead-lettered.
    let delivered = server.delivered().len();
    let letters = dead_letters(&dir.join("dead-letters.ndjson"));
    assert!(letters.iter().all(|l| l["reason"] == "interrupted"), "{letters:?}");
    assert!(delivered >= 2);
    assert!(
        stdout.contains(&format!(
            "requests: {delivered} delivered, {} dead-lettered",
            letters.len()
        )),
        "{stdout}"
    );
    let planned: usize = stdout
        .split("events read; ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(planned, delivered + letters.len(), "{stdout}");
}

#[test]
fn account_calls() {
    let server = FakeEncharge::start(Faults {
        api_key: Some(KEY.to_owned()),
        ..Faults::default()
    })
    .unwrap();
    server.set_object_types(&["company", "subscription"]);
    let dir = workdir("account");
    let config = config(&dir, &server);
    let c = config.to_str().unwrap();

    let out = run(&dir, &["check-auth", "--config", c], KEY);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.contains("The API key works"));

    let out = run(&dir, &["objects", "--config", c], KEY);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out).0, "company\nsubscription\n");

    let out = run(&dir, &["delete", "--config", c, "--user-id", "a&b=c d"], KEY);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let out = run(&dir, &["delete", "--config", c, "--anonymous-id", "anon-1"], KEY);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let paths: Vec<(String, String)> = server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/v1/accounts/info"),
            ("GET", "/v1/schemas"),
            ("DELETE", "/v1/people?people[0][userId]=a%26b%3Dc%20d"),
            ("DELETE", "/v1/people?people[0][segmentAnonymousId]=anon-1"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
    );
    let out = run(&dir, &["delete", "--config", c], KEY);
    assert_eq!(out.status.code(), Some(2), "neither id is bad usage");

    // The library call `validate --online` uses.
    let settings = {
        let mut s = encharge_engine::actions::Settings::new(KEY);
        s.api_url = server.url();
        s
    };
    assert_eq!(
        encharge_runner::fetch_object_types(&settings).unwrap(),
        ["company", "subscription"]
    );
    let wrong = encharge_engine::actions::Settings {
        api_url: server.url(),
        ..encharge_engine::actions::Settings::new("wrong-key-00000000")
    };
    let err = encharge_runner::fetch_object_types(&wrong).unwrap_err();
    assert_eq!(err.kind(), encharge_runner::ErrorKind::ApiKeyRejected { status: 401 });
    assert!(!err.to_string().contains("wrong-key-00000000"));
}

#[test]
fn the_library_reports_every_job_and_keeps_order_per_key() {
    use encharge_runner::delivery::deadletter::{DeadLetters, Reason};
    use encharge_runner::delivery::{Delivery, DeliveryOptions, Job, Origin, Outcome, Request, Stats, client};
    use std::sync::{Arc, Mutex};

    let server = FakeEncharge::start(Faults {
        api_key: Some(KEY.to_owned()),
        error_rate: 0.3,
        reject: vec![Rejection {
            needle: "\"n\":7,".to_owned(),
            status: 422,
            body: "no".to_owned(),
        }],
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("library");
    let outcomes: Arc<Mutex<Vec<(String, Outcome)>>> = Arc::default();
    let seen = Arc::clone(&outcomes);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stats = Arc::new(Stats::default());
    runtime.block_on(async {
        let options = DeliveryOptions {
            concurrency: 4,
            retry: encharge_runner::delivery::retry::RetryPolicy {
                backoff: encharge_runner::delivery::retry::Backoff {
                    initial: Duration::from_millis(5),
                    max: Duration::from_millis(50),
                },
                ..Default::default()
            },
            on_done: Some(Arc::new(move |job: &Job, outcome: &Outcome| {
                let body = String::from_utf8_lossy(job.request.body.as_deref().unwrap_or_default()).into_owned();
                seen.lock().unwrap().push((body, *outcome));
            })),
            ..DeliveryOptions::default()
        };
        let dead = Arc::new(DeadLetters::new(dir.join("dead.ndjson"), KEY));
        let client = client::build(&client::ClientOptions::default()).unwrap();
        let delivery = Delivery::start(client, KEY, options, dead, Arc::clone(&stats)).unwrap();
        let submitter = delivery.submitter().unwrap();
        for n in 0..30 {
            let key = format!("u:{}", n % 3);
            let job = Job {
                request: Request {
                    method: reqwest::Method::POST,
                    url: server.ingest_url().parse().unwrap(),
                    headers: Vec::new(),
                    body: Some(format!(r#"{{"n":{n},"user":"{key}"}}"#).into()),
                },
                key: Some(key.into()),
                subscription: "S".into(),
                action: "trackEvent".into(),
                origin: Arc::new(Origin::default()),
            };
            submitter.submit(job).await.unwrap();
        }
        drop(submitter);
        delivery.finish().await;
    });
    let outcomes = outcomes.lock().unwrap();
    assert_eq!(outcomes.len(), 30);
    let rejected: Vec<&(String, Outcome)> = outcomes
        .iter()
        .filter(|(_, o)| {
            matches!(
                o,
                Outcome::DeadLettered {
                    reason: Reason::Rejected,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].0.contains("\"n\":7,"));
    assert_eq!(Stats::get(&stats.delivered), 29);
    // Within each key, jobs ended in submission order.
    for user in 0..3 {
        let ns: Vec<i64> = outcomes
            .iter()
            .filter(|(b, _)| b.contains(&format!("\"u:{user}\"")))
            .map(|(b, _)| serde_json::from_str::<Value>(b).unwrap()["n"].as_i64().unwrap())
            .collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{ns:?}");
        assert_eq!(ns.len(), 10);
    }
}

/// A server's delivery (`stop_on_rejected_key: false`) does not stop on a 401: it
/// dead-letters each request at once while the key stays rejected, and sends again
/// once `set_api_key` brings another key.
#[test]
fn a_rejected_key_replaced_while_running_resumes_delivery() {
    use encharge_runner::delivery::deadletter::{DeadLetters, Reason};
    use encharge_runner::delivery::{Delivery, DeliveryOptions, Job, Origin, Outcome, Request, Stats, client};
    use std::sync::{Arc, Mutex};

    const OLD: &str = "ek_test_old_key_0000000";
    let server = FakeEncharge::start(Faults {
        api_key: Some(KEY.to_owned()),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("rekey");
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let seen = Arc::clone(&outcomes);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = DeliveryOptions {
            on_done: Some(Arc::new(move |_: &Job, outcome: &Outcome| {
                seen.lock().unwrap().push(*outcome)
            })),
            stop_on_rejected_key: false,
            ..DeliveryOptions::default()
        };
        let dead = Arc::new(DeadLetters::new(dir.join("dead.ndjson"), OLD));
        let client = client::build(&client::ClientOptions::default()).unwrap();
        let delivery = Delivery::start(client, OLD, options, dead, Arc::new(Stats::default())).unwrap();
        let mut rejected = delivery.watch_api_key_rejected();
        let submitter = delivery.submitter().unwrap();
        let job = |n: u32| Job {
            request: Request {
                method: reqwest::Method::POST,
                url: server.ingest_url().parse().unwrap(),
                headers: Vec::new(),
                body: Some(format!(r#"{{"n":{n}}}"#).into()),
            },
            key: Some(format!("u:{n}").into()),
            subscription: "S".into(),
            action: "trackEvent".into(),
            origin: Arc::new(Origin::default()),
        };
        let ended = |n: usize| {
            let outcomes = Arc::clone(&outcomes);
            async move {
                for _ in 0..600 {
                    if outcomes.lock().unwrap().len() >= n {
                        return outcomes.lock().unwrap()[n - 1];
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("job {n} did not end");
            }
        };

        submitter.submit(job(1)).await.unwrap();
        let first = ended(1).await;
        assert!(
            matches!(
                first,
                Outcome::DeadLettered {
                    reason: Reason::ApiKeyRejected,
                    status: Some(401),
                    attempts: 1
                }
            ),
            "{first:?}"
        );
        assert_eq!(delivery.api_key_rejected(), Some(401));
        assert_eq!(*rejected.borrow_and_update(), Some(401));
        // Still taking jobs, but not sending them with a key known to be rejected.
        submitter.submit(job(2)).await.unwrap();
        let second = ended(2).await;
        assert!(
            matches!(
                second,
                Outcome::DeadLettered {
                    reason: Reason::ApiKeyRejected,
                    attempts: 0,
                    ..
                }
            ),
            "{second:?}"
        );
        assert_eq!(server.requests().len(), 1);

        assert!(delivery.set_api_key(KEY).unwrap());
        assert!(!delivery.api_keys().set(KEY).unwrap(), "the same key is no change");
        assert!(delivery.set_api_key("line\nbreak").is_err());
        assert_eq!(delivery.api_key_rejected(), None);
        rejected.changed().await.unwrap();
        assert_eq!(*rejected.borrow_and_update(), None);
        submitter.submit(job(3)).await.unwrap();
        let third = ended(3).await;
        assert!(matches!(third, Outcome::Delivered { status: 200, .. }), "{third:?}");
        drop(submitter);
        delivery.finish().await;
    });
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("x-encharge-token"), Some(OLD));
    assert_eq!(requests[1].header("x-encharge-token"), Some(KEY));
    let letters = std::fs::read_to_string(dir.join("dead.ndjson")).unwrap();
    assert_eq!(letters.lines().count(), 2);
    assert!(!letters.contains(OLD) && !letters.contains(KEY), "{letters}");
}

/// A 401 to a request sent with a key that has been replaced since says nothing of the
/// new key: the request goes again with the new one, and delivery is not halted.
#[test]
fn a_401_for_a_replaced_key_retries_with_the_new_one() {
    use encharge_runner::delivery::deadletter::DeadLetters;
    use encharge_runner::delivery::{Delivery, DeliveryOptions, Job, Origin, Outcome, Request, Stats, client};
    use std::sync::{Arc, Mutex};

    const OLD: &str = "ek_test_old_key_1111111";
    let server = FakeEncharge::start(Faults {
        api_key: Some(KEY.to_owned()),
        latency: Duration::from_millis(500),
        ..Faults::default()
    })
    .unwrap();
    let dir = workdir("rekey-in-flight");
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let seen = Arc::clone(&outcomes);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = DeliveryOptions {
            on_done: Some(Arc::new(move |_: &Job, outcome: &Outcome| {
                seen.lock().unwrap().push(*outcome)
            })),
            stop_on_rejected_key: false,
            ..DeliveryOptions::default()
        };
        let dead = Arc::new(DeadLetters::new(dir.join("dead.ndjson"), OLD));
        let client = client::build(&client::ClientOptions::default()).unwrap();
        let delivery = Delivery::start(client, OLD, options, dead, Arc::new(Stats::default())).unwrap();
        let submitter = delivery.submitter().unwrap();
        let job = Job {
            request: Request {
                method: reqwest::Method::POST,
                url: server.ingest_url().parse().unwrap(),
                headers: Vec::new(),
                body: Some(r#"{"n":1}"#.into()),
            },
            key: Some("u:1".into()),
            subscription: "S".into(),
            action: "trackEvent".into(),
            origin: Arc::new(Origin::default()),
        };
        submitter.submit(job).await.unwrap();
        // The request with the old key is at the server, its 401 not yet sent.
        for _ in 0..600 {
            if server.received() >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.received(), 1);
        assert!(delivery.set_api_key(KEY).unwrap());
        drop(submitter);
        delivery.finish().await;
    });
    let outcomes = outcomes.lock().unwrap();
    assert!(
        matches!(
            outcomes[..],
            [Outcome::Delivered {
                status: 200,
                attempts: 2
            }]
        ),
        "{outcomes:?}"
    );
    let tokens: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("x-encharge-token").map(str::to_owned))
        .collect();
    assert_eq!(tokens, [Some(OLD.to_owned()), Some(KEY.to_owned())]);
}
