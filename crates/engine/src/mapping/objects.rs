//! The object-building directives: `@merge` (`Object.assign`), `@flatten`
//! (mapping-kit's `flattenObject`) and `@excludeWhenNull` (its `cleanNulls`).
//!
//! They see JavaScript's `undefined` members: `Object.assign` copies them (so an
//! undefined member of a later object deletes the key once the result is
//! cleaned), and `flattenObject` writes them under their flattened key.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use super::value::{MAX_DATA_DEPTH, Mapped, TooDeep};

/// An object under construction: insertion order, unique keys, later writes win
/// in place (as JavaScript keeps a property's position when it is overwritten).
#[derive(Default)]
struct Builder<'a> {
    members: Vec<(Cow<'a, str>, Mapped<'a>)>,
    index: HashMap<Cow<'a, str>, usize>,
}

impl<'a> Builder<'a> {
    fn set(&mut self, key: impl Into<Cow<'a, str>>, value: Mapped<'a>) {
        let key = key.into();
        if let Some(&i) = self.index.get(&key) {
            self.members[i].1 = value;
        } else {
            self.index.insert(key.clone(), self.members.len());
            self.members.push((key, value));
        }
    }

    fn finish(self) -> Mapped<'a> {
        Mapped::Obj(self.members)
    }
}

/// `Object.assign({}, ...sources)`.
///
/// `null`, `undefined`, numbers and booleans add nothing; strings add their
/// characters and arrays their elements under index keys.
pub(crate) fn assign<'a>(sources: Vec<Mapped<'a>>) -> Mapped<'a> {
    let mut out = Builder::default();
    for source in sources {
        match source {
            Mapped::Undef => {}
            Mapped::Ref(v) => match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        out.set(k.as_str(), Mapped::Ref(v));
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        out.set(i.to_string(), Mapped::Ref(v));
                    }
                }
                Value::String(s) => assign_chars(&mut out, s),
                _ => {}
            },
            Mapped::Val(v) => match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        out.set(k, Mapped::Val(v));
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.into_iter().enumerate() {
                        out.set(i.to_string(), Mapped::Val(v));
                    }
                }
                Value::String(s) => assign_chars(&mut out, &s),
                _ => {}
            },
            Mapped::Arr(items) => {
                for (i, v) in items.into_iter().enumerate() {
                    out.set(i.to_string(), v);
                }
            }
            Mapped::Obj(members) => {
                for (k, v) in members {
                    out.set(k, v);
                }
            }
        }
    }
    out.finish()
}

/// A string's own properties are its UTF-16 code units; half of a surrogate pair
/// cannot be held in a Rust string and becomes U+FFFD.
fn assign_chars(out: &mut Builder<'_>, s: &str) {
    for (i, unit) in s.encode_utf16().enumerate() {
        let c = char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
        out.set(i.to_string(), Mapped::Val(Value::String(c.to_string())));
    }
}

/// `flattenObject(value, '', separator, omitArrays)`.
///
/// Objects (and arrays, unless `omit_arrays`) are walked; every other value lands
/// under the path of keys joined with `separator`. A scalar at the top is `{"": value}`.
pub(crate) fn flatten<'a>(value: &Mapped<'a>, separator: &str, omit_arrays: bool) -> Result<Mapped<'a>, TooDeep> {
    let mut out = Builder::default();
    let mut prefix = String::new();
    flatten_js(value, &mut prefix, separator, omit_arrays, &mut out, 0)?;
    Ok(out.finish())
}

/// The key of a member: `prefix ? prefix + separator + key : key`.
fn push_key(prefix: &mut String, separator: &str, key: &str) {
    if !prefix.is_empty() {
        prefix.push_str(separator);
    }
    prefix.push_str(key);
}

fn flatten_js<'a>(
    value: &Mapped<'a>,
    prefix: &mut String,
    sep: &str,
    omit_arrays: bool,
    out: &mut Builder<'a>,
    depth: usize,
) -> Result<(), TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    match value {
        Mapped::Ref(v) => {
            return flatten_value(v, &|v| Mapped::Ref(v), prefix, sep, omit_arrays, out, depth);
        }
        Mapped::Val(v) => {
            return flatten_value(v, &|v| Mapped::Val(v.clone()), prefix, sep, omit_arrays, out, depth);
        }
        Mapped::Obj(members) => {
            for (k, v) in members {
                let len = prefix.len();
                push_key(prefix, sep, k);
                flatten_js(v, prefix, sep, omit_arrays, out, depth + 1)?;
                prefix.truncate(len);
            }
        }
        Mapped::Arr(items) if !omit_arrays => {
            for (i, v) in items.iter().enumerate() {
                let len = prefix.len();
                push_key(prefix, sep, &i.to_string());
                flatten_js(v, prefix, sep, omit_arrays, out, depth + 1)?;
                prefix.truncate(len);
            }
        }
        leaf => out.set(prefix.clone(), leaf.clone()),
    }
    Ok(())
}

/// Flattens a JSON value; `leaf` keeps leaves borrowed from the event, or clones
/// them out of a value the mapping computed.
fn flatten_value<'v, 'a>(
    v: &'v Value,
    leaf: &impl Fn(&'v Value) -> Mapped<'a>,
    prefix: &mut String,
    sep: &str,
    omit_arrays: bool,
    out: &mut Builder<'a>,
    depth: usize,
) -> Result<(), TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    match v {
        Value::Object(map) => {
            for (k, c) in map {
                let len = prefix.len();
                push_key(prefix, sep, k);
                flatten_value(c, leaf, prefix, sep, omit_arrays, out, depth + 1)?;
                prefix.truncate(len);
            }
        }
        Value::Array(items) if !omit_arrays => {
            for (i, c) in items.iter().enumerate() {
                let len = prefix.len();
                push_key(prefix, sep, &i.to_string());
                flatten_value(c, leaf, prefix, sep, omit_arrays, out, depth + 1)?;
                prefix.truncate(len);
            }
        }
        _ => out.set(prefix.clone(), leaf(v)),
    }
    Ok(())
}

/// `@excludeWhenNull`'s `cleanNulls`: `null` members of objects become
/// `undefined`, in nested objects too; arrays are left as they are.
pub(crate) fn clean_nulls<'a>(value: Mapped<'a>, depth: usize) -> Result<Mapped<'a>, TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    Ok(match value {
        Mapped::Ref(Value::Object(map)) => {
            let mut members = Vec::with_capacity(map.len());
            for (k, v) in map {
                let v = match v {
                    Value::Null => Mapped::Undef,
                    Value::Object(_) => clean_nulls(Mapped::Ref(v), depth + 1)?,
                    _ => Mapped::Ref(v),
                };
                members.push((Cow::Borrowed(k.as_str()), v));
            }
            Mapped::Obj(members)
        }
        Mapped::Val(Value::Object(map)) => {
            let mut members = Vec::with_capacity(map.len());
            for (k, v) in map {
                let v = match v {
                    Value::Null => Mapped::Undef,
                    Value::Object(_) => clean_nulls(Mapped::Val(v), depth + 1)?,
                    v => Mapped::Val(v),
                };
                members.push((Cow::Owned(k), v));
            }
            Mapped::Obj(members)
        }
        Mapped::Obj(members) => {
            let mut out = Vec::with_capacity(members.len());
            for (k, v) in members {
                let v = if v.is_null() {
                    Mapped::Undef
                } else if matches!(
                    v,
                    Mapped::Obj(_) | Mapped::Ref(Value::Object(_)) | Mapped::Val(Value::Object(_))
                ) {
                    clean_nulls(v, depth + 1)?
                } else {
                    v
                };
                out.push((k, v));
            }
            Mapped::Obj(out)
        }
        other => other,
    })
}
