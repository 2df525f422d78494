//! The object-building directives: `@merge` (`Object.assign`), `@flatten`
//! (mapping-kit's `flattenObject`) and `@excludeWhenNull` (its `cleanNulls`).
//!
//! They see JavaScript's `undefined` members: `Object.assign` copies them (so an
//! undefined member of a later object deletes the key once the result is
//! cleaned), and `flattenObject` writes them under their flattened key.

use std::collections::HashMap;

use serde_json::Value;

use super::value::{Js, MAX_DATA_DEPTH, TooDeep};

/// An object under construction: insertion order, unique keys, later writes win
/// in place (as JavaScript keeps a property's position when it is overwritten).
#[derive(Default)]
struct Builder<'a> {
    members: Vec<(String, Js<'a>)>,
    index: HashMap<String, usize>,
}

impl<'a> Builder<'a> {
    fn set(&mut self, key: String, value: Js<'a>) {
        if let Some(&i) = self.index.get(&key) {
            self.members[i].1 = value;
        } else {
            self.index.insert(key.clone(), self.members.len());
            self.members.push((key, value));
        }
    }

    fn finish(self) -> Js<'a> {
        Js::Obj(self.members)
    }
}

/// `Object.assign({}, ...sources)`.
///
/// `null`, `undefined`, numbers and booleans add nothing; strings add their
/// characters and arrays their elements under index keys.
pub(crate) fn assign<'a>(sources: Vec<Js<'a>>) -> Js<'a> {
    let mut out = Builder::default();
    for source in sources {
        match source {
            Js::Undef => {}
            Js::Ref(v) => match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        out.set(k.clone(), Js::Ref(v));
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        out.set(i.to_string(), Js::Ref(v));
                    }
                }
                Value::String(s) => assign_chars(&mut out, s),
                _ => {}
            },
            Js::Val(v) => match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        out.set(k, Js::Val(v));
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.into_iter().enumerate() {
                        out.set(i.to_string(), Js::Val(v));
                    }
                }
                Value::String(s) => assign_chars(&mut out, &s),
                _ => {}
            },
            Js::Arr(items) => {
                for (i, v) in items.into_iter().enumerate() {
                    out.set(i.to_string(), v);
                }
            }
            Js::Obj(members) => {
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
        out.set(i.to_string(), Js::Val(Value::String(c.to_string())));
    }
}

/// `flattenObject(value, '', separator, omitArrays)`.
///
/// Objects (and arrays, unless `omit_arrays`) are walked; every other value lands
/// under the path of keys joined with `separator`. A scalar at the top is `{"": value}`.
pub(crate) fn flatten<'a>(value: &Js<'a>, separator: &str, omit_arrays: bool) -> Result<Js<'a>, TooDeep> {
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
    value: &Js<'a>,
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
        Js::Ref(v) => {
            return flatten_value(v, &|v| Js::Ref(v), prefix, sep, omit_arrays, out, depth);
        }
        Js::Val(v) => {
            return flatten_value(v, &|v| Js::Val(v.clone()), prefix, sep, omit_arrays, out, depth);
        }
        Js::Obj(members) => {
            for (k, v) in members {
                let len = prefix.len();
                push_key(prefix, sep, k);
                flatten_js(v, prefix, sep, omit_arrays, out, depth + 1)?;
                prefix.truncate(len);
            }
        }
        Js::Arr(items) if !omit_arrays => {
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
    leaf: &impl Fn(&'v Value) -> Js<'a>,
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
pub(crate) fn clean_nulls<'a>(value: Js<'a>, depth: usize) -> Result<Js<'a>, TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    Ok(match value {
        Js::Ref(Value::Object(map)) => {
            let mut members = Vec::with_capacity(map.len());
            for (k, v) in map {
                let v = match v {
                    Value::Null => Js::Undef,
                    Value::Object(_) => clean_nulls(Js::Ref(v), depth + 1)?,
                    _ => Js::Ref(v),
                };
                members.push((k.clone(), v));
            }
            Js::Obj(members)
        }
        Js::Val(Value::Object(map)) => {
            let mut members = Vec::with_capacity(map.len());
            for (k, v) in map {
                let v = match v {
                    Value::Null => Js::Undef,
                    Value::Object(_) => clean_nulls(Js::Val(v), depth + 1)?,
                    v => Js::Val(v),
                };
                members.push((k, v));
            }
            Js::Obj(members)
        }
        Js::Obj(members) => {
            let mut out = Vec::with_capacity(members.len());
            for (k, v) in members {
                let v = if v.is_null() {
                    Js::Undef
                } else if matches!(v, Js::Obj(_) | Js::Ref(Value::Object(_)) | Js::Val(Value::Object(_))) {
                    clean_nulls(v, depth + 1)?
                } else {
                    v
                };
                out.push((k, v));
            }
            Js::Obj(out)
        }
        other => other,
    })
}
