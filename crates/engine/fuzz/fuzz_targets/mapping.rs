//! Fuzzes the mapping interpreter: any JSON `[mapping, event]` must compile or be
//! rejected, then resolve or fail, without panicking or overflowing the stack;
//! and the borrowed result must serialize exactly as the owned one.
#![no_main]

use encharge_engine::mapping::Mapping;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (mapping, event) = match input {
        Value::Array(mut pair) if pair.len() == 2 => {
            let event = pair.pop().unwrap_or(Value::Null);
            (pair.pop().unwrap_or(Value::Null), event)
        }
        mapping => (
            mapping,
            json!({"type": "track", "event": "E", "properties": {"a": [1, "x", null, {"b": 0}]}}),
        ),
    };
    let Ok(compiled) = Mapping::compile(&mapping) else {
        return;
    };
    let _ = compiled.describe();
    for (_, field) in compiled.fields().into_iter().flatten() {
        let _ = (field.describe(), field.eval(&event));
    }
    let owned = compiled.eval(&event);
    let borrowed = compiled.eval_borrowed(&event);
    match (owned, borrowed) {
        (Ok(owned), Ok(borrowed)) => {
            let serialized = serde_json::to_value(&borrowed).ok();
            assert_eq!(serialized, Some(owned.clone().unwrap_or(Value::Null)));
            assert_eq!(borrowed.into_value(), owned);
        }
        (Err(_), Err(_)) => {}
        (owned, borrowed) => panic!("eval and eval_borrowed disagree: {owned:?} / {borrowed:?}"),
    }
});
