//! Fuzzes mappings: any JSON either fails to compile with located errors, or
//! compiles to a mapping that evaluates, explains and describes itself on any
//! event without panicking, and gives the same answer twice.
//!
//! Input: a JSON object `{"mapping": M, "event": E}` (the line format of
//! `tests/conformance/mapping.jsonl`, so its lines seed the corpus), any other
//! JSON (the mapping itself), or text, which is put into every directive that
//! parses a string (`@path`, `@template`, `@liquid`, `@jmespath`, `@replace`).
#![no_main]

use encharge_engine::mapping::Mapping;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let mut events = vec![
        json!({"type": "track", "event": "Order Completed", "userId": "u", "anonymousId": null,
               "properties": {"total": 5, "zero": 0, "empty": "", "list": [1, "two", null, {"k": "v"}],
                              "obj": {"a": {"b": [0, "x"]}}, "s": "té😀", "big": 1e300, "neg": -0.0},
               "traits": {"plan": true, "email": "a@example.com"}, "context": {"traits": {"email": null}}}),
        json!({}),
        json!({"properties": [1, 2], "traits": "text", "context": null}),
        Value::Null,
    ];
    let mappings: Vec<Value> = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut case)) if case.contains_key("mapping") => {
            if let Some(event) = case.remove("event") {
                events.push(event);
            }
            vec![case.remove("mapping").unwrap_or(Value::Null)]
        }
        Ok(mapping) => vec![mapping],
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            let text = text.as_ref();
            vec![
                json!({"v": {"@path": text}}),
                json!({"v": {"@template": text}}),
                json!({"v": {"@liquid": text}}),
                json!({"v": {"@jmespath": text}}),
                json!({"v": {"@replace": {"pattern": text, "replacement": text, "value": {"@path": "$.properties.s"}}}}),
                json!({"v": {"@arrayPath": [text, {"x": {"@path": text}}]}}),
            ]
        }
    };
    for mapping in &mappings {
        check(mapping, &events);
    }
});

fn check(mapping: &Value, events: &[Value]) {
    match Mapping::compile(mapping) {
        Err(errors) => {
            assert!(!errors.is_empty(), "{mapping}: failed without an error");
            for e in &errors {
                assert!(!e.message.is_empty(), "{mapping}: {e:?}");
                assert!(e.pointer.is_empty() || e.pointer.starts_with('/'), "{mapping}: {e:?}");
                let _ = e.to_string();
            }
        }
        Ok(compiled) => {
            let _ = compiled.describe();
            for w in compiled.warnings() {
                assert!(!w.message.is_empty(), "{mapping}: {w:?}");
            }
            for event in events {
                let first = compiled.eval(event);
                assert_eq!(first, compiled.eval(event), "{mapping} on {event}: not deterministic");
                if let Err(e) = &first {
                    assert!(!e.message.is_empty(), "{mapping} on {event}: {e:?}");
                }
                if let Some(fields) = compiled.fields() {
                    for (_, field) in fields {
                        let _ = field.eval(event);
                        let _ = field.describe();
                    }
                }
            }
        }
    }
}
