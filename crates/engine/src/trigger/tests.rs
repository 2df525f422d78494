//! Tests of the public API: rejections with their offset and help, warnings,
//! explain, random expressions, and (ignored by default) a comparison with the
//! reference's answers on generated cases.

use serde_json::{Value, json};

use super::lex::lex;
use super::segment;
use super::*;

/// Segment's answer by our emulation of its lexer, parser and validator:
/// `Ok(match)`, or `Err(())` where it throws.
fn segment_answer(src: &str, event: &Value) -> Result<bool, ()> {
    let tokens = segment::normalize(lex(src).map_err(|_| ())?);
    let tree = segment::parse(&tokens).map_err(|_| ())?;
    segment::validate(&tree, event).map_err(|_| ())
}

/// `FQL_ORACLE_CASES=file.jsonl cargo test -p encharge-engine oracle_cases -- --ignored`:
/// each line a corpus-style case whose `expect` came from `node oracle.mjs`. Checks
/// that our emulation of Segment agrees with Segment everywhere, and that every
/// trigger we accept answers as Segment does (or Segment fails on nested parentheses).
#[test]
#[ignore = "needs a file of cases answered by the reference oracle"]
fn oracle_cases() {
    let Ok(path) = std::env::var("FQL_ORACLE_CASES") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let (mut total, mut accepted, mut nested) = (0, 0, 0);
    let mut failures = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let (id, src, event, expect) = (
            &case["id"],
            case["fql"].as_str().unwrap(),
            &case["event"],
            &case["expect"],
        );
        let want = expect.get("match").and_then(Value::as_bool).ok_or(());
        total += 1;
        let emulated = segment_answer(src, event);
        if emulated != want {
            failures.push(format!(
                "{id} emulation: {src:?} on {event}: want {want:?}, got {emulated:?}"
            ));
        }
        if let Ok(trigger) = Trigger::parse(src) {
            accepted += 1;
            let ours = trigger.matches(event);
            match want {
                Ok(want) if want != ours => failures.push(format!(
                    "{id} accepted: {src:?} on {event}: want {want}, got {ours}"
                )),
                Err(()) if !event.is_null() => nested += 1,
                _ => {}
            }
        }
    }
    eprintln!(
        "{total} cases, {accepted} accepted, {nested} accepted where Segment fails (nested parentheses)"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
