//! The Liquid filters we support, each as liquidjs 10.31 computes it.
//!
//! Supported: `default` (with `allow_false`), `upcase`, `downcase`,
//! `capitalize`, `append`, `prepend`, `strip`, `lstrip`, `rstrip`,
//! `strip_newlines`, `remove`, `remove_first`, `replace`, `replace_first`,
//! `truncate`, `split`, `join`, `size`, `first`, `last`, `plus`, `minus`,
//! `times`, `divided_by`, `modulo`, `abs`, `ceil`, `floor`, `round`,
//! `at_least`, `at_most`, `escape`, `url_encode` and `json`, with the argument
//! counts liquidjs documents. Segment's disabled filters fail when they run, as
//! in the reference; names liquidjs does not know pass the value through.

use std::borrow::Cow;

use serde_json::Value;

use super::LiquidError;
use super::eval::{Lv, View, js_string, js_truthy, to_number, to_string, view_of};
use crate::js;
use crate::mapping::value::{Mapped, is_js_space, js_trim, stringify as json_stringify};

/// The filters Segment disables: they fail when they run.
const DISABLED: &[&str] = &[
    "array_to_sentence_string",
    "concat",
    "find",
    "find_exp",
    "find_index",
    "find_index_exp",
    "group_by",
    "group_by_exp",
    "has",
    "has_exp",
    "map",
    "newline_to_br",
    "reject",
    "reject_exp",
    "reverse",
    "sort",
    "sort_natural",
    "uniq",
    "where_exp",
    "type",
];

/// The other filters liquidjs has, which we do not support.
const UNSUPPORTED: &[&str] = &[
    "xml_escape",
    "escape_once",
    "strip_html",
    "url_decode",
    "cgi_escape",
    "uri_escape",
    "slugify",
    "sum",
    "compact",
    "push",
    "unshift",
    "pop",
    "shift",
    "slice",
    "where",
    "sample",
    "date",
    "date_to_xmlschema",
    "date_to_rfc822",
    "date_to_string",
    "date_to_long_string",
    "remove_last",
    "replace_last",
    "squish",
    "truncatewords",
    "normalize_whitespace",
    "number_of_words",
    "base64_encode",
    "base64_decode",
    "sha256",
    "hmac_sha256",
    "raw",
    "jsonify",
    "to_integer",
    "inspect",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FilterKind {
    Default,
    Upcase,
    Downcase,
    Capitalize,
    Append,
    Prepend,
    Strip,
    Lstrip,
    Rstrip,
    StripNewlines,
    Remove,
    RemoveFirst,
    Replace,
    ReplaceFirst,
    Truncate,
    Split,
    Join,
    Size,
    First,
    Last,
    Plus,
    Minus,
    Times,
    DividedBy,
    Modulo,
    Abs,
    Ceil,
    Floor,
    Round,
    AtLeast,
    AtMost,
    Escape,
    UrlEncode,
    Json,
    /// One of Segment's disabled filters.
    Disabled(&'static str),
    /// A name liquidjs does not know: the value passes through.
    Identity,
}

impl FilterKind {
    /// The filter called `name` with `args` positional arguments.
    pub(super) fn resolve(name: &str, args: usize, allow_false: bool) -> Result<FilterKind, LiquidError> {
        use FilterKind::*;
        let (kind, arities): (FilterKind, &[usize]) = match name {
            "default" => (Default, &[1]),
            "upcase" => (Upcase, &[0]),
            "downcase" => (Downcase, &[0]),
            "capitalize" => (Capitalize, &[0]),
            "append" => (Append, &[1]),
            "prepend" => (Prepend, &[1]),
            "strip" => (Strip, &[0]),
            "lstrip" => (Lstrip, &[0]),
            "rstrip" => (Rstrip, &[0]),
            "strip_newlines" => (StripNewlines, &[0]),
            "remove" => (Remove, &[1]),
            "remove_first" => (RemoveFirst, &[1]),
            "replace" => (Replace, &[2]),
            "replace_first" => (ReplaceFirst, &[2]),
            "truncate" => (Truncate, &[1, 2]),
            "split" => (Split, &[1]),
            "join" => (Join, &[0, 1]),
            "size" => (Size, &[0]),
            "first" => (First, &[0]),
            "last" => (Last, &[0]),
            "plus" => (Plus, &[1]),
            "minus" => (Minus, &[1]),
            "times" => (Times, &[1]),
            "divided_by" => (DividedBy, &[1]),
            "modulo" => (Modulo, &[1]),
            "abs" => (Abs, &[0]),
            "ceil" => (Ceil, &[0]),
            "floor" => (Floor, &[0]),
            "round" => (Round, &[0, 1]),
            "at_least" => (AtLeast, &[1]),
            "at_most" => (AtMost, &[1]),
            "escape" => (Escape, &[0]),
            "url_encode" => (UrlEncode, &[0]),
            "json" => (Json, &[0]),
            name => {
                if let Some(d) = DISABLED.iter().find(|d| **d == name) {
                    return Ok(Disabled(d));
                }
                if UNSUPPORTED.contains(&name) {
                    return Err(LiquidError::Unsupported(format!(
                        "the Liquid filter `{name}` is not supported"
                    )));
                }
                return Ok(Identity);
            }
        };
        if !arities.contains(&args) || (allow_false && kind != Default) {
            return Err(LiquidError::Unsupported(format!(
                "the Liquid filter `{name}` takes {} argument{} here",
                arities.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or "),
                if arities == [1] { "" } else { "s" }
            )));
        }
        Ok(kind)
    }

    /// Applies the filter; `Err` is a liquidjs `RenderError` message.
    pub(super) fn apply<'a>(self, v: Lv<'a>, args: &[Lv<'a>], allow_false: Option<&Lv<'a>>) -> Result<Lv<'a>, String> {
        use FilterKind::*;
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Lv::Undef);
        let s = |v: &Lv<'_>| to_string(v);
        let num = |f: fn(f64, f64) -> f64| Lv::Num(f(to_number(&v), to_number(&arg(0))));
        Ok(match self {
            Default => {
                let fallback = arg(0);
                match v.view() {
                    View::Str(x) => {
                        if x.is_empty() {
                            fallback
                        } else {
                            v
                        }
                    }
                    View::Arr(a) => {
                        if a.is_empty() {
                            fallback
                        } else {
                            v
                        }
                    }
                    View::Bool(false) if allow_false.is_some_and(js_truthy) => Lv::Json(Cow::Owned(Value::Bool(false))),
                    View::Undef | View::Null | View::Bool(false) => fallback,
                    _ => v,
                }
            }
            Upcase => Lv::str(s(&v).to_uppercase()),
            Downcase => Lv::str(s(&v).to_lowercase()),
            Capitalize => {
                let text = s(&v);
                let mut chars = text.chars();
                match chars.next() {
                    // charAt(0) of a character outside the BMP is half of it: unchanged.
                    Some(c) if u32::from(c) > 0xFFFF => Lv::str(format!("{c}{}", chars.as_str().to_lowercase())),
                    Some(c) => Lv::str(format!("{}{}", c.to_uppercase(), chars.as_str().to_lowercase())),
                    None => Lv::str(""),
                }
            }
            Append => Lv::str(s(&v) + &s(&arg(0))),
            Prepend => Lv::str(s(&arg(0)) + &s(&v)),
            Strip => Lv::str(js_trim(&s(&v))),
            Lstrip => Lv::str(s(&v).trim_start_matches(is_js_space)),
            Rstrip => Lv::str(s(&v).trim_end_matches(is_js_space)),
            StripNewlines => Lv::str(s(&v).replace("\r\n", "").replace('\n', "")),
            Remove => {
                let (text, pat) = (s(&v), s(&arg(0)));
                Lv::str(if pat.is_empty() { text } else { text.replace(&pat, "") })
            }
            RemoveFirst => Lv::str(s(&v).replacen(&s(&arg(0)), "", 1)),
            Replace => {
                let (text, pat, rep) = (s(&v), s(&arg(0)), s(&arg(1)));
                if pat.is_empty() {
                    // `split('')` cuts between every character.
                    let parts: Vec<String> = text.chars().map(String::from).collect();
                    Lv::str(parts.join(&rep))
                } else {
                    Lv::str(text.replace(&pat, &rep))
                }
            }
            ReplaceFirst => Lv::str(s(&v).replacen(&s(&arg(0)), &s(&arg(1)), 1)),
            Truncate => {
                let text = s(&v);
                // The parser only lets whole-number literals through.
                let limit = match arg(0) {
                    Lv::Num(n) => n,
                    _ => 50.0,
                };
                // An undefined argument takes JavaScript's default parameter.
                let ellipsis = match args.get(1) {
                    Some(a) if !matches!(a, Lv::Undef) => s(a),
                    _ => "...".to_owned(),
                };
                let count = text.chars().count() as f64;
                if count <= limit || text.is_empty() {
                    // liquidjs returns the value itself, not its string.
                    v
                } else {
                    let keep = (limit - ellipsis.chars().count() as f64).max(0.0) as usize;
                    Lv::str(text.chars().take(keep).collect::<String>() + &ellipsis)
                }
            }
            Split => {
                let (text, sep) = (s(&v), s(&arg(0)));
                let mut parts: Vec<Value> = if sep == " " {
                    // Ruby's split: runs of ASCII whitespace, leading ones ignored.
                    text.split([' ', '\t', '\n', '\u{b}', '\u{c}', '\r'])
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.to_owned()))
                        .collect()
                } else if sep.is_empty() {
                    text.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    text.split(&sep).map(|p| Value::String(p.to_owned())).collect()
                };
                while parts.last().is_some_and(|p| p.as_str() == Some("")) {
                    parts.pop();
                }
                Lv::Json(Cow::Owned(Value::Array(parts)))
            }
            Join => {
                let sep = match args.first() {
                    None => " ".to_owned(),
                    Some(a) if matches!(a.view(), View::Undef | View::Null) => " ".to_owned(),
                    Some(a) => s(a),
                };
                let mut out = String::new();
                let mut push = |item: View<'_>, first: bool| {
                    if !first {
                        out.push_str(&sep);
                    }
                    if !matches!(item, View::Undef | View::Null) {
                        js_string(item, &mut out);
                    }
                };
                match v.view() {
                    View::Undef | View::Null => {}
                    View::Arr(items) => {
                        for (i, item) in items.iter().enumerate() {
                            push(view_of(item), i == 0);
                        }
                    }
                    other => push(other, true),
                }
                Lv::str(out)
            }
            Size => Lv::Num(match v.view() {
                View::Str(x) if !v.is_drop() => x.encode_utf16().count() as f64,
                View::Arr(a) => a.len() as f64,
                View::Obj(o) => match o.get("size") {
                    Some(Value::Number(n)) => js::as_f64(n),
                    Some(_) => 0.0,
                    None => o.len() as f64,
                },
                _ => 0.0,
            }),
            First | Last => {
                let first = self == First;
                match &v {
                    Lv::Json(Cow::Borrowed(Value::Array(items))) => {
                        let item = if first { items.first() } else { items.last() };
                        item.map_or(Lv::Undef, |i| Lv::Json(Cow::Borrowed(i)))
                    }
                    _ => match v.view() {
                        View::Arr(items) => {
                            let item = if first { items.first() } else { items.last() };
                            item.map_or(Lv::Undef, |i| Lv::Json(Cow::Owned(i.clone())))
                        }
                        // An object with a numeric `length` is "array-like" too.
                        View::Obj(o) if matches!(o.get("length"), Some(Value::Number(_))) => {
                            let len = o.get("length").and_then(Value::as_f64).unwrap_or(0.0);
                            let key = if first { 0.0 } else { len - 1.0 };
                            o.get(&js::f64_to_string(key))
                                .map_or(Lv::Undef, |i| Lv::Json(Cow::Owned(i.clone())))
                        }
                        View::Str(x) if !x.is_empty() && !v.is_drop() => {
                            let units: Vec<u16> = x.encode_utf16().collect();
                            let unit = if first { units.first() } else { units.last() };
                            unit.map_or(Lv::Undef, |u| {
                                Lv::str(
                                    char::from_u32(u32::from(*u))
                                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                                        .to_string(),
                                )
                            })
                        }
                        _ => Lv::str(""),
                    },
                }
            }
            Plus => num(|a, b| a + b),
            Minus => num(|a, b| a - b),
            Times => num(|a, b| a * b),
            DividedBy => num(|a, b| a / b),
            Modulo => num(|a, b| ((a % b) + b) % b),
            AtLeast => num(f64::max),
            AtMost => num(f64::min),
            Abs => Lv::Num(to_number(&v).abs()),
            Ceil => Lv::Num(to_number(&v).ceil()),
            Floor => Lv::Num(to_number(&v).floor()),
            Round => Lv::Num(round(
                to_number(&v),
                if args.is_empty() { 0.0 } else { to_number(&arg(0)) },
            )),
            Escape => {
                let mut out = String::new();
                for c in s(&v).chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' => out.push_str("&#34;"),
                        '\'' => out.push_str("&#39;"),
                        c => out.push(c),
                    }
                }
                Lv::str(out)
            }
            UrlEncode => Lv::str(url_encode(&s(&v))),
            Json => {
                if v.is_drop() {
                    // Drops serialize as empty objects.
                    Lv::str("{}")
                } else {
                    let js = match &v {
                        Lv::Undef => Mapped::Undef,
                        Lv::Num(n) if !n.is_finite() => Mapped::Val(Value::Null),
                        Lv::Num(n) => Mapped::Val(serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)),
                        Lv::Str(x) => Mapped::Val(Value::String(x.to_string())),
                        Lv::Json(j) => Mapped::Ref(j),
                        _ => Mapped::Undef,
                    };
                    match json_stringify(&js) {
                        Ok(Some(text)) => Lv::str(text),
                        Ok(None) => Lv::Undef,
                        Err(_) => return Err("json: the value is nested too deeply".to_owned()),
                    }
                }
            }
            Disabled(name) => return Err(format!("filter {name:?} is disabled")),
            Identity => v,
        })
    }
}

/// liquidjs's `round`: shifts the decimal point through the number's string form.
fn round(v: f64, places: f64) -> f64 {
    let shift = |n: f64, exp: f64| -> f64 {
        let text = js::f64_to_string(n);
        let (mantissa, power) = text.split_once('e').unwrap_or((&text, "0"));
        let power: f64 = power.parse().unwrap_or(0.0);
        // A fractional exponent makes `Number("…e1.5")` NaN.
        if (power + exp).fract() != 0.0 {
            return f64::NAN;
        }
        format!("{mantissa}e{}", js::f64_to_string(power + exp))
            .parse()
            .unwrap_or(f64::NAN)
    };
    let scaled = shift(v.abs(), places);
    // `!(scaled <= MAX_SAFE_INTEGER)`: NaN too.
    if scaled.is_nan() || scaled > 9_007_199_254_740_991.0 {
        return v;
    }
    let rounded = shift(scaled.round(), -places);
    if v < 0.0 { -rounded } else { rounded }
}

/// `encodeURIComponent`, then `%20` as `+`.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
