//! Fuzzes config loading: any text either loads, or fails with diagnostics that
//! each point inside the file (line and column in range) and render; a loaded
//! config plans any event without panicking.
#![no_main]

use encharge_engine::config::{LoadOptions, Severity, load};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn env(var: &str) -> Option<String> {
    (var == "ENCHARGE_API_KEY").then(|| "fuzz-key".to_owned())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    // YAML breaks lines at "\r\n", "\r" and "\n".
    let lines = text.replace("\r\n", "\n").split(['\r', '\n']).count();
    for require_api_key in [false, true] {
        let options = LoadOptions {
            env: &env,
            require_api_key,
            require_write_keys: require_api_key,
        };
        let files = vec![("f.yaml".to_owned(), text.clone())];
        match load(&files, &options) {
            Err(problems) => {
                assert!(
                    problems.iter().any(|p| p.severity == Severity::Error),
                    "{text:?}: {problems:?}"
                );
                for p in &problems {
                    assert!(p.file == "f.yaml" || p.file.is_empty(), "{text:?}: {p:?}");
                    assert!(p.pos.line >= 1 && p.pos.line as usize <= lines + 1, "{text:?}: {p:?}");
                    assert!(p.pos.column >= 1, "{text:?}: {p:?}");
                    assert!(p.len >= 1 && !p.message.is_empty(), "{text:?}: {p:?}");
                    let _ = p.to_string();
                }
            }
            Ok(loaded) => {
                assert!(loaded.warnings.iter().all(|w| w.severity == Severity::Warning));
                for w in &loaded.warnings {
                    assert!(w.pos.line >= 1 && w.pos.line as usize <= lines + 1, "{text:?}: {w:?}");
                }
                let events = [
                    json!({"type": "track", "event": "Order Completed", "userId": "u", "properties": {"total": 5},
                           "traits": {"tag": "t"}, "context": {"traits": {"email": "a@example.com"}}}),
                    json!({"type": "identify", "traits": {"plan": "pro", "tag": ["x"]}, "context": null}),
                    json!({"type": "group", "groupId": 5}),
                    Value::Null,
                ];
                let mut out = Vec::new();
                for event in &events {
                    out.clear();
                    let _ = loaded.destination.plan(event, &mut out);
                }
            }
        }
    }
    // The same file twice, as a directory of two: every name is a duplicate.
    let files = vec![("a.yaml".to_owned(), text.clone()), ("b.yaml".to_owned(), text)];
    let options = LoadOptions {
        env: &env,
        require_api_key: false,
        require_write_keys: false,
    };
    let _ = load(&files, &options);
});
