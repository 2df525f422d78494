//! Compiling a mapping: the root steps of mapping-kit's `transform`, validation,
//! then one [`Node`] per directive with its options read once.
//!
//! The compiler follows what each directive function does at run time with any
//! options, not only valid ones, because validation does not look into raw
//! arrays or `@literal` objects and their directives run unchecked. Checks the
//! reference makes only at run time become [`Node::Fail`] when they fail for every
//! event, and are also reported as warnings.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::jmes::Jmes;
use super::liquid::{Liquid, LiquidError};
use super::node::{ArrayRoot, CaseOp, JsonMode, Node, Test};
use super::path::Path;
use super::replace::{Replace, Rule};
use super::spec::{DIRECTIVES, METADATA_KEY};
use super::template::Template;
use super::validate::Validator;
use super::value::{Type, js_len};
use super::{MappingError, MappingErrorKind, Ptr};
use crate::js;
use crate::suggest::nearest;

/// The root key whose sibling keys become the `mapping` option of its directive.
pub(crate) const ROOT_DIRECTIVE_KEY: &str = "__segment_internal_directive";

/// What `@case` throws when its operator is neither `lower` nor `upper`.
pub(crate) const CASE_OPERATOR: &str = "operator key should have a value of \"lower\" or \"upper\"";

/// Deepest mapping we compile; validation and compilation recurse.
pub(crate) const MAX_MAPPING_DEPTH: usize = 128;

/// The known directive closest to `name`, when it is close enough to be a typo.
pub(crate) fn nearest_directive(name: &str) -> Option<&'static str> {
    nearest(name, DIRECTIVES.iter().map(|d| d.name), |d| (d.len() / 3).max(1))
}

/// How deep `v` nests, counted without recursion; stops counting past `limit`.
fn nesting(v: &Value, limit: usize) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        max = max.max(depth);
        if max > limit {
            break;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    max
}

/// mapping-kit's `isDirective`: an object with an `@` key whose other keys are all
/// `@` keys or `_metadata`. It runs its first `@` key.
fn directive_name(map: &Map<String, Value>) -> Option<&str> {
    let name = map.keys().find(|k| k.starts_with('@'))?;
    map.keys()
        .all(|k| k.starts_with('@') || k == METADATA_KEY)
        .then_some(name.as_str())
}

fn truthy(v: Option<&Value>) -> bool {
    v.is_some_and(js::is_truthy)
}

/// A compiled root: the node, and its fields when the root is a raw object.
pub(crate) struct Root {
    pub(crate) node: Node,
    pub(crate) fields: Option<Vec<(String, Node)>>,
}

pub(crate) struct Compiler {
    pub(crate) errors: Vec<MappingError>,
    pub(crate) warnings: Vec<MappingError>,
}

impl Compiler {
    pub(crate) fn new() -> Compiler {
        Compiler {
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn error(&mut self, ptr: &Ptr, kind: MappingErrorKind, message: String, help: Option<String>) {
        self.errors.push(MappingError {
            pointer: ptr.to_string(),
            kind,
            message,
            help,
            offset: None,
        });
    }

    /// Notes a directive that fails on every event that reaches it, with the reference's message.
    fn always_fails(&mut self, ptr: &Ptr, message: &str) {
        self.warnings.push(MappingError {
            pointer: ptr.to_string(),
            kind: MappingErrorKind::AlwaysFails,
            message: format!("fails on every event that reaches it: {message}"),
            help: None,
            offset: None,
        });
    }

    /// A node that fails when reached, noted as a warning.
    fn fail(&mut self, ptr: &Ptr, message: impl Into<String>) -> Node {
        let message: String = message.into();
        self.always_fails(ptr, &message);
        Node::Fail {
            message: message.into(),
            ptr: ptr.to_string().into(),
        }
    }

    /// `transform(mapping, event)`: the root directive key, validation, then the mapping.
    pub(crate) fn root(&mut self, mapping: &Value) -> Option<Root> {
        let mut ptr = Ptr::default();
        if nesting(mapping, MAX_MAPPING_DEPTH) > MAX_MAPPING_DEPTH {
            self.error(
                &ptr,
                MappingErrorKind::TooDeep,
                format!("the mapping is nested more than {MAX_MAPPING_DEPTH} levels deep"),
                None,
            );
            return None;
        }
        let processed = match prepare_root(mapping) {
            Ok(p) => p,
            Err((kind, message, help)) => {
                self.error(&ptr, kind, message, help);
                return None;
            }
        };
        let _ = Validator { errs: &mut self.errors }.validate(&processed, &mut ptr);
        Some(match &*processed {
            Value::Object(map) if directive_name(map).is_none() => {
                let fields = self.fields(map, &mut ptr);
                Root {
                    node: object_node(fields.clone()),
                    fields: Some(fields),
                }
            }
            other => Root {
                node: self.compile(other, &mut ptr),
                fields: None,
            },
        })
    }

    fn fields(&mut self, map: &Map<String, Value>, ptr: &mut Ptr) -> Vec<(String, Node)> {
        map.iter()
            .map(|(k, v)| {
                ptr.push(k);
                let node = self.compile(v, ptr);
                ptr.pop();
                (k.clone(), node)
            })
            .collect()
    }

    /// What `resolve` does with `v`.
    pub(crate) fn compile(&mut self, v: &Value, ptr: &mut Ptr) -> Node {
        match v {
            Value::Object(map) => match directive_name(map) {
                Some(name) => {
                    ptr.push(name);
                    let node = self.directive(name, &map[name], ptr);
                    ptr.pop();
                    node
                }
                None => object_node(self.fields(map, ptr)),
            },
            Value::Array(items) => {
                let nodes: Vec<Node> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        ptr.push(&i.to_string());
                        let node = self.compile(item, ptr);
                        ptr.pop();
                        node
                    })
                    .collect();
                if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
                    Node::Const(v.clone())
                } else {
                    Node::Array(nodes.into_boxed_slice())
                }
            }
            scalar => Node::Const(scalar.clone()),
        }
    }

    fn child(&mut self, v: &Value, ptr: &mut Ptr, key: &str) -> Node {
        ptr.push(key);
        let node = self.compile(v, ptr);
        ptr.pop();
        node
    }

    /// One directive; `ptr` ends with its name.
    fn directive(&mut self, name: &str, o: &Value, ptr: &mut Ptr) -> Node {
        let opts = o.as_object();
        match name {
            "@path" => match o {
                Value::String(s) => Node::Path(Path::directive(s)),
                // Anything else is resolved, and must give a string at run time.
                other => Node::DynPath {
                    src: Box::new(self.compile(other, ptr)),
                    ptr: ptr.to_string().into(),
                },
            },
            "@template" => match o {
                Value::String(s) => Node::Template(Template::parse(s)),
                other => Node::DynTemplate {
                    src: Box::new(self.compile(other, ptr)),
                    ptr: ptr.to_string().into(),
                },
            },
            "@literal" => Node::Literal(Box::new(self.compile(o, ptr))),
            "@excludeWhenNull" => Node::ExcludeWhenNull {
                value: Box::new(self.compile(o, ptr)),
                ptr: ptr.to_string().into(),
            },
            "@if" => self.if_(opts, ptr),
            "@case" => {
                let Some(opts) = opts else {
                    return self.fail(ptr, "@case requires an object with a \"operator\" key");
                };
                if !truthy(opts.get("operator")) {
                    return self.fail(ptr, "@case requires a \"operator\" key");
                }
                let op = match opts.get("operator").and_then(Value::as_str) {
                    Some("lower") => CaseOp::Lower,
                    Some("upper") => CaseOp::Upper,
                    _ => CaseOp::Other,
                };
                let value = match opts.get("value") {
                    Some(v) if js::is_truthy(v) => Some(Box::new(self.child(v, ptr, "value"))),
                    _ => None,
                };
                // Validation takes any operator string (`"LOWER"` too), but the directive
                // compares it exactly and throws on every string value, so a `@path` to a
                // text field fails every event. Only a value that is never a string passes.
                let never_string = match value.as_deref() {
                    None => true,
                    Some(Node::Const(c)) => !c.is_string(),
                    Some(Node::Literal(inner)) => matches!(&**inner, Node::Const(c) if !c.is_string()),
                    Some(_) => false,
                };
                if op == CaseOp::Other && !never_string {
                    self.always_fails(ptr, CASE_OPERATOR);
                }
                Node::Case {
                    op,
                    value,
                    ptr: ptr.to_string().into(),
                }
            }
            "@replace" => self.replace(opts, ptr),
            "@arrayPath" => {
                let Value::Array(items) = o else {
                    return self.fail(ptr, format!("@arrayPath expected array, got {}", Type::of(o).name()));
                };
                let root = match items.first() {
                    Some(Value::String(s)) => ArrayRoot::Path(Path::directive(s)),
                    Some(other) => ArrayRoot::Node(Box::new(self.child(other, ptr, "0"))),
                    None => ArrayRoot::Missing,
                };
                let shape = match items.get(1) {
                    Some(shape @ Value::Object(m)) if !m.is_empty() => Some(Box::new(self.child(shape, ptr, "1"))),
                    _ => None,
                };
                Node::ArrayPath { root, shape }
            }
            "@json" => {
                let Some(opts) = opts else {
                    return self.fail(ptr, "@json requires an object with a \"value\" key");
                };
                if !truthy(opts.get("mode")) {
                    return self.fail(ptr, "@json requires a \"mode\" key");
                }
                let Some(value) = opts.get("value").filter(|v| js::is_truthy(v)) else {
                    return self.fail(ptr, "@json requires a \"value\" key");
                };
                let mode = match opts.get("mode").and_then(Value::as_str) {
                    Some("encode") => JsonMode::Encode,
                    Some("decode") => JsonMode::Decode,
                    _ => JsonMode::Other,
                };
                Node::Json {
                    mode,
                    value: Box::new(self.child(value, ptr, "value")),
                    ptr: ptr.to_string().into(),
                }
            }
            "@flatten" => {
                let Some(opts) = opts else {
                    return self.fail(ptr, "@flatten requires an object with a \"separator\" key");
                };
                let Some(separator) = opts.get("separator").filter(|v| js::is_truthy(v)) else {
                    return self.fail(ptr, "@flatten requires a \"separator\" key");
                };
                let separator = Box::new(self.child(separator, ptr, "separator"));
                let value = opts.get("value").map(|v| Box::new(self.child(v, ptr, "value")));
                let omit_arrays = truthy(opts.get("omitArrays"));
                Node::Flatten {
                    separator,
                    value,
                    omit_arrays,
                    ptr: ptr.to_string().into(),
                }
            }
            "@merge" => {
                let Some(opts) = opts else {
                    return self.fail(
                        ptr,
                        "@merge requires an object with an \"objects\" key and a \"direction\" key",
                    );
                };
                let Some(direction) = opts.get("direction").filter(|v| js::is_truthy(v)) else {
                    return self.fail(ptr, "@merge requires a \"direction\" key");
                };
                let objects = match opts.get("objects") {
                    Some(Value::Array(items)) => items,
                    Some(v) if js::is_truthy(v) => {
                        let typeof_ = match v {
                            Value::String(_) => "string",
                            Value::Number(_) => "number",
                            Value::Bool(_) => "boolean",
                            _ => "object",
                        };
                        return self.fail(ptr, format!("@merge: expected opts.array, got {typeof_}"));
                    }
                    _ => return self.fail(ptr, "@merge requires a \"objects\" key"),
                };
                let direction = Box::new(self.child(direction, ptr, "direction"));
                ptr.push("objects");
                let objects = objects
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.child(v, ptr, &i.to_string()))
                    .collect::<Vec<_>>()
                    .into_boxed_slice();
                ptr.pop();
                Node::Merge { direction, objects }
            }
            "@transform" => {
                let Some(opts) = opts else {
                    return self.fail(
                        ptr,
                        "@transform requires an object with an \"apply\" key and a \"mapping\" key",
                    );
                };
                let Some(mapping) = opts.get("mapping").filter(|v| js::is_truthy(v)) else {
                    return self.fail(ptr, "@transform requires a \"mapping\" key");
                };
                let apply = match opts.get("apply") {
                    Some(apply @ Value::Object(_)) => apply,
                    Some(v) if js::is_truthy(v) => {
                        return self.fail(ptr, "@transform \"apply\" key should be an object");
                    }
                    _ => return self.fail(ptr, "@transform requires a \"apply\" key"),
                };
                ptr.push("apply");
                let apply = self.transform_apply(apply, ptr);
                ptr.pop();
                let mapping = Box::new(self.child(mapping, ptr, "mapping"));
                Node::Transform {
                    apply: Box::new(apply),
                    mapping,
                    ptr: ptr.to_string().into(),
                }
            }
            "@liquid" => self.liquid(o, ptr),
            "@jmespath" => match o {
                Value::String(src) => match Jmes::compile(src) {
                    Ok(expr) => Node::Jmes {
                        expr: Box::new(expr),
                        ptr: ptr.to_string().into(),
                    },
                    Err(e) => {
                        self.errors.push(MappingError {
                            pointer: ptr.to_string(),
                            kind: MappingErrorKind::JmespathSyntax,
                            message: format!("invalid JMESPath expression at offset {}: {}", e.offset, e.reason),
                            help: None,
                            offset: Some(e.offset),
                        });
                        Node::Const(Value::Null)
                    }
                },
                other => {
                    // Validation reports it where it looks; raw arrays are ours to check.
                    if !self.errors.iter().any(|e| e.pointer == ptr.to_string()) {
                        let found = Type::of(other).name();
                        self.error(
                            ptr,
                            MappingErrorKind::WrongType,
                            format!("should be a string (a JMESPath expression), but it is {found}"),
                            None,
                        );
                    }
                    Node::Const(Value::Null)
                }
            },
            unknown => self.fail(ptr, format!("{unknown} is not a valid directive, got undefined")),
        }
    }

    fn if_(&mut self, opts: Option<&Map<String, Value>>, ptr: &mut Ptr) -> Node {
        let Some(opts) = opts else {
            return self.fail(ptr, "@if requires an object with an \"exists\" key");
        };
        if let Some(otherwise) = opts.get("else").filter(|v| !js::is_truthy(v)) {
            // SPEC rule 2: Segment ignores a falsy `else` and leaves the field out.
            ptr.push("else");
            self.error(
                ptr,
                MappingErrorKind::FalsyElse,
                format!("an `else` of {otherwise} is ignored by Segment: the field is left out instead"),
                Some(if otherwise.is_null() {
                    "remove `else` to leave the field out, or use {\"@literal\": null} to send null".to_owned()
                } else {
                    format!("remove `else` to leave the field out, or write {{\"@literal\": {otherwise}}} to send {otherwise}")
                }),
            );
            ptr.pop();
        }
        let exists = opts.get("exists");
        let blank = opts.get("blank");
        if !truthy(exists) && !truthy(blank) {
            return self.fail(ptr, "@if requires an \"exists\" key or a \"blank\" key");
        }
        // `exists` wins when present, even with a falsy literal (then `blank` made it this far).
        let (test, value) = match (exists, blank) {
            (Some(v), _) => (Test::Exists, self.child(v, ptr, "exists")),
            (None, Some(v)) => (Test::Blank, self.child(v, ptr, "blank")),
            (None, None) => {
                return self.fail(ptr, "@if requires an \"exists\" key or a \"blank\" key");
            }
        };
        let then = opts.get("then").map(|v| Box::new(self.child(v, ptr, "then")));
        let otherwise = opts
            .get("else")
            .filter(|v| js::is_truthy(v))
            .map(|v| Box::new(self.child(v, ptr, "else")));
        Node::If {
            test,
            value: Box::new(value),
            then,
            otherwise,
        }
    }

    fn replace(&mut self, opts: Option<&Map<String, Value>>, ptr: &mut Ptr) -> Node {
        let Some(opts) = opts else {
            return self.fail(ptr, "@replace requires an object with a \"pattern\" key");
        };
        if !truthy(opts.get("pattern")) {
            return self.fail(ptr, "@replace requires a \"pattern\" key");
        }
        // `null` options take their defaults; options of another type make the result "".
        let pattern = opts.get("pattern").and_then(Value::as_str);
        let replacement = match opts.get("replacement") {
            None | Some(Value::Null) => Some(""),
            Some(v) => v.as_str(),
        };
        let flag = |key: &str, default: bool| match opts.get(key) {
            None | Some(Value::Null) => Some(default),
            Some(v) => v.as_bool(),
        };
        let (global, ignorecase) = (flag("global", true), flag("ignorecase", false));
        let rules = match (pattern, replacement, global, ignorecase) {
            (Some(pattern), Some(replacement), Some(global), Some(ignorecase)) => {
                let first = Rule::new(pattern, replacement, global, ignorecase);
                let second = match (opts.get("pattern2"), opts.get("replacement2")) {
                    (Some(Value::String(p2)), None | Some(Value::Null)) if !p2.is_empty() => {
                        Some(Rule::new(p2, "", global, ignorecase))
                    }
                    (Some(Value::String(p2)), Some(Value::String(r2))) if !p2.is_empty() => {
                        Some(Rule::new(p2, r2, global, ignorecase))
                    }
                    _ => None,
                };
                Some((first, second))
            }
            _ => None,
        };
        let value = match opts.get("value") {
            Some(v) if js::is_truthy(v) => Some(Box::new(self.child(v, ptr, "value"))),
            _ => None,
        };
        Node::Replace {
            replace: Box::new(Replace { rules }),
            value,
            ptr: ptr.to_string().into(),
        }
    }

    fn liquid(&mut self, o: &Value, ptr: &mut Ptr) -> Node {
        let Value::String(src) = o else {
            return self.fail(ptr, "liquid template value must be a string");
        };
        if src.is_empty() {
            return Node::Const(Value::String(String::new()));
        }
        if js_len(src) > 1000 {
            return self.fail(ptr, "liquid template values are limited to 1000 characters");
        }
        match Liquid::parse(src) {
            Ok(template) => Node::Liquid {
                template: Box::new(template),
                ptr: ptr.to_string().into(),
            },
            Err(LiquidError::Fails(message)) => self.fail(ptr, message),
            Err(LiquidError::Unsupported(message)) => {
                self.error(
                    ptr,
                    MappingErrorKind::LiquidUnsupported,
                    message,
                    Some("use @template, @if or @case, or a simpler Liquid template".to_owned()),
                );
                Node::Const(Value::Null)
            }
        }
    }

    /// `@transform`'s `apply` is run through `transform` itself at run time: the
    /// root directive key, then validation (which fails on every event if it fails).
    fn transform_apply(&mut self, apply: &Value, ptr: &mut Ptr) -> Node {
        let processed = match prepare_root(apply) {
            Ok(p) => p,
            Err((_, message, _)) => return self.fail(ptr, message),
        };
        let mut errs = Vec::new();
        let _ = Validator { errs: &mut errs }.validate(&processed, &mut ptr.clone());
        if !errs.is_empty() {
            let message = errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
            return self.fail(ptr, message);
        }
        self.compile(&processed, ptr)
    }
}

/// A raw object node, folded into a constant when nothing in it is a directive.
fn object_node(fields: Vec<(String, Node)>) -> Node {
    if fields.iter().all(|(_, n)| matches!(n, Node::Const(_))) {
        let map = fields
            .into_iter()
            .map(|(k, n)| match n {
                Node::Const(v) => (k, v),
                _ => (k, Value::Null),
            })
            .collect();
        Node::Const(Value::Object(map))
    } else {
        Node::Object(fields.into_boxed_slice())
    }
}

type RootError = (MappingErrorKind, String, Option<String>);

/// `getMappingToProcess` and the spread of the mapping into an object.
fn prepare_root(mapping: &Value) -> Result<Cow<'_, Value>, RootError> {
    let map = match mapping {
        Value::Object(map) => map,
        // `{...mapping}` of an array or a string: its indexes become keys.
        Value::Array(items) => {
            return Ok(Cow::Owned(Value::Object(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v.clone()))
                    .collect(),
            )));
        }
        Value::String(s) => {
            return Ok(Cow::Owned(Value::Object(
                s.encode_utf16()
                    .enumerate()
                    .map(|(i, unit)| {
                        let c = char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
                        (i.to_string(), Value::String(c.to_string()))
                    })
                    .collect(),
            )));
        }
        Value::Null => {
            return Err((
                MappingErrorKind::NotAnObject,
                "the mapping is null; it should be an object of fields".to_owned(),
                None,
            ));
        }
        Value::Bool(_) | Value::Number(_) => return Ok(Cow::Owned(Value::Object(Map::new()))),
    };
    let Some(root) = map.get(ROOT_DIRECTIVE_KEY) else {
        return Ok(Cow::Borrowed(mapping));
    };
    let customer: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| *k != ROOT_DIRECTIVE_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let root_error = |message: &str| {
        Err((
            MappingErrorKind::RootDirective,
            message.to_owned(),
            Some(format!(
                "\"{ROOT_DIRECTIVE_KEY}\" takes one directive object, e.g. {{\"@transform\": {{\"apply\": {{…}}}}}}"
            )),
        ))
    };
    let mut root = root.clone();
    let first = match &mut root {
        Value::Null => return root_error("Cannot convert undefined or null to object"),
        Value::Object(m) if m.len() > 1 => {
            return root_error("The root mapping must only have a single directive object");
        }
        Value::Object(m) => m.values_mut().next(),
        Value::Array(items) if items.len() > 1 => {
            return root_error("The root mapping must only have a single directive object");
        }
        Value::Array(items) => items.first_mut(),
        Value::String(s) if js_len(s) > 1 => {
            return root_error("The root mapping must only have a single directive object");
        }
        _ => None,
    };
    match first {
        Some(Value::Object(directive)) => {
            directive.insert("mapping".to_owned(), Value::Object(customer));
        }
        // An array takes the property but neither validation nor resolution sees it.
        Some(Value::Array(_)) => {}
        _ => return root_error("The root directive must be an object"),
    }
    Ok(Cow::Owned(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_directive() {
        for (typo, want) in [
            ("@pth", Some("@path")),
            ("@Path", Some("@path")),
            ("@templat", Some("@template")),
            ("@arraypath", Some("@arrayPath")),
            ("@jmespth", Some("@jmespath")),
            ("@foo", None),
            ("@", None),
        ] {
            assert_eq!(nearest_directive(typo), want, "{typo}");
        }
    }
}
