//! Writing JSON values as block-style YAML, for `test --bless` and for diffs.
//!
//! Only what test files need: mappings and sequences in block style, and
//! scalars plain when YAML reads them back as the same string, else
//! double-quoted (a JSON string is a valid YAML double-quoted scalar).

use serde_json::Value;

/// `key:` and `value` as YAML lines, each indented by `indent` spaces, ending in a newline.
pub fn key_value(key: &str, value: &Value, indent: usize) -> String {
    let mut out = String::new();
    member(&mut out, key, value, indent);
    out
}

/// `value` as YAML lines indented by `indent` spaces (a scalar on one line).
pub fn block(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                member(&mut out, k, v, indent);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                sequence_item(&mut out, item, indent);
            }
        }
        other => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn member(out: &mut String, key: &str, value: &Value, indent: usize) {
    out.push_str(&" ".repeat(indent));
    out.push_str(&string(key));
    out.push(':');
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            for (k, v) in map {
                member(out, k, v, indent + 2);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                sequence_item(out, item, indent + 2);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// `- item`: an object's first member goes on the dash line, the others under it.
fn sequence_item(out: &mut String, item: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match item {
        Value::Object(map) if !map.is_empty() => {
            let nested = block(item, indent + 2);
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(nested.get(indent + 2..).unwrap_or(&nested));
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str(&pad);
            out.push_str("-\n");
            for inner in items {
                sequence_item(out, inner, indent + 2);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string plain when that reads back as the same string, else JSON-quoted.
fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        Value::String(s.to_owned()).to_string()
    }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // Words YAML (1.1 or 1.2) may read as something else than a string.
    const RESERVED: &[&str] = &[
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".nan", ".inf", "-.inf",
    ];
    if RESERVED.contains(&s.to_lowercase().as_str()) {
        return false;
    }
    let starts_ok = first.is_alphabetic() || first == '_' || first == '$' || first == '/';
    let chars_ok = s
        .chars()
        .all(|c| c.is_alphanumeric() || " _-./$@+()':,?=&%#!".contains(c));
    starts_ok && chars_ok && !s.ends_with([' ', ':']) && !s.contains(" #") && !s.contains(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use encharge_engine::config::yaml;
    use serde_json::json;

    #[test]
    fn reads_back_as_the_same_value() {
        let value = json!({
            "expect": [
                {"subscription": "Tag trial users", "action": "addTag", "method": "POST",
                 "url": "https://api.encharge.io/v1/tags",
                 "body": {"tag": "trial-user", "email": "a@example.com", "n": 3, "f": 1.5, "ok": true,
                          "none": null, "empty": {}, "list": [], "nested": [[1, 2], {"a": "b"}],
                          "yes": "yes", "num": "123", "colon": "a: b", "hash": "a #b", "quote": "\"x\"",
                          "lead": " x", "multi": "a\nb", "": "empty key", "dash": "-x", "star": "*x"}},
                {"subscription": "X", "error": "email or userId is required"},
            ]
        });
        let text = key_value("expect", &value["expect"], 0);
        let (back, _) = yaml::parse(&text).unwrap();
        assert_eq!(back, value, "{text}");
        assert!(
            text.contains("\n  - subscription: Tag trial users\n    action: addTag\n"),
            "{text}"
        );
        assert!(text.contains("    url: https://api.encharge.io/v1/tags\n"), "{text}");
    }

    #[test]
    fn empty_lists_stay_inline() {
        assert_eq!(key_value("expect", &json!([]), 4), "    expect: []\n");
    }
}
