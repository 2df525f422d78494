//! Rendering: liquidjs's values, lookups, comparisons and output.
//!
//! Data from the event stays borrowed. liquidjs's own values sit next to it:
//! `nil`, `empty` and `blank` are "drops" with their own equality, and computed
//! numbers may be `Infinity` or `NaN`, which JSON cannot hold.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{Expr, Filtered, Key, Op, Operand, Stmt, Var};
use crate::js;
use crate::mapping::value::{MAX_DATA_DEPTH, Mapped, array_index, js_trim, write_value_string};

/// A liquidjs value.
#[derive(Debug, Clone)]
pub(super) enum Lv<'a> {
    Undef,
    /// The literal `nil` / `null` (a `NullDrop`).
    Nil,
    /// The literal `empty`.
    Empty,
    /// The literal `blank`.
    Blank,
    Num(f64),
    Str(Cow<'a, str>),
    Json(Cow<'a, Value>),
}

/// A value as JavaScript sees it after liquidjs's `toValue` (drops unwrapped).
#[derive(Debug, Clone, Copy)]
pub(super) enum View<'v> {
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(&'v str),
    Arr(&'v [Value]),
    Obj(&'v Map<String, Value>),
}

impl<'a> Lv<'a> {
    pub(super) fn view(&self) -> View<'_> {
        match self {
            Lv::Undef => View::Undef,
            Lv::Nil => View::Null,
            Lv::Empty | Lv::Blank => View::Str(""),
            Lv::Num(n) => View::Num(*n),
            Lv::Str(s) => View::Str(s),
            Lv::Json(v) => view_of(v),
        }
    }

    pub(super) fn is_drop(&self) -> bool {
        matches!(self, Lv::Nil | Lv::Empty | Lv::Blank)
    }

    pub(super) fn str(s: impl Into<String>) -> Lv<'a> {
        Lv::Str(Cow::Owned(s.into()))
    }

    fn borrowed(v: &'a Value) -> Lv<'a> {
        Lv::Json(Cow::Borrowed(v))
    }
}

pub(super) fn view_of(v: &Value) -> View<'_> {
    match v {
        Value::Null => View::Null,
        Value::Bool(b) => View::Bool(*b),
        Value::Number(n) => View::Num(js::as_f64(n)),
        Value::String(s) => View::Str(s),
        Value::Array(items) => View::Arr(items),
        Value::Object(map) => View::Obj(map),
    }
}

/// liquidjs's `isFalsy` (not `jsTruthy`): only `false`, `undefined` and `null`.
fn falsy(v: View<'_>) -> bool {
    matches!(v, View::Undef | View::Null | View::Bool(false))
}

/// JavaScript truthiness of a value as a filter argument sees it (drops are objects).
pub(super) fn js_truthy(v: &Lv<'_>) -> bool {
    if v.is_drop() {
        return true;
    }
    match v.view() {
        View::Undef | View::Null => false,
        View::Bool(b) => b,
        View::Num(n) => n != 0.0 && !n.is_nan(),
        View::Str(s) => !s.is_empty(),
        View::Arr(_) | View::Obj(_) => true,
    }
}

/// liquidjs's `stringify`: what an output prints.
pub(super) fn stringify(v: &Lv<'_>, out: &mut String) {
    stringify_view(v.view(), out, 0);
}

fn stringify_view(v: View<'_>, out: &mut String, depth: usize) {
    match v {
        // Deeper than parsed JSON can be: print nothing rather than overflow.
        View::Arr(_) if depth > MAX_DATA_DEPTH => {}
        View::Undef | View::Null => {}
        View::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        View::Num(n) => out.push_str(&js::f64_to_string(n)),
        View::Str(s) => out.push_str(s),
        View::Arr(items) => {
            for item in items {
                stringify_view(view_of(item), out, depth + 1);
            }
        }
        View::Obj(_) => out.push_str("[object Object]"),
    }
}

pub(super) fn to_string(v: &Lv<'_>) -> String {
    let mut s = String::new();
    stringify(v, &mut s);
    s
}

/// JavaScript's `String(value)` (arrays join with `,`), for `join` and `indexOf`.
pub(super) fn js_string(v: View<'_>, out: &mut String) {
    match v {
        View::Undef => out.push_str("undefined"),
        View::Null => out.push_str("null"),
        View::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        View::Num(n) => out.push_str(&js::f64_to_string(n)),
        View::Str(s) => out.push_str(s),
        View::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !item.is_null() {
                    write_value_string(item, out);
                }
            }
        }
        View::Obj(_) => out.push_str("[object Object]"),
    }
}

/// JavaScript's `StringToNumber`.
pub(super) fn string_to_number(s: &str) -> f64 {
    let t = js_trim(s);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits.chars().fold(0.0, |acc, c| {
                acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            });
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // A StrDecimalLiteral: digits, an optional fraction, an optional exponent.
    let b = unsigned.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return f64::NAN;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return f64::NAN;
        }
        i += exp_digits;
    }
    if i != b.len() {
        return f64::NAN;
    }
    t.parse().unwrap_or(f64::NAN)
}

/// `+value` (JavaScript's `ToNumber`).
fn js_number(v: View<'_>) -> f64 {
    match v {
        View::Undef => f64::NAN,
        View::Null => 0.0,
        View::Bool(b) => f64::from(u8::from(b)),
        View::Num(n) => n,
        View::Str(s) => string_to_number(s),
        View::Arr(_) => {
            let mut s = String::new();
            js_string(v, &mut s);
            string_to_number(&s)
        }
        View::Obj(_) => f64::NAN,
    }
}

/// liquidjs's `toNumber`: `+toValue(value) || 0`.
pub(super) fn to_number(v: &Lv<'_>) -> f64 {
    let n = js_number(v.view());
    if n.is_nan() || n == 0.0 { 0.0 } else { n }
}

/// JavaScript's `a < b` on primitives (`None` when a side is NaN).
fn less_than(a: View<'_>, b: View<'_>) -> Option<bool> {
    match (primitive_string(a), primitive_string(b)) {
        (Some(x), Some(y)) => Some(x.encode_utf16().lt(y.encode_utf16())),
        (x, y) => {
            let x = x.map_or_else(|| js_number(a), |s| string_to_number(&s));
            let y = y.map_or_else(|| js_number(b), |s| string_to_number(&s));
            if x.is_nan() || y.is_nan() { None } else { Some(x < y) }
        }
    }
}

/// `ToPrimitive(value)` when it is a string (strings, arrays, objects).
fn primitive_string(v: View<'_>) -> Option<String> {
    match v {
        View::Str(s) => Some(s.to_owned()),
        View::Arr(_) | View::Obj(_) => {
            let mut s = String::new();
            js_string(v, &mut s);
            Some(s)
        }
        _ => None,
    }
}

/// liquidjs's `equals`.
fn equals(l: &Lv<'_>, r: &Lv<'_>) -> bool {
    if l.is_drop() {
        return drop_equals(l, r);
    }
    if r.is_drop() {
        return drop_equals(r, l);
    }
    view_equals(l.view(), r.view())
}

fn view_equals(l: View<'_>, r: View<'_>) -> bool {
    view_equals_at(l, r, 0)
}

fn view_equals_at(l: View<'_>, r: View<'_>, depth: usize) -> bool {
    match (l, r) {
        (View::Arr(_), View::Arr(_)) if depth > MAX_DATA_DEPTH => false,
        (View::Arr(a), View::Arr(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| view_equals_at(view_of(x), view_of(y), depth + 1))
        }
        (View::Arr(_), _) => false,
        // `===`: objects are equal only to themselves.
        (View::Obj(a), View::Obj(b)) => std::ptr::eq(a, b),
        (View::Undef, View::Undef) | (View::Null, View::Null) => true,
        (View::Bool(a), View::Bool(b)) => a == b,
        (View::Num(a), View::Num(b)) => a == b,
        (View::Str(a), View::Str(b)) => a == b,
        _ => false,
    }
}

/// `NullDrop`/`EmptyDrop`/`BlankDrop` `.equals(value)`.
fn drop_equals(drop: &Lv<'_>, value: &Lv<'_>) -> bool {
    match drop {
        Lv::Nil => matches!(value.view(), View::Undef | View::Null),
        Lv::Blank => {
            if matches!(value, Lv::Json(v) if **v == Value::Bool(false)) {
                return true;
            }
            if matches!(value.view(), View::Undef | View::Null) && !matches!(value, Lv::Empty | Lv::Blank) {
                return true;
            }
            if let (false, View::Str(s)) = (value.is_drop(), value.view()) {
                return s.chars().all(is_js_space_char);
            }
            empty_equals(value)
        }
        _ => empty_equals(value),
    }
}

fn empty_equals(value: &Lv<'_>) -> bool {
    if matches!(value, Lv::Empty | Lv::Blank) {
        return false;
    }
    match value.view() {
        View::Str(s) => s.is_empty(),
        View::Arr(a) => a.is_empty(),
        View::Obj(o) => o.is_empty(),
        _ => false,
    }
}

/// JavaScript's `\s`.
fn is_js_space_char(c: char) -> bool {
    js_trim(c.encode_utf8(&mut [0; 4])).is_empty()
}

/// liquidjs's `readProperty(obj, key)`, own properties only.
pub(super) fn read_property<'a>(obj: &Lv<'a>, key: &Lv<'_>) -> Lv<'a> {
    let key_view = key.view();
    if obj.is_drop() {
        // A drop has no data; `size` counts its (no) keys.
        return if matches!(key_view, View::Str("size")) {
            Lv::Num(0.0)
        } else {
            Lv::Undef
        };
    }
    let value = match obj {
        Lv::Undef => return Lv::Undef,
        Lv::Json(Cow::Borrowed(v)) => read_json(v, key_view, Lv::borrowed),
        Lv::Json(Cow::Owned(v)) => read_json(v, key_view, |c| Lv::Json(Cow::Owned(c.clone()))),
        Lv::Str(s) => read_str(s, key_view),
        Lv::Num(_) | Lv::Nil | Lv::Empty | Lv::Blank => None,
    };
    value.unwrap_or(Lv::Undef)
}

/// Own-property lookup plus liquidjs's `size`, `first` and `last`.
fn read_json<'v, 'a>(v: &'v Value, key: View<'_>, wrap: impl Fn(&'v Value) -> Lv<'a>) -> Option<Lv<'a>> {
    let name = key_name(key);
    match v {
        Value::Null => Some(wrap(v)),
        Value::Array(items) => {
            if let View::Num(n) = key {
                let i = if n < 0.0 { n + items.len() as f64 } else { n };
                return (i >= 0.0 && i.fract() == 0.0)
                    .then(|| items.get(i as usize).map(&wrap))
                    .flatten();
            }
            match name.as_deref() {
                Some("size" | "length") => Some(Lv::Num(items.len() as f64)),
                Some("first") => items.first().map(&wrap),
                Some("last") => items.last().map(&wrap),
                Some(k) => array_index(k).and_then(|i| items.get(i)).map(&wrap),
                None => None,
            }
        }
        Value::Object(map) => {
            let name = name?;
            match map.get(name.as_ref()) {
                Some(found) => Some(wrap(found)),
                None if name == "size" => Some(Lv::Num(map.len() as f64)),
                None => None,
            }
        }
        Value::String(s) => read_str(s, key).map(|lv| match lv {
            Lv::Str(c) => Lv::Str(Cow::Owned(c.into_owned())),
            other => other,
        }),
        _ => None,
    }
}

fn read_str<'a>(s: &str, key: View<'_>) -> Option<Lv<'a>> {
    let name = key_name(key)?;
    match name.as_ref() {
        "size" | "length" => Some(Lv::Num(s.encode_utf16().count() as f64)),
        k => {
            let i = array_index(k)?;
            let unit = s.encode_utf16().nth(i)?;
            Some(Lv::str(
                char::from_u32(u32::from(unit))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
                    .to_string(),
            ))
        }
    }
}

/// A property key as JavaScript turns it into a string.
fn key_name<'k>(key: View<'k>) -> Option<Cow<'k, str>> {
    match key {
        View::Str(s) => Some(Cow::Borrowed(s)),
        View::Num(n) => Some(Cow::Owned(js::f64_to_string(n))),
        View::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        View::Null => Some(Cow::Borrowed("null")),
        View::Undef => Some(Cow::Borrowed("undefined")),
        View::Obj(_) => Some(Cow::Borrowed("[object Object]")),
        View::Arr(_) => None,
    }
}

/// Variables and the environment during one render.
pub(super) struct Scope<'a> {
    env: Cow<'a, Value>,
    assigned: Vec<(Box<str>, Lv<'a>)>,
}

impl<'a> Scope<'a> {
    fn lookup(&self, key: &Lv<'_>) -> Lv<'a> {
        let mut name = String::new();
        js_string(key.view(), &mut name);
        if let Some((_, v)) = self.assigned.iter().rev().find(|(k, _)| **k == *name) {
            return v.clone();
        }
        let env: Lv<'a> = match &self.env {
            Cow::Borrowed(v) => Lv::borrowed(v),
            Cow::Owned(v) => Lv::Json(Cow::Owned(v.clone())),
        };
        let own = match &*self.env {
            Value::Object(map) => map.contains_key(&name),
            _ => false,
        };
        if own {
            read_property(&env, key)
        } else if name == "size" {
            // Not in the event: liquidjs reads it from an empty globals object.
            Lv::Num(0.0)
        } else {
            Lv::Undef
        }
    }
}

pub(super) fn render(body: &[Stmt], payload: &Mapped<'_>) -> Result<String, String> {
    let env: Cow<'_, Value> = match payload {
        Mapped::Ref(v) => Cow::Borrowed(*v),
        Mapped::Val(v) => Cow::Borrowed(v),
        // liquidjs's environment defaults to `{}`.
        Mapped::Undef => Cow::Owned(Value::Object(Map::new())),
        other => Cow::Owned(other.clone().into_value().unwrap_or(Value::Null)),
    };
    let mut scope = Scope {
        env,
        assigned: Vec::new(),
    };
    let mut out = String::new();
    render_into(body, &mut scope, &mut out)?;
    Ok(out)
}

fn render_into<'a>(body: &[Stmt], scope: &mut Scope<'a>, out: &mut String) -> Result<(), String> {
    for stmt in body {
        match stmt {
            Stmt::Text(t) => out.push_str(t),
            Stmt::Output(value) => {
                let v = eval_filtered(value, scope)?;
                stringify(&v, out);
            }
            Stmt::If {
                unless,
                branches,
                otherwise,
            } => {
                let mut chosen = otherwise.as_deref();
                for (i, (cond, body)) in branches.iter().enumerate() {
                    let v = eval_filtered(cond, scope)?;
                    let pass = if *unless && i == 0 {
                        falsy(v.view())
                    } else {
                        !falsy(v.view())
                    };
                    if pass {
                        chosen = Some(body);
                        break;
                    }
                }
                if let Some(body) = chosen {
                    render_into(body, scope, out)?;
                }
            }
            Stmt::Assign { name, value } => {
                let v = eval_filtered(value, scope)?;
                scope.assigned.push((name.clone(), v));
            }
            Stmt::Capture { name, body } => {
                let mut captured = String::new();
                render_into(body, scope, &mut captured)?;
                scope.assigned.push((name.clone(), Lv::str(captured)));
            }
        }
    }
    Ok(())
}

fn eval_filtered<'a>(value: &Filtered, scope: &Scope<'a>) -> Result<Lv<'a>, String> {
    let mut v = eval_expr(&value.expr, scope);
    for filter in &value.filters {
        let args: Vec<Lv<'a>> = filter.args.iter().map(|a| eval_operand(a, scope)).collect();
        let allow_false = filter.allow_false.as_ref().map(|a| eval_operand(a, scope));
        v = filter
            .kind
            .apply(v, &args, allow_false.as_ref())
            .map_err(|m| format!("{m}, line:{}, col:{}", filter.at.0, filter.at.1))?;
    }
    Ok(v)
}

fn eval_expr<'a>(expr: &Expr, scope: &Scope<'a>) -> Lv<'a> {
    match expr {
        Expr::Operand(op) => eval_operand(op, scope),
        Expr::Binary(l, op, r) => {
            let (l, r) = (eval_expr(l, scope), eval_expr(r, scope));
            let b = match op {
                Op::Eq => equals(&l, &r),
                Op::Ne => !equals(&l, &r),
                // Drops are "comparable" and never order.
                Op::Lt | Op::Gt | Op::Le | Op::Ge if l.is_drop() || r.is_drop() => false,
                Op::Lt => less_than(l.view(), r.view()) == Some(true),
                Op::Gt => less_than(r.view(), l.view()) == Some(true),
                Op::Le => less_than(r.view(), l.view()) == Some(false),
                Op::Ge => less_than(l.view(), r.view()) == Some(false),
                Op::Contains => contains(&l, &r),
                Op::And => !falsy(l.view()) && !falsy(r.view()),
                Op::Or => !falsy(l.view()) || !falsy(r.view()),
            };
            Lv::Json(Cow::Owned(Value::Bool(b)))
        }
    }
}

fn contains(l: &Lv<'_>, r: &Lv<'_>) -> bool {
    match l.view() {
        View::Arr(items) => items.iter().any(|item| equals(&Lv::Json(Cow::Borrowed(item)), r)),
        View::Str(s) => {
            let mut needle = String::new();
            js_string(r.view(), &mut needle);
            s.contains(&needle)
        }
        _ => false,
    }
}

fn eval_operand<'a>(op: &Operand, scope: &Scope<'a>) -> Lv<'a> {
    match op {
        Operand::Str(s) => Lv::str(&**s),
        Operand::Num(n) => Lv::Num(*n),
        Operand::Bool(b) => Lv::Json(Cow::Owned(Value::Bool(*b))),
        Operand::Nil => Lv::Nil,
        Operand::Empty => Lv::Empty,
        Operand::Blank => Lv::Blank,
        Operand::Var(var) => eval_var(var, scope),
    }
}

fn eval_key<'a>(key: &Key, scope: &Scope<'a>) -> Lv<'a> {
    match key {
        Key::Name(n) => Lv::str(&**n),
        Key::Num(n) => Lv::Num(*n),
        Key::Dyn(op) => eval_operand(op, scope),
    }
}

fn eval_var<'a>(var: &Var, scope: &Scope<'a>) -> Lv<'a> {
    let mut v = scope.lookup(&eval_key(&var.head, scope));
    for key in &var.rest {
        let key = eval_key(key, scope);
        v = read_property(&v, &key);
    }
    v
}
