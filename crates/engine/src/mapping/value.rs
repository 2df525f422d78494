//! The values a mapping computes with, as JavaScript holds them.
//!
//! mapping-kit resolves a mapping into JavaScript values and removes `undefined`
//! only at the very end, so a few directives see it in between: `@merge` lets an
//! `undefined` member of a later object delete the key, `@flatten` lets it
//! override an earlier key, and an `undefined` array element is not `null` to a
//! path that walks through it. [`Mapped`] keeps `undefined` where JavaScript would, and
//! borrows from the event and the mapping wherever it can, so that the common
//! case (a path into the event) clones nothing until the caller asks for JSON.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::js;

/// A resolved mapping (or part of one), borrowing from the event and the mapping.
///
/// It is what [`Mapping::eval_borrowed`](super::Mapping::eval_borrowed) returns:
/// nothing is cloned from the event, so a planner can serialize it (it implements
/// `serde::Serialize`) or pick fields from it without building JSON first.
/// JavaScript's `undefined` is still in it where mapping-kit had it: undefined
/// object members are left out and undefined array elements are `null` when it
/// is serialized or turned into JSON ([`Mapped::into_value`]), as mapping-kit's
/// output does.
#[derive(Debug, Clone)]
pub enum Mapped<'a> {
    /// `undefined`: the field is left out.
    Undef,
    /// A JSON value borrowed from the event or the mapping; it holds no `undefined`.
    Ref(&'a Value),
    /// A JSON value computed by a directive; it holds no `undefined`.
    Val(Value),
    /// An array built by the mapping; elements may be [`Mapped::Undef`].
    Arr(Vec<Mapped<'a>>),
    /// An object built by the mapping, in insertion order with unique keys;
    /// members may be [`Mapped::Undef`].
    Obj(Vec<(Cow<'a, str>, Mapped<'a>)>),
}

/// A JavaScript type, as `Object.prototype.toString` names it (mapping-kit's `realTypeOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl Type {
    /// The name mapping-kit prints in its messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::Undefined => "undefined",
            Type::Null => "null",
            Type::Boolean => "boolean",
            Type::Number => "number",
            Type::String => "string",
            Type::Array => "array",
            Type::Object => "object",
        }
    }

    /// The type of a JSON value.
    pub(crate) fn of(v: &Value) -> Type {
        match v {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Boolean,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::Array(_) => Type::Array,
            Value::Object(_) => Type::Object,
        }
    }
}

/// Recursion guard for walks over values: deeper data fails instead of overflowing the stack.
pub(crate) const MAX_DATA_DEPTH: usize = 512;

/// Data nested deeper than [`MAX_DATA_DEPTH`].
#[derive(Debug)]
pub(crate) struct TooDeep;

impl<'a> Mapped<'a> {
    /// The JSON value, when this is one (borrowed or computed), not an object or
    /// array built by the mapping.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Mapped::Ref(v) => Some(v),
            Mapped::Val(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> Type {
        match self {
            Mapped::Undef => Type::Undefined,
            Mapped::Ref(v) => Type::of(v),
            Mapped::Val(v) => Type::of(v),
            Mapped::Arr(_) => Type::Array,
            Mapped::Obj(_) => Type::Object,
        }
    }

    /// Whether this is `undefined` (the field is left out).
    pub fn is_undefined(&self) -> bool {
        matches!(self, Mapped::Undef)
    }

    /// `value === undefined || value === null`.
    pub(crate) fn is_nullish(&self) -> bool {
        matches!(self.kind(), Type::Undefined | Type::Null)
    }

    pub(crate) fn is_null(&self) -> bool {
        self.kind() == Type::Null
    }

    /// The string, when this is a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        self.as_value().and_then(Value::as_str)
    }

    /// Detaches the value from the event and the mapping.
    pub fn into_owned(self) -> Mapped<'static> {
        match self {
            Mapped::Undef => Mapped::Undef,
            Mapped::Ref(v) => Mapped::Val(v.clone()),
            Mapped::Val(v) => Mapped::Val(v),
            Mapped::Arr(items) => Mapped::Arr(items.into_iter().map(Mapped::into_owned).collect()),
            Mapped::Obj(members) => Mapped::Obj(
                members
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// A member of an object (built by the mapping or from the event); `None` when
    /// this is not an object or the member is missing or undefined.
    pub fn get(&self, key: &str) -> Option<Mapped<'a>> {
        let found = match self {
            Mapped::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            Mapped::Ref(Value::Object(map)) => map.get(key).map(Mapped::Ref),
            Mapped::Val(Value::Object(map)) => map.get(key).map(|v| Mapped::Val(v.clone())),
            _ => None,
        };
        found.filter(|v| !v.is_undefined())
    }

    /// The value as it leaves mapping-kit (`removeUndefined`, then JSON): `undefined`
    /// members are dropped and `undefined` array elements become `null`; `None` is
    /// `undefined` itself.
    pub fn into_value(self) -> Option<Value> {
        match self {
            Mapped::Undef => None,
            Mapped::Ref(v) => Some(v.clone()),
            Mapped::Val(v) => Some(v),
            Mapped::Arr(items) => Some(Value::Array(
                items
                    .into_iter()
                    .map(|item| item.into_value().unwrap_or(Value::Null))
                    .collect(),
            )),
            Mapped::Obj(members) => {
                let mut map = Map::with_capacity(members.len());
                for (k, v) in members {
                    if let Some(v) = v.into_value() {
                        map.insert(k.into_owned(), v);
                    }
                }
                Some(Value::Object(map))
            }
        }
    }

    /// mapping-kit's `removeUndefined`: `undefined` members of objects are deleted,
    /// at any depth; `undefined` array elements stay.
    pub fn remove_undefined(mut self) -> Mapped<'a> {
        self.strip_undefined();
        self
    }

    fn strip_undefined(&mut self) {
        match self {
            Mapped::Arr(items) => items.iter_mut().for_each(Mapped::strip_undefined),
            Mapped::Obj(members) => {
                members.retain(|(_, v)| !v.is_undefined());
                members.iter_mut().for_each(|(_, v)| v.strip_undefined());
            }
            _ => {}
        }
    }

    /// `String(value)`, appended to `out`.
    pub(crate) fn write_string(&self, out: &mut String) {
        match self {
            Mapped::Undef => out.push_str("undefined"),
            Mapped::Ref(v) => write_value_string(v, out),
            Mapped::Val(v) => write_value_string(v, out),
            Mapped::Arr(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    // Array.prototype.join prints null and undefined elements as nothing.
                    if !item.is_nullish() {
                        item.write_string(out);
                    }
                }
            }
            Mapped::Obj(_) => out.push_str("[object Object]"),
        }
    }

    /// `String(value)`.
    pub(crate) fn to_js_string(&self) -> String {
        let mut out = String::new();
        self.write_string(&mut out);
        out
    }
}

/// Serializes as [`Mapped::into_value`] would give it (`undefined` alone is `null`).
impl serde::Serialize for Mapped<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Mapped::Undef => serializer.serialize_unit(),
            Mapped::Ref(v) => v.serialize(serializer),
            Mapped::Val(v) => v.serialize(serializer),
            Mapped::Arr(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Mapped::Obj(members) => {
                let len = members.iter().filter(|(_, v)| !v.is_undefined()).count();
                let mut map = serializer.serialize_map(Some(len))?;
                for (k, v) in members.iter().filter(|(_, v)| !v.is_undefined()) {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// `String(value)` of a JSON value, appended to `out` (the buffer-writing form of
/// [`js::to_string`], so templates do not allocate per placeholder).
pub(crate) fn write_value_string(v: &Value, out: &mut String) {
    write_value_string_at(v, out, 0);
}

/// Arrays nested deeper than [`MAX_DATA_DEPTH`] (which parsed JSON never is) print nothing.
fn write_value_string_at(v: &Value, out: &mut String, depth: usize) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(_) if depth > MAX_DATA_DEPTH => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !item.is_null() {
                    write_value_string_at(item, out, depth + 1);
                }
            }
        }
        Value::Number(n) => out.push_str(&js::number_to_string(n)),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Object(_) => out.push_str("[object Object]"),
    }
}

/// JavaScript's `String.prototype.length`: UTF-16 code units.
pub(crate) fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// JavaScript's `String.prototype.trim`: its whitespace is not Rust's (U+FEFF is
/// space to JavaScript, U+0085 is not).
pub(crate) fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// JavaScript's whitespace (`\\s`, what `trim` removes).
pub(crate) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// Whether `key` is an array index to JavaScript (`"0"`, `"17"`; not `"01"`, `"-1"`).
pub(crate) fn array_index(key: &str) -> Option<usize> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    // 2^32 - 1 is not an index (it is the maximum length).
    (n < u64::from(u32::MAX)).then_some(n as usize)
}

/// `JSON.stringify(value)`; `None` for `undefined`.
///
/// Numbers print as JavaScript prints them, and object keys that are array
/// indexes come first in ascending order, as JavaScript orders them.
pub(crate) fn stringify(v: &Mapped<'_>) -> Result<Option<String>, TooDeep> {
    if v.is_undefined() {
        return Ok(None);
    }
    let mut out = String::new();
    stringify_js(v, &mut out, 0)?;
    Ok(Some(out))
}

fn stringify_js(v: &Mapped<'_>, out: &mut String, depth: usize) -> Result<(), TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    match v {
        Mapped::Undef => out.push_str("null"),
        Mapped::Ref(v) => stringify_value(v, out, depth)?,
        Mapped::Val(v) => stringify_value(v, out, depth)?,
        Mapped::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                stringify_js(item, out, depth + 1)?;
            }
            out.push(']');
        }
        Mapped::Obj(members) => {
            out.push('{');
            let mut first = true;
            for (k, v) in js_key_order(members.iter().map(|(k, v)| (k.as_ref(), v))) {
                if v.is_undefined() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                write_json_string(k, out);
                out.push(':');
                stringify_js(v, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn stringify_value(v: &Value, out: &mut String, depth: usize) -> Result<(), TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let x = js::as_f64(n);
            if x.is_finite() {
                out.push_str(&js::number_to_string(n));
            } else {
                out.push_str("null");
            }
        }
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                stringify_value(item, out, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in js_key_order(map.iter().map(|(k, v)| (k.as_str(), v)))
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                stringify_value(v, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Object members in JavaScript's property order: array-index keys ascending, then
/// the others in insertion order.
fn js_key_order<'k, T>(members: impl Iterator<Item = (&'k str, T)>) -> Vec<(&'k str, T)> {
    let mut all: Vec<(&str, T)> = members.collect();
    if all.iter().any(|(k, _)| array_index(k).is_some()) {
        // A stable sort keeps the insertion order of the non-index keys.
        all.sort_by_key(|(k, _)| match array_index(k) {
            Some(i) => (0, i),
            None => (1, 0),
        });
    }
    all
}

/// A JSON string literal as `JSON.stringify` writes it.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn undefined_leaves_objects_and_becomes_null_in_arrays() {
        let v = Mapped::Obj(vec![
            ("a".into(), Mapped::Undef),
            ("b".into(), Mapped::Arr(vec![Mapped::Undef, Mapped::Val(json!(1))])),
        ]);
        assert_eq!(v.into_value(), Some(json!({"b": [null, 1]})));
    }

    #[test]
    fn stringify_as_javascript() {
        let cases = [
            (
                Mapped::Val(json!({"b": 1, "2": 2, "1": 1.0, "a": [1.5, null]})),
                r#"{"1":1,"2":2,"b":1,"a":[1.5,null]}"#,
            ),
            (Mapped::Val(json!("a\"\u{1}\n")), r#""a\"\u0001\n""#),
            (
                Mapped::Obj(vec![
                    ("x".into(), Mapped::Undef),
                    ("y".into(), Mapped::Arr(vec![Mapped::Undef])),
                ]),
                r#"{"y":[null]}"#,
            ),
            (Mapped::Val(json!(1e21)), "1e+21"),
        ];
        for (v, want) in cases {
            assert_eq!(stringify(&v).ok().flatten().as_deref(), Some(want));
        }
        assert!(matches!(stringify(&Mapped::Undef), Ok(None)));
    }

    #[test]
    fn strings_as_javascript() {
        let cases = [
            (Mapped::Val(json!([1, null, [2, "x"], {}])), "1,,2,x,[object Object]"),
            (Mapped::Arr(vec![Mapped::Undef, Mapped::Val(json!(true))]), ",true"),
            (Mapped::Obj(vec![]), "[object Object]"),
            (Mapped::Val(json!(0.1)), "0.1"),
        ];
        for (v, want) in cases {
            assert_eq!(v.to_js_string(), want);
        }
    }

    #[test]
    fn indexes_and_trim() {
        for (k, want) in [
            ("0", Some(0)),
            ("12", Some(12)),
            ("01", None),
            ("-1", None),
            ("", None),
            ("1a", None),
        ] {
            assert_eq!(array_index(k), want, "{k}");
        }
        assert_eq!(array_index("4294967295"), None);
        assert_eq!(js_trim("\u{feff} a\u{a0}"), "a");
        assert_eq!(js_trim("\u{85}a"), "\u{85}a");
    }
}
