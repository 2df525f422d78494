//! The compiled form of a mapping and how it resolves against an event.
//!
//! Every node does what mapping-kit's `resolve` and directive functions do at
//! run time, with the options already read, paths split, templates and
//! expressions parsed. Options that mapping-kit checks only at run time, and that
//! fail on every event, compile to [`Node::Fail`].

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::{Map, Value};

use super::EvalError;
use super::jmes::Jmes;
use super::liquid::Liquid;
use super::objects;
use super::path::Path;
use super::replace::Replace;
use super::template::Template;
use super::value::{Mapped, Type, stringify};

/// A compiled mapping node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A JSON value without directives.
    Const(Value),
    /// A raw object with directives inside.
    Object(Box<[(String, Node)]>),
    /// A raw array with directives inside.
    Array(Box<[Node]>),
    /// `@path` with a string.
    Path(Path),
    /// `@path` with a directive: the path is read from its result at run time.
    DynPath { src: Box<Node>, ptr: Box<str> },
    /// `@template` with a string.
    Template(Template),
    /// `@template` with a directive.
    DynTemplate { src: Box<Node>, ptr: Box<str> },
    /// `@literal`.
    Literal(Box<Node>),
    /// `@if`.
    If {
        test: Test,
        value: Box<Node>,
        then: Option<Box<Node>>,
        otherwise: Option<Box<Node>>,
    },
    /// `@case`; `value` is `None` when the raw option is falsy (the result is undefined).
    Case {
        op: CaseOp,
        value: Option<Box<Node>>,
        ptr: Box<str>,
    },
    /// `@replace`; `value` is `None` when the raw option is falsy.
    Replace {
        replace: Box<Replace>,
        value: Option<Box<Node>>,
        ptr: Box<str>,
    },
    /// `@arrayPath`.
    ArrayPath { root: ArrayRoot, shape: Option<Box<Node>> },
    /// `@json`.
    Json {
        mode: JsonMode,
        value: Box<Node>,
        ptr: Box<str>,
    },
    /// `@flatten`.
    Flatten {
        separator: Box<Node>,
        value: Option<Box<Node>>,
        omit_arrays: bool,
        ptr: Box<str>,
    },
    /// `@merge`.
    Merge { direction: Box<Node>, objects: Box<[Node]> },
    /// `@transform`: `apply` is a whole mapping resolved against the payload, and its
    /// result is the payload of `mapping`.
    Transform {
        apply: Box<Node>,
        mapping: Box<Node>,
        ptr: Box<str>,
    },
    /// `@excludeWhenNull`.
    ExcludeWhenNull { value: Box<Node>, ptr: Box<str> },
    /// `@liquid`.
    Liquid { template: Box<Liquid>, ptr: Box<str> },
    /// `@jmespath` (ours).
    Jmes { expr: Box<Jmes>, ptr: Box<str> },
    /// A directive that fails whenever it is reached, as the reference's run-time checks do.
    Fail { message: Box<str>, ptr: Box<str> },
}

/// The condition of an `@if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    /// Not undefined and not null.
    Exists,
    /// Not undefined, not null and not `== ''` (JavaScript loose equality).
    Blank,
}

/// The operator of a `@case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaseOp {
    Lower,
    Upper,
    /// Anything else fails, but only on a string value.
    Other,
}

/// The root of an `@arrayPath`.
#[derive(Debug, Clone)]
pub(crate) enum ArrayRoot {
    Path(Path),
    Node(Box<Node>),
    /// An empty array: the root is undefined.
    Missing,
}

/// The mode of a `@json`, compared case-sensitively at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonMode {
    Encode,
    Decode,
    /// Accepted by validation in another case (`"ENCODE"`), gives undefined.
    Other,
}

/// What one resolution shares: the event converted for JMESPath, done at most once.
pub(crate) struct Cx {
    root: *const (),
    jmes_root: OnceCell<Option<jmespath::Rcvar>>,
}

impl Cx {
    pub(crate) fn new(root: &Mapped<'_>) -> Cx {
        Cx {
            root: std::ptr::from_ref(root).cast(),
            jmes_root: OnceCell::new(),
        }
    }

    /// The payload as a JMESPath variable, cached when it is the event.
    fn jmes_payload(&self, payload: &Mapped<'_>) -> Result<jmespath::Rcvar, EvalError> {
        let convert = || super::jmes::to_variable(payload);
        if std::ptr::eq(std::ptr::from_ref(payload).cast(), self.root) {
            self.jmes_root
                .get_or_init(|| convert().ok())
                .clone()
                .ok_or_else(too_deep_event)
        } else {
            convert().map_err(|_| too_deep_event())
        }
    }
}

fn too_deep_event() -> EvalError {
    EvalError {
        pointer: String::new(),
        message: "the event is nested too deeply".to_owned(),
    }
}

fn fail(ptr: &str, message: impl Into<String>) -> EvalError {
    EvalError {
        pointer: ptr.to_owned(),
        message: message.into(),
    }
}

impl Node {
    /// Resolves the node (mapping-kit's `resolve`).
    pub(crate) fn eval<'a>(&'a self, p: &Mapped<'a>, cx: &Cx) -> Result<Mapped<'a>, EvalError> {
        Ok(match self {
            Node::Const(v) => Mapped::Ref(v),
            Node::Object(fields) => {
                let mut members = Vec::with_capacity(fields.len());
                for (k, node) in fields.iter() {
                    members.push((Cow::Borrowed(k.as_str()), node.eval(p, cx)?));
                }
                Mapped::Obj(members)
            }
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for node in items.iter() {
                    out.push(node.eval(p, cx)?);
                }
                Mapped::Arr(out)
            }
            Node::Path(path) => path.get(p),
            Node::DynPath { src, ptr } => {
                let src = src.eval(p, cx)?;
                match src.as_str() {
                    Some(s) => Path::directive(s).get(p).into_owned(),
                    None => {
                        return Err(fail(ptr, format!("@path: expected string, got {}", src.kind().name())));
                    }
                }
            }
            Node::Template(t) => Mapped::Val(Value::String(t.render(p))),
            Node::DynTemplate { src, ptr } => {
                let src = src.eval(p, cx)?;
                match src.as_str() {
                    Some(s) => Mapped::Val(Value::String(Template::parse(s).render(p))),
                    None => {
                        return Err(fail(
                            ptr,
                            format!("@template: expected string, got {}", src.kind().name()),
                        ));
                    }
                }
            }
            Node::Literal(inner) => inner.eval(p, cx)?,
            Node::If {
                test,
                value,
                then,
                otherwise,
            } => {
                let v = value.eval(p, cx)?;
                let pass = match test {
                    Test::Exists => !v.is_nullish(),
                    Test::Blank => !v.is_nullish() && !loose_eq_empty_string(&v),
                };
                let branch = if pass { then } else { otherwise };
                match branch {
                    Some(node) => node.eval(p, cx)?,
                    None => Mapped::Undef,
                }
            }
            Node::Case { op, value, ptr } => {
                let Some(value) = value else {
                    return Ok(Mapped::Undef);
                };
                let v = value.eval(p, cx)?;
                match (v.as_str(), op) {
                    (Some(s), CaseOp::Lower) => Mapped::Val(Value::String(s.to_lowercase())),
                    (Some(s), CaseOp::Upper) => Mapped::Val(Value::String(s.to_uppercase())),
                    (Some(_), CaseOp::Other) => {
                        return Err(fail(ptr, super::directive::CASE_OPERATOR));
                    }
                    (None, _) => v,
                }
            }
            Node::Replace { replace, value, ptr } => {
                let Some(value) = value else {
                    return Ok(Mapped::Undef);
                };
                let v = value.eval(p, cx)?;
                // Numbers and booleans are stringified; other non-strings give "".
                let text = match v.kind() {
                    Type::String | Type::Number | Type::Boolean => Some(v.to_js_string()),
                    _ => None,
                };
                match text {
                    Some(text) => Mapped::Val(Value::String(replace.apply(&text).map_err(|m| fail(ptr, m))?)),
                    None => Mapped::Val(Value::String(String::new())),
                }
            }
            Node::ArrayPath { root, shape } => {
                let root = match root {
                    ArrayRoot::Path(path) => path.get(p),
                    ArrayRoot::Node(node) => node.eval(p, cx)?,
                    ArrayRoot::Missing => Mapped::Undef,
                };
                match (shape, root.kind()) {
                    (Some(shape), Type::Array | Type::Object) => Mapped::Arr(map_items(&root, shape, cx)?),
                    _ => root,
                }
            }
            Node::Json { mode, value, ptr } => {
                let v = value.eval(p, cx)?;
                match mode {
                    JsonMode::Encode => match stringify(&v) {
                        Ok(Some(s)) => Mapped::Val(Value::String(s)),
                        Ok(None) => Mapped::Undef,
                        Err(_) => return Err(fail(ptr, "@json: the value is nested too deeply")),
                    },
                    JsonMode::Decode => match v.as_str().map(super::json::parse) {
                        Some(Some(parsed)) => Mapped::Val(parsed),
                        _ => v,
                    },
                    JsonMode::Other => Mapped::Undef,
                }
            }
            Node::Flatten {
                separator,
                value,
                omit_arrays,
                ptr,
            } => {
                let sep = separator.eval(p, cx)?;
                let Some(sep) = sep.as_str() else {
                    return Err(fail(ptr, "@flatten requires a string separator"));
                };
                let v = match value {
                    Some(node) => node.eval(p, cx)?,
                    None => Mapped::Undef,
                };
                objects::flatten(&v, sep, *omit_arrays)
                    .map_err(|_| fail(ptr, "@flatten: the value is nested too deeply"))?
            }
            Node::Merge { direction, objects } => {
                let direction = direction.eval(p, cx)?;
                let mut sources = Vec::with_capacity(objects.len());
                for node in objects.iter() {
                    sources.push(node.eval(p, cx)?);
                }
                // Only the exact "left" reverses; validation lets "LEFT" through.
                if direction.as_str() == Some("left") {
                    sources.reverse();
                }
                objects::assign(sources)
            }
            Node::Transform { apply, mapping, ptr } => {
                if p.kind() != Type::Object {
                    return Err(fail(ptr, format!("data must be an object, got {}", p.kind().name())));
                }
                let payload = apply.eval(p, cx)?.remove_undefined();
                mapping.eval(&payload, cx)?
            }
            Node::ExcludeWhenNull { value, ptr } => {
                let v = value.eval(p, cx)?;
                if v.is_null() {
                    Mapped::Undef
                } else {
                    objects::clean_nulls(v, 0)
                        .map_err(|_| fail(ptr, "@excludeWhenNull: the value is nested too deeply"))?
                }
            }
            Node::Liquid { template, ptr } => Mapped::Val(Value::String(template.render(p).map_err(|m| fail(ptr, m))?)),
            Node::Jmes { expr, ptr } => {
                let data = cx.jmes_payload(p).map_err(|e| fail(ptr, e.message))?;
                expr.search(data).map_err(|m| fail(ptr, m))?
            }
            Node::Fail { message, ptr } => return Err(fail(ptr, &**message)),
        })
    }

    /// Resolves the node straight into the JSON that leaves mapping-kit. Raw objects
    /// and arrays build their JSON directly; everything else goes through [`Node::eval`].
    pub(crate) fn eval_value<'a>(&'a self, p: &Mapped<'a>, cx: &Cx) -> Result<Option<Value>, EvalError> {
        match self {
            Node::Const(v) => Ok(Some(v.clone())),
            Node::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (k, node) in fields.iter() {
                    if let Some(v) = node.eval_value(p, cx)? {
                        map.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(map)))
            }
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for node in items.iter() {
                    out.push(node.eval_value(p, cx)?.unwrap_or(Value::Null));
                }
                Ok(Some(Value::Array(out)))
            }
            other => Ok(other.eval(p, cx)?.into_value()),
        }
    }
}

/// `arrify(root).map(item => resolve(shape, item))`.
fn map_items<'a>(root: &Mapped<'a>, shape: &'a Node, cx: &Cx) -> Result<Vec<Mapped<'a>>, EvalError> {
    let mut out = Vec::new();
    match root {
        Mapped::Ref(Value::Array(items)) => {
            for item in items {
                out.push(shape.eval(&Mapped::Ref(item), cx)?);
            }
        }
        Mapped::Arr(items) => {
            for item in items {
                out.push(shape.eval(item, cx)?);
            }
        }
        // An array the mapping computed: its items are not borrowed from the event.
        Mapped::Val(Value::Array(items)) => {
            for item in items {
                out.push(shape.eval(&Mapped::Ref(item), cx)?.into_owned());
            }
        }
        // An object root is one item.
        other => out.push(shape.eval(other, cx)?),
    }
    Ok(out)
}

/// `value == ''` with JavaScript's loose equality, for a value that is not null or undefined.
fn loose_eq_empty_string(v: &Mapped<'_>) -> bool {
    match v.as_value() {
        Some(Value::String(s)) => s.is_empty(),
        // '' converts to the number 0.
        Some(Value::Number(n)) => crate::js::as_f64(n) == 0.0,
        Some(Value::Bool(b)) => !b,
        Some(Value::Object(_)) => false,
        // An array converts to its elements joined with ",".
        Some(Value::Array(_)) | None => v.kind() == Type::Array && v.to_js_string().is_empty(),
        Some(Value::Null) => false,
    }
}
