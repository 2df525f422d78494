//! Golden-file tests: each folder of `tests/golden/` holds `subscriptions.yaml`,
//! `events.ndjson` and either `expected.ndjson` (what `encharge-actions map`
//! prints, config warnings first as `# ` lines) or, for folders named `err_*`,
//! `expected_error.txt` (the config diagnostics).
//!
//! Re-bless with `BLESS=1 cargo test -p encharge-runner --test golden`, then
//! read the diff before committing.
//!
//! `tests/golden/fixme/` holds known bugs, laid out the same way. Their
//! expectation is what Segment does (the right answer), written by hand and
//! never blessed; each must still differ from what we print, so that a fix is
//! noticed and the case moved up into `tests/golden/`. Each has a `BUG.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use encharge_engine::config::LoadOptions;
use encharge_runner::commands::map::map_events;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

fn test_env(var: &str) -> Option<String> {
    (var == "ENCHARGE_API_KEY").then(|| "test-api-key".to_owned())
}

const OUTPUT_FILE: &str = "expected.ndjson";
const ERROR_FILE: &str = "expected_error.txt";
const FIXME: &str = "fixme";

/// The case folders under `dir`, sorted, without `fixme/`.
fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with(FIXME))
        .collect();
    dirs.sort();
    dirs
}

fn case_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs one case folder; returns the output that its expectation file must hold.
fn run_case(dir: &Path) -> (PathBuf, String) {
    let config_path = dir.join("subscriptions.yaml");
    let text = std::fs::read_to_string(&config_path).unwrap();
    let files = vec![("subscriptions.yaml".to_owned(), text)];
    let options = LoadOptions {
        env: &test_env,
        require_api_key: false,
        require_write_keys: false,
    };
    // The checks every command loads configs with, so golden errors read as users see them.
    match encharge_schema::check(&files, &options) {
        Err(problems) => {
            let rendered: String = problems.iter().map(|p| format!("{p}\n")).collect();
            (dir.join(ERROR_FILE), rendered)
        }
        Ok(loaded) => {
            let events = std::fs::read(dir.join("events.ndjson")).unwrap();
            let mut out = Vec::new();
            for w in &loaded.warnings {
                out.extend_from_slice(format!("# {w}\n").as_bytes());
            }
            map_events(&loaded.destination, events.as_slice(), &mut out, None).unwrap();
            (dir.join(OUTPUT_FILE), String::from_utf8(out).unwrap())
        }
    }
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("BLESS").is_some();
    let dirs = case_dirs(&root().join("golden"));
    assert!(!dirs.is_empty(), "no golden cases found");
    let mut failures = Vec::new();
    for dir in &dirs {
        let (expect_path, got) = run_case(dir);
        let name = case_name(dir);
        let is_error_case = name.starts_with("err_");
        let produced_error = expect_path.ends_with(ERROR_FILE);
        if !bless && is_error_case != produced_error {
            failures.push(format!(
                "{name}: {} but the case name {} with err_",
                if produced_error {
                    "the config was rejected"
                } else {
                    "the config loaded"
                },
                if is_error_case { "starts" } else { "does not start" }
            ));
            continue;
        }
        if bless {
            std::fs::write(&expect_path, &got).unwrap();
            // A case that switched between output and error keeps one expectation only.
            let other = dir.join(if produced_error { OUTPUT_FILE } else { ERROR_FILE });
            if other.exists() {
                std::fs::remove_file(other).unwrap();
            }
            continue;
        }
        let want = std::fs::read_to_string(&expect_path).unwrap_or_default();
        if want != got {
            failures.push(format!(
                "{name}:\n--- expected ({})\n{want}--- got\n{got}",
                expect_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases differ (BLESS=1 cargo test -p encharge-runner --test golden rewrites them):\n\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

/// Known bugs: each `fixme/` case must still print something other than its
/// (right) expectation. One that passes has been fixed: move it to `tests/golden/`.
#[test]
fn fixme_cases_still_fail() {
    let fixme = root().join("golden").join(FIXME);
    if !fixme.is_dir() {
        return;
    }
    let mut problems = Vec::new();
    for dir in case_dirs(&fixme) {
        let name = case_name(&dir);
        if !dir.join("BUG.md").is_file() {
            problems.push(format!("{name}: no BUG.md saying what is wrong"));
        }
        let wants: Vec<PathBuf> = [OUTPUT_FILE, ERROR_FILE]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.is_file())
            .collect();
        let [want_path] = wants.as_slice() else {
            problems.push(format!(
                "{name}: needs exactly one of {OUTPUT_FILE} and {ERROR_FILE} (the right answer)"
            ));
            continue;
        };
        let (got_path, got) = run_case(&dir);
        let want = std::fs::read_to_string(want_path).unwrap();
        if got_path == *want_path && got == want {
            problems.push(format!(
                "{name}: passes now, so the bug is fixed: move tests/golden/fixme/{name} to tests/golden/{name} \
                 (and delete its BUG.md)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `map` with the embedded presets on events from the real analytics-python library
/// plans exactly the requests Segment's own destination sent for them.
#[test]
fn real_events_match_segment() {
    let files = vec![("presets.yaml".to_owned(), encharge_runner::config::PRESETS.to_owned())];
    let options = LoadOptions {
        env: &test_env,
        require_api_key: true,
        require_write_keys: false,
    };
    let loaded = encharge_schema::check(&files, &options).unwrap();
    let events = std::fs::read(root().join("data/analytics-python.ndjson")).unwrap();
    let mut out = Vec::new();
    let totals = map_events(&loaded.destination, events.as_slice(), &mut out, None).unwrap();
    assert_eq!(totals.failures, 0);

    let mut got: std::collections::BTreeMap<u64, Vec<Value>> = Default::default();
    for line in String::from_utf8(out).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        got.entry(v["line"].as_u64().unwrap())
            .or_default()
            .push(v["request"].clone());
    }
    let expected = std::fs::read_to_string(root().join("data/analytics-python.expected.ndjson")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let want: Value = serde_json::from_str(line).unwrap();
        let n = want["line"].as_u64().unwrap();
        let want_requests: Vec<Value> = want["requests"].as_array().unwrap().iter().map(comparable).collect();
        let got_requests: Vec<Value> = got.remove(&n).unwrap_or_default().iter().map(comparable).collect();
        assert_eq!(got_requests, want_requests, "line {n} of analytics-python.ndjson");
        checked += 1;
    }
    assert_eq!(checked, 120);
    assert!(got.is_empty(), "requests for lines Segment sent nothing for: {got:?}");
}

/// Method, URL, body and the two headers that matter; the key is redacted in `map` output.
fn comparable(r: &Value) -> Value {
    let token = r["headers"]["x-encharge-token"]
        .as_str()
        .map(|t| if t.is_empty() { "" } else { "***" });
    serde_json::json!({
        "method": r["method"], "url": r["url"], "body": r["body"],
        "content-type": r["headers"]["content-type"], "token": token,
    })
}
