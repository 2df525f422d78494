//! Fuzzes FQL triggers: any text either fails to parse with an error that points
//! inside it, or compiles to a trigger that evaluates and explains any event
//! without panicking. The input's first line is the expression; the rest, when it
//! is JSON, is one more event to test.
#![no_main]

use encharge_engine::trigger::Trigger;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (src, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let src = src.replace('\u{1}', "\n");
    match Trigger::parse(&src) {
        Err(e) => {
            assert!(e.offset + e.len <= src.len(), "{src:?}: {e:?}");
            assert!(
                src.is_char_boundary(e.offset) && src.is_char_boundary(e.offset + e.len),
                "{src:?}: {e:?}"
            );
            assert!(!e.message.is_empty());
        }
        Ok(trigger) => {
            for w in trigger.warnings() {
                assert!(
                    src.is_char_boundary(w.offset) && src.is_char_boundary(w.offset + w.len),
                    "{src:?}: {w:?}"
                );
            }
            let mut events = vec![
                json!({"type": "track", "event": "Order Completed", "userId": "u", "name": "n",
                       "properties": {"plan": "pro", "total": 5, "a": {"b": [0, "x"]}, "s": "té😀"},
                       "traits": {"plan": true}, "context": {"page": {"url": "https://x/p"}}}),
                json!({"properties": {"a": 0, "plan": null}, "traits": null, "context": "text"}),
                json!({}),
                json!([1, 2]),
                Value::Null,
            ];
            if let Ok(extra) = serde_json::from_str::<Value>(rest) {
                events.push(extra);
            }
            for event in &events {
                let matched = trigger.matches(event);
                let reports = trigger.explain(event);
                assert!(!reports.is_empty());
                assert!(reports.iter().all(|r| src.contains(&r.source)));
                if event.is_null() {
                    assert!(!matched && reports.iter().all(|r| !r.matched));
                }
            }
        }
    }
});
