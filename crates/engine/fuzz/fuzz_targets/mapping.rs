//! Fuzzes mappings: any JSON either fails to compile with located errors, or
//! compiles to a mapping that evaluates, explains and describes itself on any
//! event without panicking or overflowing the stack, gives the same answer
//! twice, and whose borrowed result serializes exactly as the owned one.
//!
//! Input: a JSON object `{"mapping": M, "event": E}` (the line format of
//! `tests/conformance/mapping.jsonl`, so its lines seed the corpus), a pair
//! `[M, E]`, any other JSON (the mapping itself), or text, which is put into
//! every directive that parses a string (`@path`, `@template`, `@liquid`,
//! `@jmespath`, `@replace`, `@arrayPath`).
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
        Ok(Value::Array(mut pair)) if pair.len() == 2 => {
            events.push(pair.pop().unwrap_or(Value::Null));
            vec![pair.pop().unwrap_or(Value::Null)]
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
    let compiled = match Mapping::compile(mapping) {
        Ok(compiled) => compiled,
        Err(errors) => {
            assert!(!errors.is_empty(), "{mapping}: failed without an error");
            for e in &errors {
                assert!(!e.message.is_empty(), "{mapping}: {e:?}");
                assert!(e.pointer.is_empty() || e.pointer.starts_with('/'), "{mapping}: {e:?}");
                let _ = e.to_string();
            }
            return;
        }
    };
    let _ = compiled.describe();
    for w in compiled.warnings() {
        assert!(!w.message.is_empty(), "{mapping}: {w:?}");
    }
    for event in events {
        for (_, field) in compiled.fields().into_iter().flatten() {
            let _ = (field.describe(), field.eval(event));
        }
        let owned = compiled.eval(event);
        assert_eq!(owned, compiled.eval(event), "{mapping} on {event}: not deterministic");
        match (owned, compiled.eval_borrowed(event)) {
            (Ok(owned), Ok(borrowed)) => {
                let serialized = serde_json::to_value(&borrowed).ok();
                assert_eq!(
                    serialized,
                    Some(owned.clone().unwrap_or(Value::Null)),
                    "{mapping} on {event}"
                );
                assert_eq!(borrowed.into_value(), owned, "{mapping} on {event}");
            }
            (Err(e), Err(_)) => assert!(!e.message.is_empty(), "{mapping} on {event}: {e:?}"),
            (owned, borrowed) => {
                panic!("{mapping} on {event}: eval and eval_borrowed disagree: {owned:?} / {borrowed:?}")
            }
        }
    }
}
