//! What one FQL condition means, and how it is tested against an event.
//!
//! The meaning is Segment's (`@segment/destination-subscriptions` 3.37.0): a condition
//! compiles to a field and a [`Test`] exactly as its `parseFql` builds a node (string
//! comparison for `type`/`event`/`name`/`userId`, `= null` as a missing test, `= 5`
//! only for JSON numbers, `!= true` as a text comparison...), and a path is looked up
//! the way its `get` helper does in JavaScript: walking through a falsy value returns
//! that value, and strings and lists have a `length` and numeric indexes.
//! Testing allocates nothing.

use serde_json::Value;

use super::lex::{Kind, Token};

/// A JavaScript value produced from a token (Segment's `getTokenValue`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsVal {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl JsVal {
    /// `getTokenValue`: double quotes stripped, numbers through `Number()`, the words
    /// `true`/`false` as booleans, everything else as its text.
    pub(crate) fn of(token: &Token) -> JsVal {
        match token.kind {
            Kind::String => {
                let t = token.text.strip_prefix('"').unwrap_or(&token.text);
                JsVal::Str(t.strip_suffix('"').unwrap_or(t).to_owned())
            }
            Kind::Number => JsVal::Num(string_to_number(&token.text)),
            Kind::Ident if token.text == "true" => JsVal::Bool(true),
            Kind::Ident if token.text == "false" => JsVal::Bool(false),
            _ => JsVal::Str(token.text.clone()),
        }
    }

    /// JavaScript's `String(v)`.
    pub(crate) fn to_js_string(&self) -> String {
        match self {
            JsVal::Str(s) => s.clone(),
            JsVal::Num(n) => crate::js::f64_to_string(*n),
            JsVal::Bool(b) => b.to_string(),
        }
    }

    /// JavaScript's `Number(v)`.
    pub(crate) fn to_number(&self) -> f64 {
        match self {
            JsVal::Str(s) => string_to_number(s),
            JsVal::Num(n) => *n,
            JsVal::Bool(b) => f64::from(u8::from(*b)),
        }
    }
}

/// JavaScript's `Number(string)`: surrounding whitespace ignored, `""` is 0,
/// `0x`/`0o`/`0b` integers, `Infinity`, decimal literals with an exponent; else NaN.
pub(crate) fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            // Exact while it fits; beyond 2^128 a float accumulation is close enough.
            return match u128::from_str_radix(digits, radix) {
                Ok(v) => v as f64,
                Err(_) => digits
                    .chars()
                    .filter_map(|c| c.to_digit(radix))
                    .fold(0.0, |acc, d| acc * f64::from(radix) + f64::from(d)),
            };
        }
    }
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_decimal_literal(body) {
        return f64::NAN;
    }
    body.parse::<f64>().map_or(f64::NAN, |v| sign * v)
}

/// `StrUnsignedDecimalLiteral`: digits with an optional fraction and exponent,
/// at least one digit in the mantissa. Checked first because Rust's parser also
/// takes `inf` and `nan`.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - from
    };
    let mut mantissa = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// JavaScript's `WhiteSpace` and `LineTerminator`, which `Number()` trims.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// The event member a condition reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    /// `type`, `event`, `name` or `userId`: the member itself.
    Top(&'static str),
    /// `properties.*`, `traits.*`, `context.*`: a path under that member.
    Under(&'static str, Path),
}

/// A path as Segment's `get` reads it: the name after the root, split at `.`, `[`, `]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Path {
    Keys(Box<[Key]>),
    /// An empty name: `get` returns undefined without looking.
    Empty,
    /// A name made only of `.`, `[` and `]`: `get` throws a TypeError on every event.
    Crash,
}

impl Path {
    /// Splits a name as `name.match(/([^[.\]])+/g)` does.
    pub(crate) fn parse(name: &str) -> Path {
        if name.is_empty() {
            return Path::Empty;
        }
        let keys: Vec<Key> = name
            .split(['.', '[', ']'])
            .filter(|k| !k.is_empty())
            .map(Key::new)
            .collect();
        if keys.is_empty() {
            Path::Crash
        } else {
            Path::Keys(keys.into_boxed_slice())
        }
    }
}

/// Which JavaScript prototypes have a member of a key's name (a bit set).
const OBJECT: u8 = 1;
const FUNCTION: u8 = 2;
const STRING: u8 = 4;
const ARRAY: u8 = 8;
const NUMBER: u8 = 16;
const BOOLEAN: u8 = 32;

/// Own property names of the built-in prototypes in Node 20, which `get` finds on any
/// value of that type that has no own member of the name.
const PROTOTYPES: &[(u8, &[&str])] = &[
    (
        OBJECT,
        &[
            "__defineGetter__",
            "__defineSetter__",
            "__lookupGetter__",
            "__lookupSetter__",
            "__proto__",
            "constructor",
            "hasOwnProperty",
            "isPrototypeOf",
            "propertyIsEnumerable",
            "toLocaleString",
            "toString",
            "valueOf",
        ],
    ),
    (
        FUNCTION,
        &[
            "apply",
            "arguments",
            "bind",
            "call",
            "caller",
            "constructor",
            "length",
            "name",
            "toString",
        ],
    ),
    (
        STRING,
        &[
            "anchor",
            "at",
            "big",
            "blink",
            "bold",
            "charAt",
            "charCodeAt",
            "codePointAt",
            "concat",
            "constructor",
            "endsWith",
            "fixed",
            "fontcolor",
            "fontsize",
            "includes",
            "indexOf",
            "isWellFormed",
            "italics",
            "lastIndexOf",
            "link",
            "localeCompare",
            "match",
            "matchAll",
            "normalize",
            "padEnd",
            "padStart",
            "repeat",
            "replace",
            "replaceAll",
            "search",
            "slice",
            "small",
            "split",
            "startsWith",
            "strike",
            "sub",
            "substr",
            "substring",
            "sup",
            "toLocaleLowerCase",
            "toLocaleUpperCase",
            "toLowerCase",
            "toString",
            "toUpperCase",
            "toWellFormed",
            "trim",
            "trimEnd",
            "trimLeft",
            "trimRight",
            "trimStart",
            "valueOf",
        ],
    ),
    (
        ARRAY,
        &[
            "at",
            "concat",
            "constructor",
            "copyWithin",
            "entries",
            "every",
            "fill",
            "filter",
            "find",
            "findIndex",
            "findLast",
            "findLastIndex",
            "flat",
            "flatMap",
            "forEach",
            "includes",
            "indexOf",
            "join",
            "keys",
            "lastIndexOf",
            "map",
            "pop",
            "push",
            "reduce",
            "reduceRight",
            "reverse",
            "shift",
            "slice",
            "some",
            "sort",
            "splice",
            "toLocaleString",
            "toReversed",
            "toSorted",
            "toSpliced",
            "toString",
            "unshift",
            "values",
            "with",
        ],
    ),
    (
        NUMBER,
        &[
            "constructor",
            "toExponential",
            "toFixed",
            "toLocaleString",
            "toPrecision",
            "toString",
            "valueOf",
        ],
    ),
    (BOOLEAN, &["constructor", "toString", "valueOf"]),
];

/// Name -> prototype bits, built once: paths can have hundreds of thousands of keys.
fn builtins() -> &'static std::collections::HashMap<&'static str, u8> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<&'static str, u8>> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = std::collections::HashMap::new();
        for (bit, names) in PROTOTYPES {
            for name in *names {
                *map.entry(*name).or_insert(0) |= bit;
            }
        }
        map
    })
}

/// One key of a path, with what JavaScript would find under it besides own members.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    name: Box<str>,
    /// A canonical array index (`"0"`, `"12"`, not `"01"`).
    index: Option<usize>,
    /// Which prototypes have a member of this name.
    builtin: u8,
}

impl Key {
    fn new(name: &str) -> Key {
        let canonical = name == "0" || (!name.starts_with('0') && name.bytes().all(|b| b.is_ascii_digit()));
        let index = if canonical {
            name.parse::<u32>().ok().filter(|i| *i != u32::MAX).map(|i| i as usize)
        } else {
            None
        };
        let builtin = builtins().get(name).copied().unwrap_or(0);
        Key {
            name: name.into(),
            index,
            builtin,
        }
    }

    /// Whether JavaScript finds something under this name in *any* object that lacks
    /// it (`constructor`, `toString`, `__proto__`...): `validate` then sees a function
    /// where the user expects a missing value. (`length` and the methods of strings
    /// and lists only appear on those, where reading them is usually meant.)
    pub(crate) fn is_object_builtin(&self) -> bool {
        self.builtin & OBJECT != 0
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// The value `get` returns, without copying anything out of the event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seen<'a> {
    /// `undefined`
    Missing,
    Json(&'a Value),
    /// The `length` of a string or list.
    Length(usize),
    /// One UTF-16 unit of a string (`"abc"[0]`).
    Unit(u16),
    /// A JavaScript built-in (a method, a prototype): present, but neither text,
    /// number nor boolean. Walking through one is approximated: built-in names stay
    /// built-ins, other names are missing.
    BuiltIn,
}

impl<'a> Seen<'a> {
    fn step(self, key: &Key) -> Seen<'a> {
        let builtin = |mask: u8| {
            if key.builtin & (mask | OBJECT) != 0 {
                Seen::BuiltIn
            } else {
                Seen::Missing
            }
        };
        match self {
            // `previousObject && previousObject[key]`: a falsy value is returned as is.
            Seen::Missing | Seen::Length(0) => self,
            Seen::Json(Value::Null | Value::Bool(false)) => self,
            Seen::Json(Value::Number(n)) if crate::js::as_f64(n) == 0.0 => self,
            Seen::Json(Value::String(s)) if s.is_empty() => self,
            Seen::Json(Value::Object(map)) => match member(map, &key.name) {
                Some(v) => Seen::Json(v),
                None => builtin(0),
            },
            Seen::Json(Value::Array(items)) => {
                if let Some(i) = key.index {
                    return items.get(i).map_or(Seen::Missing, Seen::Json);
                }
                if &*key.name == "length" {
                    return Seen::Length(items.len());
                }
                builtin(ARRAY)
            }
            Seen::Json(Value::String(s)) => {
                if let Some(i) = key.index {
                    return s.encode_utf16().nth(i).map_or(Seen::Missing, Seen::Unit);
                }
                if &*key.name == "length" {
                    return Seen::Length(s.encode_utf16().count());
                }
                builtin(STRING)
            }
            Seen::Json(Value::Number(_)) | Seen::Length(_) => builtin(NUMBER),
            Seen::Json(Value::Bool(true)) => builtin(BOOLEAN),
            Seen::Unit(_) => match (key.index, &*key.name) {
                (Some(0), _) => self,
                (_, "length") => Seen::Length(1),
                _ => builtin(STRING),
            },
            Seen::BuiltIn => builtin(FUNCTION),
        }
    }

    fn number(self) -> Option<f64> {
        match self {
            Seen::Json(Value::Number(n)) => Some(crate::js::as_f64(n)),
            Seen::Length(n) => Some(n as f64),
            _ => None,
        }
    }

    fn exists(self) -> bool {
        !matches!(self, Seen::Missing | Seen::Json(Value::Null))
    }

    /// The value for a report: `None` when missing.
    pub(crate) fn to_value(self) -> Option<Value> {
        match self {
            Seen::Missing => None,
            Seen::Json(v) => Some(v.clone()),
            Seen::Length(n) => Some(Value::from(n)),
            Seen::Unit(u) => Some(Value::String(String::from_utf16_lossy(&[u]))),
            Seen::BuiltIn => Some(Value::String("[JavaScript built-in]".to_owned())),
        }
    }
}

/// A text operand, with its single UTF-16 unit when it has exactly one (to compare
/// with one unit of a string).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text {
    text: Box<str>,
    unit: Option<u16>,
}

impl Text {
    fn new(text: String) -> Text {
        let mut units = text.encode_utf16();
        let unit = match (units.next(), units.next()) {
            (Some(u), None) => Some(u),
            _ => None,
        };
        Text {
            text: text.into(),
            unit,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Compares with a one-unit string: equal, or (for `contains`/prefix/suffix) empty.
    fn unit_is(&self, u: u16, or_empty: bool) -> bool {
        self.unit == Some(u) || (or_empty && self.text.is_empty())
    }
}

/// A test on the value at a condition's field: Segment's `validateValue` operators.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// `=`: `actual === String(expected)`.
    Eq(Text),
    /// `!=`: `actual !== String(expected)` (also true when missing).
    Ne(Text),
    NumEq(f64),
    NumNe(f64),
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
    Contains(Text),
    NotContains(Text),
    StartsWith(Text),
    NotStartsWith(Text),
    EndsWith(Text),
    NotEndsWith(Text),
    Exists,
    NotExists,
    IsTrue,
    IsFalse,
    /// An operator `validateValue` does not know: always false.
    Never,
}

impl Test {
    /// `validateValue(actual, operator, expected)` for an operator and its expected value.
    fn new(operator: &str, expected: Option<&JsVal>) -> Test {
        let text = || {
            Text::new(
                expected
                    .map(JsVal::to_js_string)
                    .unwrap_or_else(|| "undefined".to_owned()),
            )
        };
        let num = || expected.map_or(f64::NAN, JsVal::to_number);
        match operator {
            "=" => Test::Eq(text()),
            "!=" => Test::Ne(text()),
            "number_equals" => Test::NumEq(num()),
            "number_not_equals" => Test::NumNe(num()),
            "<" => Test::Lt(num()),
            "<=" => Test::Le(num()),
            ">" => Test::Gt(num()),
            ">=" => Test::Ge(num()),
            "contains" => Test::Contains(text()),
            "not_contains" => Test::NotContains(text()),
            "starts_with" => Test::StartsWith(text()),
            "not_starts_with" => Test::NotStartsWith(text()),
            "ends_with" => Test::EndsWith(text()),
            "not_ends_with" => Test::NotEndsWith(text()),
            "exists" => Test::Exists,
            "not_exists" => Test::NotExists,
            "is_true" => Test::IsTrue,
            "is_false" => Test::IsFalse,
            _ => Test::Never,
        }
    }

    fn eval(&self, seen: Seen<'_>) -> bool {
        use std::ops::Not;
        /// `typeof actual === 'string' && f(actual)` for a text test with an expected text.
        fn text(seen: Seen<'_>, e: &Text, on_str: fn(&str, &str) -> bool, or_empty: bool) -> Option<bool> {
            match seen {
                Seen::Json(Value::String(s)) => Some(on_str(s, e.as_str())),
                Seen::Unit(u) => Some(e.unit_is(u, or_empty)),
                _ => None,
            }
        }
        let number = seen.number();
        match self {
            Test::Eq(e) => text(seen, e, |s, e| s == e, false) == Some(true),
            Test::Ne(e) => text(seen, e, |s, e| s == e, false) != Some(true),
            Test::NumEq(x) => number.is_some_and(|n| n == *x),
            Test::NumNe(x) => number.is_some_and(|n| n != *x),
            Test::Lt(x) => number.is_some_and(|n| n < *x),
            Test::Le(x) => number.is_some_and(|n| n <= *x),
            Test::Gt(x) => number.is_some_and(|n| n > *x),
            Test::Ge(x) => number.is_some_and(|n| n >= *x),
            Test::Contains(e) => text(seen, e, |s, e| s.contains(e), true) == Some(true),
            Test::NotContains(e) => text(seen, e, |s, e| s.contains(e), true).map(Not::not) == Some(true),
            Test::StartsWith(e) => text(seen, e, |s, e| s.starts_with(e), true) == Some(true),
            Test::NotStartsWith(e) => text(seen, e, |s, e| s.starts_with(e), true).map(Not::not) == Some(true),
            Test::EndsWith(e) => text(seen, e, |s, e| s.ends_with(e), true) == Some(true),
            Test::NotEndsWith(e) => text(seen, e, |s, e| s.ends_with(e), true).map(Not::not) == Some(true),
            Test::Exists => seen.exists(),
            Test::NotExists => !seen.exists(),
            Test::IsTrue => matches!(seen, Seen::Json(Value::Bool(true))),
            Test::IsFalse => matches!(seen, Seen::Json(Value::Bool(false))),
            Test::Never => false,
        }
    }
}

/// `map[name]`. Events have a dozen top-level keys or so: comparing them in order
/// beats hashing the name (serde_json's ordered map hashes with SipHash).
fn member<'a>(map: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if map.len() <= 16 {
        map.iter()
            .find(|(k, _)| k.len() == name.len() && k.as_str() == name)
            .map(|(_, v)| v)
    } else {
        map.get(name)
    }
}

/// One compiled condition: Segment's node for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leaf {
    pub field: Field,
    pub test: Test,
}

/// Why evaluating failed where the reference throws (a TypeError).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crash;

impl Leaf {
    /// The value the condition looks at. `Err` where the reference throws: a `null`
    /// event, or a path made only of separators.
    pub(crate) fn seen<'a>(&self, event: &'a Value) -> Result<Seen<'a>, Crash> {
        let member = |name: &str| match event {
            Value::Null => Err(Crash),
            Value::Object(map) => Ok(member(map, name).map_or(Seen::Missing, Seen::Json)),
            // `"text".type`, `[].type`, `(5).type`: undefined.
            _ => Ok(Seen::Missing),
        };
        match &self.field {
            Field::Top(name) => member(name),
            Field::Under(root, path) => {
                let start = member(root)?;
                match path {
                    Path::Keys(keys) => Ok(keys.iter().fold(start, Seen::step)),
                    Path::Empty => Ok(Seen::Missing),
                    Path::Crash => Err(Crash),
                }
            }
        }
    }

    /// Segment's `validateCondition` for this node.
    pub(crate) fn eval(&self, event: &Value) -> Result<bool, Crash> {
        Ok(self.test.eval(self.seen(event)?))
    }
}

/// The condition types of Segment's parser, by the first `.`-segment of a word.
pub(crate) fn condition_root(word: &str) -> Option<&'static str> {
    let first = word.split('.').next().unwrap_or(word);
    ["type", "event", "name", "userId", "properties", "traits", "context"]
        .into_iter()
        .find(|r| *r == first)
}

/// `word.replace(/^(root)\./, '')`: the path under `properties`/`traits`/`context`.
pub(crate) fn name_under<'w>(word: &'w str, root: &str) -> &'w str {
    word.strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(word)
}

fn under(root: &'static str, word: &str) -> Field {
    Field::Under(root, Path::parse(name_under(word, root)))
}

/// The node Segment's parser builds for `<word> <op> <value>`; `None` when it drops
/// the condition (a word that is not one of its fields).
pub(crate) fn condition_leaf(word: &str, op: &Token, value: &Token) -> Option<Leaf> {
    let root = condition_root(word)?;
    let is_eq = op.text == "=";
    let is_ne = op.text == "!=";
    let is_true = is_eq && value.text == "true";
    let is_false = is_eq && value.text == "false";
    let exists = is_ne && value.text == "null";
    let not_exists = is_eq && value.text == "null";
    let number = value.kind == Kind::Number;
    let js = JsVal::of(value);
    let text = JsVal::Str(js.to_js_string());
    let (field, operator, expected) = match root {
        "type" | "event" => (Field::Top(root), op.text.as_str(), Some(text)),
        "name" if exists => (Field::Top(root), "exists", None),
        "name" if not_exists => (Field::Top(root), "not_exists", None),
        "name" => (Field::Top(root), op.text.as_str(), Some(text)),
        "userId" if exists => (Field::Top(root), "exists", None),
        "userId" if not_exists => (Field::Top(root), "not_exists", None),
        "userId" if is_true => (Field::Top(root), "is_true", None),
        "userId" if is_false => (Field::Top(root), "is_false", None),
        "userId" => (Field::Top(root), op.text.as_str(), Some(text)),
        _ if exists => (under(root, word), "exists", None),
        _ if not_exists => (under(root, word), "not_exists", None),
        _ if is_true => (under(root, word), "is_true", None),
        _ if is_false => (under(root, word), "is_false", None),
        _ if is_eq && number => (under(root, word), "number_equals", Some(js)),
        _ if is_ne && number => (under(root, word), "number_not_equals", Some(js)),
        _ => (under(root, word), op.text.as_str(), Some(js)),
    };
    Some(Leaf {
        field,
        test: Test::new(operator, expected.as_ref()),
    })
}

/// The field of a `contains()`/`match()` argument; `None` when Segment drops it
/// (`type`, `event.x`, anything else). Note the prefix test: `propertiesX` counts.
pub(crate) fn function_field(word: &str) -> Option<Field> {
    if let Some(top) = ["event", "name", "userId"].into_iter().find(|r| *r == word) {
        return Some(Field::Top(top));
    }
    ["properties", "traits", "context"]
        .into_iter()
        .find(|r| word.starts_with(r))
        .map(|root| under(root, word))
}

/// The node of `contains(<word>, <value>)` / `match(<word>, <value>)`, negated with `!`.
pub(crate) fn function_leaf(function: &str, negate: bool, word: &str, value: &Token) -> Option<Leaf> {
    let field = function_field(word)?;
    let text = JsVal::of(value).to_js_string();
    let (operator, expected) = if function == "contains" {
        (if negate { "not_contains" } else { "contains" }, text)
    } else if value.text.ends_with("*\"") {
        // `String(value).slice(0, -1)`: drops the last UTF-16 unit, the `*`.
        (
            if negate { "not_starts_with" } else { "starts_with" },
            utf16_slice(&text, 0, 1),
        )
    } else {
        // Any other pattern is taken as ends-with of everything after its first unit.
        (
            if negate { "not_ends_with" } else { "ends_with" },
            utf16_slice(&text, 1, 0),
        )
    };
    Some(Leaf {
        field,
        test: Test::new(operator, Some(&JsVal::Str(expected))),
    })
}

/// `text` without `front` UTF-16 units at the start and `back` at the end.
fn utf16_slice(text: &str, front: usize, back: usize) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    let end = units.len().saturating_sub(back);
    String::from_utf16_lossy(units.get(front.min(end)..end).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn number_conversion_follows_javascript() {
        let table: &[(&str, f64)] = &[
            ("5", 5.0),
            (" 12 ", 12.0),
            ("", 0.0),
            ("  ", 0.0),
            ("-1.5", -1.5),
            ("+.5", 0.5),
            ("1.", 1.0),
            ("1e3", 1000.0),
            ("0x10", 16.0),
            ("0b11", 3.0),
            ("0o7", 7.0),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("007", 7.0),
        ];
        for (s, want) in table {
            assert_eq!(string_to_number(s), *want, "{s:?}");
        }
        for s in [
            "abc", "-", "+", ".", "1_000", "inf", "nan", "-0x10", "1e", "e5", "0x", "1 2", "infinity",
        ] {
            assert!(string_to_number(s).is_nan(), "{s:?}");
        }
    }

    #[test]
    fn paths_split_like_segment_get() {
        let keys = |name: &str| match Path::parse(name) {
            Path::Keys(keys) => keys.iter().map(|k| k.name().to_owned()).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(keys("a.b"), ["a", "b"]);
        assert_eq!(keys("a[0].b"), ["a", "0", "b"]);
        assert_eq!(keys("first name"), ["first name"]);
        assert_eq!(Path::parse(""), Path::Empty);
        assert_eq!(Path::parse(".[]"), Path::Crash);
    }

    #[test]
    fn lookups_follow_javascript() {
        let event = json!({"properties": {
            "s": "héllo", "list": [1, {"x": 2}], "zero": 0, "empty": "", "no": false, "nul": null, "n": 5, "yes": true,
        }});
        let look = |path: &str| {
            let leaf = Leaf {
                field: Field::Under("properties", Path::parse(path)),
                test: Test::Never,
            };
            leaf.seen(&event).unwrap().to_value()
        };
        let table: &[(&str, Option<Value>)] = &[
            ("s.length", Some(json!(5))),
            ("s.1", Some(json!("é"))),
            ("s.01", None),
            ("s.9", None),
            ("s.0.length", Some(json!(1))),
            ("list.length", Some(json!(2))),
            ("list.1.x", Some(json!(2))),
            ("list.2", None),
            ("zero.a.b", Some(json!(0))),
            ("empty.a", Some(json!(""))),
            ("no.a", Some(json!(false))),
            ("nul.a", Some(json!(null))),
            ("missing.a", None),
            ("n.toFixed", Some(json!("[JavaScript built-in]"))),
            ("n.x", None),
            ("yes.valueOf", Some(json!("[JavaScript built-in]"))),
            ("constructor", Some(json!("[JavaScript built-in]"))),
            ("s.link", Some(json!("[JavaScript built-in]"))),
            ("list.filter", Some(json!("[JavaScript built-in]"))),
            ("list.link", None),
            ("list.length.toFixed", Some(json!("[JavaScript built-in]"))),
        ];
        for (path, want) in table {
            assert_eq!(&look(path), want, "{path}");
        }
    }

    #[test]
    fn non_object_events() {
        let leaf = Leaf {
            field: Field::Top("type"),
            test: Test::NotExists,
        };
        assert_eq!(leaf.eval(&json!("text")), Ok(true));
        assert_eq!(leaf.eval(&json!([1])), Ok(true));
        assert_eq!(leaf.eval(&Value::Null), Err(Crash));
        let crash = Leaf {
            field: Field::Under("properties", Path::Crash),
            test: Test::Exists,
        };
        assert_eq!(crash.eval(&json!({})), Err(Crash));
    }

    #[test]
    fn tests_on_single_units() {
        let event = json!({"properties": {"s": "ab"}});
        let leaf = |test| Leaf {
            field: Field::Under("properties", Path::parse("s.0")),
            test,
        };
        assert_eq!(leaf(Test::Eq(Text::new("a".into()))).eval(&event), Ok(true));
        assert_eq!(leaf(Test::Contains(Text::new(String::new()))).eval(&event), Ok(true));
        assert_eq!(leaf(Test::Contains(Text::new("ab".into()))).eval(&event), Ok(false));
        assert_eq!(leaf(Test::NotContains(Text::new("b".into()))).eval(&event), Ok(true));
    }
}
