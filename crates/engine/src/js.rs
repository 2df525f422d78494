//! JavaScript value semantics that Segment's code leaks into its results.
//!
//! The reference is written in JavaScript, so string conversion of numbers,
//! truthiness and loose equality follow JavaScript's rules. Every module that
//! needs one of them calls the function here, so the rules live in one place.

use serde_json::{Number, Value};

/// `String(n)` for a JSON number: `1.0` is `"1"`, `1e21` is `"1e+21"`, `0.0000001` is `"1e-7"`.
///
/// Integers that fit `i64`/`u64` print all their digits (JavaScript would round
/// those above 2^53; we keep them exact on purpose).
pub fn number_to_string(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    f64_to_string(n.as_f64().unwrap_or(f64::NAN))
}

/// `String(x)` for a JavaScript number.
pub fn f64_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's `{:e}` is the shortest representation that round-trips, like JavaScript's.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        if k == 1 {
            format!("{digits}e{e_sign}{}", e.abs())
        } else {
            format!("{}.{}e{e_sign}{}", &digits[..1], &digits[1..], e.abs())
        }
    };
    format!("{sign}{body}")
}

/// `String(v)`: what a template or a string concatenation makes of a value.
///
/// Arrays join their elements with `,` (null elements print as nothing), objects
/// print as `[object Object]`.
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => to_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// JavaScript truthiness: `null`, `false`, `0`, `""` are falsy; arrays and objects are truthy.
pub fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A JSON number as `f64`, as JavaScript holds every number.
pub fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// `x` as an integer when JavaScript prints it as one with every digit exact:
/// whole and within ±2^53 (`3.0` is `3`, `-0.0` is `0`). serde_json would print
/// such a float as `3.0`; larger whole numbers stay floats, since JavaScript
/// rounds their digits (`2**60` prints as `1152921504606847000`).
pub fn exact_integer(x: f64) -> Option<i64> {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    (x.fract() == 0.0 && x.abs() <= MAX_EXACT).then_some(x as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_does() {
        for (x, want) in [
            (1.0, "1"),
            (59.9, "59.9"),
            (-0.5, "-0.5"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (100.0, "100"),
        ] {
            assert_eq!(f64_to_string(x), want, "{x}");
        }
        assert_eq!(number_to_string(&Number::from(9007199254740993u64)), "9007199254740993");
    }

    #[test]
    fn exact_integers() {
        for (x, want) in [
            (3.0, Some(3)),
            (-0.0, Some(0)),
            (-7.0, Some(-7)),
            (9_007_199_254_740_992.0, Some(9_007_199_254_740_992)),
            (0.5, None),
            (1e21, None),
            (18_014_398_509_481_984.0, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ] {
            assert_eq!(exact_integer(x), want, "{x}");
        }
    }

    #[test]
    fn to_string_matches_javascript() {
        let v: Value = serde_json::json!([1, null, "a", [2, 3], {"k": 1}, true]);
        assert_eq!(to_string(&v), "1,,a,2,3,[object Object],true");
        assert_eq!(to_string(&serde_json::json!({})), "[object Object]");
        assert_eq!(to_string(&Value::Null), "null");
    }

    #[test]
    fn truthiness() {
        for v in [
            serde_json::json!(0),
            serde_json::json!(""),
            Value::Null,
            serde_json::json!(false),
        ] {
            assert!(!is_truthy(&v));
        }
        for v in [
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!("0"),
            serde_json::json!(0.1),
        ] {
            assert!(is_truthy(&v));
        }
    }
}
