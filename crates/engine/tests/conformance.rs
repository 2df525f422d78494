#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runs Segment's conformance corpus (`tests/conformance/*.jsonl`) through the
//! same code as `encharge-actions eval`.
//!
//! Each case's answer must equal the reference's, except the cases listed in
//! `tests/conformance/DIFFERENCES.md`, which must differ: a listed case that
//! passes fails the test too, so the list stays true.

use std::collections::BTreeMap;
use std::path::PathBuf;

use encharge_engine::workbench;
use serde_json::{Value, json};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

/// `id -> reason` from the lines "- `id`: reason" of DIFFERENCES.md.
fn differences() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus_dir().join("DIFFERENCES.md")).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(id, reason)| (id.to_owned(), reason.trim_start_matches(':').trim().to_owned()))
        .collect()
}

/// The corpus case as a workbench request.
fn to_workbench(case: &Value) -> Value {
    match case["kind"].as_str().unwrap() {
        "fql" => json!({ "trigger": case["fql"], "event": case["event"] }),
        "mapping" => json!({ "mapping": case["mapping"], "event": case["event"] }),
        "action" => json!({
            "action": case["action"], "mapping": case["mapping"],
            "event": case["event"], "settings": case["settings"],
        }),
        "delete" => {
            let mut who = serde_json::Map::new();
            for key in ["userId", "anonymousId"] {
                if let Some(v) = case.get(key) {
                    who.insert(key.to_owned(), v.clone());
                }
            }
            json!({ "delete": who, "settings": case["settings"] })
        }
        other => panic!("unknown case kind {other}"),
    }
}

/// Only the headers the corpus says matter are compared.
fn comparable_requests(requests: &Value) -> Value {
    let list = requests.as_array().unwrap();
    Value::Array(
        list.iter()
            .map(|r| {
                json!({
                    "method": r["method"], "url": r["url"], "body": r["body"],
                    "content-type": r["headers"]["content-type"],
                    "x-encharge-token": r["headers"]["x-encharge-token"],
                })
            })
            .collect(),
    )
}

/// `None` when our result agrees with the expectation, else what differs.
fn disagreement(expect: &Value, got: &Value) -> Option<String> {
    if let Some(err) = expect.get("error") {
        return match got.get("error") {
            Some(_) => None,
            None => Some(format!("reference fails ({err}), we returned {got}")),
        };
    }
    if got.get("error").is_some() {
        return Some(format!("expected {expect}, we failed: {got}"));
    }
    let (want, have) = if let Some(requests) = expect.get("requests") {
        (
            comparable_requests(requests),
            got.get("requests").map(comparable_requests).unwrap_or(Value::Null),
        )
    } else if let Some(m) = expect.get("match") {
        (m.clone(), got.get("match").cloned().unwrap_or(Value::Null))
    } else {
        (
            expect["output"].clone(),
            got.get("output").cloned().unwrap_or(Value::Null),
        )
    };
    (want != have).then(|| format!("expected\n  {want}\ngot\n  {have}"))
}

fn run(file: &str) {
    let listed = differences();
    let text = std::fs::read_to_string(corpus_dir().join(file)).unwrap();
    let mut failures = Vec::new();
    let mut total = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        total += 1;
        let case: Value = serde_json::from_str(line).unwrap();
        let id = case["id"].as_str().unwrap().to_owned();
        let got = workbench::eval(&to_workbench(&case));
        match (disagreement(&case["expect"], &got), listed.get(&id)) {
            (Some(why), None) => failures.push(format!("{id}: {why}")),
            (None, Some(reason)) => failures.push(format!(
                "{id}: listed in DIFFERENCES.md ({reason}) but now agrees with the reference"
            )),
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases in {file} are wrong:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn fql() {
    run("fql.jsonl");
}

#[test]
fn mapping() {
    run("mapping.jsonl");
}

#[test]
fn actions() {
    run("actions.jsonl");
}

#[test]
fn delete() {
    run("delete.jsonl");
}

#[test]
fn every_listed_difference_is_a_corpus_case() {
    let mut ids = std::collections::BTreeSet::new();
    for file in ["fql.jsonl", "mapping.jsonl", "actions.jsonl", "delete.jsonl"] {
        let text = std::fs::read_to_string(corpus_dir().join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).unwrap();
            ids.insert(case["id"].as_str().unwrap().to_owned());
        }
    }
    let unknown: Vec<_> = differences().into_keys().filter(|id| !ids.contains(id)).collect();
    assert!(
        unknown.is_empty(),
        "DIFFERENCES.md lists ids that are not in the corpus: {unknown:?}"
    );
}
