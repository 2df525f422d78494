//! `@json` decoding: `JSON.parse`, with JavaScript's single number type.
//!
//! (Encoding is `JSON.stringify`, in `value.rs`.) `JSON.parse("1.0")` is the
//! number `1`, which prints as `1`; serde_json would keep a float that prints as
//! `1.0`, so integral floats become integers here. Text that does not parse gives
//! `None` and the directive returns the string unchanged, as the reference does.

use serde_json::{Number, Value};

use crate::js;

/// `JSON.parse(text)`, or `None` when it throws.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut v: Value = serde_json::from_str(text).ok()?;
    normalize_numbers(&mut v);
    Some(v)
}

/// Integral floats within JavaScript's exact range become integers (`-0` becomes `0`).
fn normalize_numbers(v: &mut Value) {
    // An explicit stack: the parser already bounds the depth, but this stays flat anyway.
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if n.is_f64() => {
                if let Some(i) = js::exact_integer(js::as_f64(n)) {
                    *n = Number::from(i);
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_as_javascript() {
        let cases = [
            ("42", Some(json!(42))),
            (
                " {\"a\":[1.0,-0.0,1.5,true,null]} ",
                Some(json!({"a": [1, 0, 1.5, true, null]})),
            ),
            ("\"s\"", Some(json!("s"))),
            ("{not json", None),
            ("", None),
            ("1e3", Some(json!(1000))),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), want, "{text}");
        }
    }
}
