//! `@json` decoding: `JSON.parse`, with JavaScript's single number type.
//!
//! (Encoding is `JSON.stringify`, in `value.rs`.) `JSON.parse("1.0")` is the
//! number `1`, which prints as `1`; serde_json would keep a float that prints as
//! `1.0`, so integral floats become integers here. Text that does not parse gives
//! `None` and the directive returns the string unchanged, as the reference does.
//!
//! A number beyond `f64` (`1e400`) is `Infinity` to `JSON.parse`, which
//! `JSON.stringify` sends as `null`; serde_json refuses the whole text instead. A
//! JSON value cannot hold `Infinity`, so such numbers become `null` here: what the
//! request carries. A directive that looks at the decoded value still sees `null`
//! where Segment sees `Infinity`: `@if` `exists` is false, `@excludeWhenNull` drops
//! it, and a `@template` over it in `@transform` prints `""`, not `"Infinity"`.

use serde_json::{Number, Value};

use crate::js;

/// `JSON.parse(text)`, or `None` when it throws.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        // Only when the text has a number that overflows is it worth a second try.
        Err(_) => serde_json::from_str(&overflows_to_null(text)?).ok()?,
    };
    normalize_numbers(&mut v);
    Some(v)
}

/// `text` with every number literal that is infinite as `f64` replaced by `null`;
/// `None` when there is none. Strings are skipped, and only literals JSON's grammar
/// allows are replaced, so that text JSON.parse rejects (`01e400`, `+1e400`) still fails.
fn overflows_to_null(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut replaced = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                // Number literals are ASCII, so `start` and `i` are character boundaries.
                let literal = &text[start..i];
                if is_json_number(literal) && literal.parse::<f64>().is_ok_and(f64::is_infinite) {
                    out.push_str(&text[copied..start]);
                    out.push_str("null");
                    copied = i;
                    replaced = true;
                }
            }
            _ => i += 1,
        }
    }
    replaced.then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Whether `s` is a number as JSON writes it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
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

    /// What `JSON.stringify(JSON.parse(text))` gives in Node (or the text itself when
    /// `JSON.parse` throws).
    #[test]
    fn numbers_beyond_f64_are_null() {
        let long = format!("1{}", "0".repeat(400));
        let cases = [
            ("1e400", Some(json!(null))),
            ("-1e400", Some(json!(null))),
            (" 1e400 ", Some(json!(null))),
            ("[1e999]", Some(json!([null]))),
            ("[1E+400]", Some(json!([null]))),
            (long.as_str(), Some(json!(null))),
            ("[1.5e308, 1.8e308]", Some(json!([1.5e308, null]))),
            (
                r#"{"a":1e400,"b":[1,-1e400,"1e400"],"c":"x\"1e400"}"#,
                Some(json!({"a": null, "b": [1, null, "1e400"], "c": "x\"1e400"})),
            ),
            ("1e-400", Some(json!(0))),
            ("-1e-400", Some(json!(0))),
            ("1e400x", None),
            ("[1e400, 01]", None),
            ("[1e400,]", None),
            ("+1e400", None),
            ("1.e400", None),
            (".5e400", None),
            ("01e400", None),
            ("\"1e400", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), want, "{text}");
        }
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "12", "1.5", "1e5", "1E+5", "-1.25e-7", "10"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", "1.e5", "1-1", "--1"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
