//! Paths into the event, split once when the mapping is compiled.
//!
//! mapping-kit's `get` splits a path on `.`, on `[` before a quote or a digit and
//! on `]`s after one, drops empty pieces and then every quote character, and walks
//! with `prev && prev[key]`. So a falsy value (`null`, `0`, `""`, `false`) ends the
//! walk and is the result, `.length` of an array or a string is its length,
//! `$.event[0]` is the first character, and a `.` inside a quoted key still splits.
//! `@path` first removes the first `$.` anywhere in the string (not only a prefix).

use serde_json::Value;

use super::value::{Mapped, array_index, js_len};
use crate::js;

/// A compiled path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    keys: Box<[Key]>,
}

#[derive(Debug, Clone, PartialEq)]
struct Key {
    name: Box<str>,
    /// The key as an array index, when it is one.
    index: Option<usize>,
}

impl Path {
    /// The path of a `@path` (or `@arrayPath`) directive: without its first `$.`.
    pub(crate) fn directive(src: &str) -> Path {
        Path::parse(&src.replacen("$.", "", 1))
    }

    /// A path as mapping-kit's `get` reads it (templates use this one, without `$.` removal).
    pub(crate) fn parse(path: &str) -> Path {
        if path.is_empty() || path == "." {
            return Path { keys: Box::new([]) };
        }
        let bytes = path.as_bytes();
        let mut keys = Vec::new();
        let mut push = |piece: &str| {
            // Empty pieces go first; quotes are removed after, so `[""]` is the key "".
            if !piece.is_empty() {
                let name: String = piece.chars().filter(|c| *c != '"' && *c != '\'').collect();
                let index = array_index(&name);
                keys.push(Key {
                    name: name.into_boxed_str(),
                    index,
                });
            }
        };
        let is_mark = |b: u8| b == b'"' || b == b'\'' || b.is_ascii_digit();
        let (mut start, mut i) = (0, 0);
        while i < bytes.len() {
            match bytes[i] {
                b'[' if bytes.get(i + 1).copied().is_some_and(is_mark) => {
                    push(&path[start..i]);
                    i += 1;
                    start = i;
                }
                b'.' => {
                    push(&path[start..i]);
                    i += 1;
                    start = i;
                }
                b']' if i > 0 && is_mark(bytes[i - 1]) => {
                    push(&path[start..i]);
                    while bytes.get(i) == Some(&b']') {
                        i += 1;
                    }
                    start = i;
                }
                _ => i += 1,
            }
        }
        push(&path[start..]);
        Path {
            keys: keys.into_boxed_slice(),
        }
    }

    /// The path as users wrote it, for descriptions.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::from("$");
        for key in self.keys.iter() {
            out.push('.');
            out.push_str(&key.name);
        }
        out
    }

    /// Walks the path from `root` (`get(root, path)`). What is found in the event
    /// stays borrowed; what is found inside a payload the mapping computed (in
    /// `@transform` or `@arrayPath`) is cloned out of it.
    pub(crate) fn get<'a>(&self, root: &Mapped<'a>) -> Mapped<'a> {
        let mut cur = Cur::Node(root);
        for key in self.keys.iter() {
            cur = match cur {
                Cur::Node(Mapped::Ref(v)) => Cur::Ref(v),
                Cur::Node(Mapped::Val(v)) => Cur::Local(v),
                other => other,
            };
            cur = match cur {
                Cur::Node(Mapped::Arr(items)) => match key.index {
                    Some(i) => match items.get(i) {
                        Some(item) => Cur::Node(item),
                        None => return Mapped::Undef,
                    },
                    None if &*key.name == "length" => Cur::Own(Value::from(items.len())),
                    None => return Mapped::Undef,
                },
                Cur::Node(Mapped::Obj(members)) => match members.iter().find(|(k, _)| **k == *key.name) {
                    Some((_, v)) => Cur::Node(v),
                    None => return Mapped::Undef,
                },
                Cur::Node(_) => return Mapped::Undef,
                Cur::Ref(v) => {
                    if !js::is_truthy(v) {
                        return Mapped::Ref(v);
                    }
                    match step(v, key) {
                        Step::Ref(next) => Cur::Ref(next),
                        Step::Own(next) => Cur::Own(next),
                        Step::Undef => return Mapped::Undef,
                    }
                }
                Cur::Local(v) => {
                    if !js::is_truthy(v) {
                        return Mapped::Val(v.clone());
                    }
                    match step(v, key) {
                        Step::Ref(next) => Cur::Local(next),
                        Step::Own(next) => Cur::Own(next),
                        Step::Undef => return Mapped::Undef,
                    }
                }
                Cur::Own(v) => {
                    if !js::is_truthy(&v) {
                        return Mapped::Val(v);
                    }
                    match step(&v, key) {
                        Step::Ref(next) => Cur::Own(next.clone()),
                        Step::Own(next) => Cur::Own(next),
                        Step::Undef => return Mapped::Undef,
                    }
                }
            };
        }
        match cur {
            Cur::Node(node) => node.clone(),
            Cur::Ref(v) => Mapped::Ref(v),
            Cur::Local(v) => Mapped::Val(v.clone()),
            Cur::Own(v) => Mapped::Val(v),
        }
    }
}

/// Where a walk is: in the mapping's own values, in the event (`'a`), inside a
/// value the mapping computed (`'p`, cloned at the end) or at a value made on the way.
enum Cur<'p, 'a> {
    Node(&'p Mapped<'a>),
    Ref(&'a Value),
    Local(&'p Value),
    Own(Value),
}

enum Step<'a> {
    Ref(&'a Value),
    Own(Value),
    Undef,
}

/// `value[key]` for a truthy JSON value. Properties inherited from JavaScript
/// prototypes (`constructor`, `toFixed`, …) are functions there and do not exist here.
fn step<'a>(v: &'a Value, key: &Key) -> Step<'a> {
    match v {
        Value::Object(map) => lookup(map, &key.name).map_or(Step::Undef, Step::Ref),
        Value::Array(items) => match key.index {
            Some(i) => items.get(i).map_or(Step::Undef, Step::Ref),
            None if &*key.name == "length" => Step::Own(Value::from(items.len())),
            None => Step::Undef,
        },
        Value::String(s) => match key.index {
            Some(i) => {
                // Strings index by UTF-16 code unit; half of a surrogate pair cannot be
                // held in a Rust string and becomes U+FFFD.
                match s.encode_utf16().nth(i) {
                    Some(unit) => Step::Own(Value::String(
                        char::from_u32(u32::from(unit))
                            .unwrap_or(char::REPLACEMENT_CHARACTER)
                            .to_string(),
                    )),
                    None => Step::Undef,
                }
            }
            None if &*key.name == "length" => Step::Own(Value::from(js_len(s))),
            None => Step::Undef,
        },
        _ => Step::Undef,
    }
}

/// `map[key]`. Events are mostly small objects, where comparing keys is cheaper
/// than hashing one with serde_json's SipHash.
pub(crate) fn lookup<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if map.len() <= 12 {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(p: &str) -> Vec<String> {
        Path::parse(p).keys.iter().map(|k| k.name.to_string()).collect()
    }

    #[test]
    fn splits_as_mapping_kit() {
        let cases: &[(&str, &[&str])] = &[
            ("a.b", &["a", "b"]),
            ("a[0].b", &["a", "0", "b"]),
            ("a.0.b", &["a", "0", "b"]),
            ("a[\"k k\"]", &["a", "k k"]),
            ("a['k']", &["a", "k"]),
            ("a[\"dot.key\"]", &["a", "dot", "key"]),
            ("a[x]", &["a[x]"]),
            ("a[0]]]", &["a", "0"]),
            ("a[\"]", &["a", ""]),
            ("..", &[]),
            ("", &[]),
            (".", &[]),
            ("key with spaces", &["key with spaces"]),
        ];
        for (path, want) in cases {
            assert_eq!(names(path), *want, "{path}");
        }
    }

    #[test]
    fn dollar_dot_is_removed_once_anywhere() {
        assert_eq!(Path::directive("$.a.b"), Path::parse("a.b"));
        assert_eq!(Path::directive("$$.event"), Path::parse("$event"));
        assert_eq!(Path::directive("$.$.event"), Path::parse("$.event"));
        assert_eq!(Path::directive("a.$.b"), Path::parse("a.b"));
    }

    #[test]
    fn walks_as_javascript() {
        let event = json!({"p": {"n": null, "z": 0, "e": "", "f": false, "t": true, "l": [1, {"x": 2}], "s": "héllo", "e2": "🚀"}});
        let root = Mapped::Ref(&event);
        let cases = [
            ("$.p.n.x", Some(json!(null))),
            ("$.p.z.x.y", Some(json!(0))),
            ("$.p.e.x", Some(json!(""))),
            ("$.p.f.x", Some(json!(false))),
            ("$.p.t.x", None),
            ("$.p.l.length", Some(json!(2))),
            ("$.p.l[1].x", Some(json!(2))),
            ("$.p.l.5", None),
            ("$.p.s[1]", Some(json!("é"))),
            ("$.p.s.length", Some(json!(5))),
            ("$.p.e2.length", Some(json!(2))),
            ("$.p.s.0.0", Some(json!("h"))),
            ("$.p.s.length.x", None),
            ("$.missing.x", None),
            ("$", None),
        ];
        for (path, want) in cases {
            assert_eq!(Path::directive(path).get(&root).into_value(), want, "{path}");
        }
    }

    #[test]
    fn walks_undefined_array_elements() {
        let v = Mapped::Obj(vec![(
            "l".into(),
            Mapped::Arr(vec![Mapped::Undef, Mapped::Val(json!(null))]),
        )]);
        assert!(Path::parse("l.0.x").get(&v).is_undefined());
        assert_eq!(Path::parse("l.1.x").get(&v).into_value(), Some(json!(null)));
        assert_eq!(Path::parse("l.length").get(&v).into_value(), Some(json!(2)));
    }
}
