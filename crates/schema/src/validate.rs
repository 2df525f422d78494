//! Checking YAML files against the JSON Schemas, with every error at its line and column.
//!
//! jsonschema reports each error with the JSON Pointer of the offending value
//! (`instance_path`); the position index built while reading the YAML turns it
//! into a line and column. Errors of `anyOf` (a mapping value may be a raw value,
//! a directive or an object) are replaced by the errors of the alternative the
//! user evidently meant, as editors do, so that `{"@if": {"els": 1}}` reads
//! "unknown key `els`" at `els` rather than "matches none of the alternatives".

use std::sync::OnceLock;

use encharge_engine::config::yaml::{self, PosIndex};
use encharge_engine::config::{Diagnostic, ErrorKind, Severity};
use encharge_engine::did_you_mean;
use jsonschema::error::{ValidationError, ValidationErrorKind};
use jsonschema::{Validator, draft7};
use serde_json::Value;

/// A compiled schema and its source (error messages read keywords from it).
pub(crate) struct Compiled {
    schema: Value,
    validator: Result<Validator, String>,
}

impl Compiled {
    fn new(schema: Value) -> Compiled {
        let validator = draft7::new(&schema).map_err(|e| e.to_string());
        Compiled { schema, validator }
    }
}

pub(crate) fn destination() -> &'static Compiled {
    static SCHEMA: OnceLock<Compiled> = OnceLock::new();
    SCHEMA.get_or_init(|| Compiled::new(crate::generate::destination_schema()))
}

pub(crate) fn test_case() -> &'static Compiled {
    static SCHEMA: OnceLock<Compiled> = OnceLock::new();
    SCHEMA.get_or_init(|| Compiled::new(crate::generate::test_case_schema()))
}

/// Every schema error of one parsed document, each with the JSON Pointer it is about.
pub(crate) fn schema_errors(
    compiled: &Compiled,
    file: &str,
    value: &Value,
    index: &PosIndex,
) -> Vec<(String, Diagnostic)> {
    let validator = match &compiled.validator {
        Ok(v) => v,
        Err(e) => {
            // Only a bug of ours gets here; say so rather than pass the file unchecked.
            return vec![(
                String::new(),
                Diagnostic {
                    severity: Severity::Error,
                    kind: ErrorKind::Shape,
                    file: file.to_owned(),
                    pos: index.find("").value,
                    len: 1,
                    subscription: None,
                    field: None,
                    message: format!("the built-in JSON Schema does not compile: {e}"),
                    help: Some("please report this".to_owned()),
                },
            )];
        }
    };
    let cx = Cx {
        schema: &compiled.schema,
        file,
        root: value,
        index,
    };
    let mut out = Vec::new();
    for error in validator.iter_errors(value) {
        cx.describe(&error, &mut out);
    }
    out.dedup_by(|a, b| a.1.pos == b.1.pos && a.1.message == b.1.message);
    out
}

/// The positions where an error of the engine makes a schema error at `pointer` a repeat:
/// the same place, and inside a mapping field, any place from the field down to it (an
/// engine error on a directive explains what the schema finds inside it).
pub(crate) fn covering_positions(pointer: &str, index: &PosIndex) -> Vec<yaml::Pos> {
    let mut out = Vec::new();
    let at = index.find(pointer);
    out.push(at.value);
    out.extend(at.key);
    let parts: Vec<&str> = pointer.split('/').collect();
    // ["", "subscriptions", i, "mapping", field, ...]
    if parts.len() > 5 && parts[1] == "subscriptions" && parts[3] == "mapping" {
        for end in 5..parts.len() {
            let ancestor = index.find(&parts[..end].join("/"));
            out.push(ancestor.value);
            out.extend(ancestor.key);
        }
    }
    out
}

/// Where the directive schema sits; errors under it come from the directive alternative.
const DIRECTIVE_PATH: &str = "/definitions/directive";

struct Cx<'a> {
    schema: &'a Value,
    file: &'a str,
    root: &'a Value,
    index: &'a PosIndex,
}

impl Cx<'_> {
    fn describe(&self, error: &ValidationError<'_>, out: &mut Vec<(String, Diagnostic)>) {
        let pointer = error.instance_path().as_str().to_owned();
        let keyword = self.keyword_value(error.schema_path().as_str());
        let instance = self.root.pointer(&pointer).unwrap_or(&Value::Null);
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = self.sibling_properties(error.schema_path().as_str());
                for key in unexpected {
                    let at = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    let help = did_you_mean(key, known.iter().map(String::as_str))
                        .map(|k| format!("did you mean `{k}`?"))
                        .or_else(|| (!known.is_empty()).then(|| format!("known keys here: {}", known.join(", "))));
                    let pos = self.index.find(&at);
                    let kind = if pointer.contains("/mapping") {
                        ErrorKind::UnknownField
                    } else {
                        ErrorKind::UnknownKey
                    };
                    let d = self.diagnostic(
                        &at,
                        pos.key.unwrap_or(pos.value),
                        if pos.key.is_some() {
                            pos.key_len
                        } else {
                            key.chars().count()
                        },
                        kind,
                        format!("unknown key `{key}`"),
                        help,
                    );
                    out.push((at, d));
                }
            }
            ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
                match self.meant(instance, &pointer, context) {
                    Some(branch) => {
                        for e in branch {
                            self.describe(e, out);
                        }
                    }
                    None => {
                        let expected = self.expected_types(context);
                        let message = format!("should be {expected}, but it is {}", a_type(instance));
                        out.push((pointer.clone(), self.at(&pointer, message, None)));
                    }
                }
            }
            ValidationErrorKind::Type { .. } => {
                let expected = keyword.map(type_names).unwrap_or_else(|| "another type".to_owned());
                let message = format!("should be {expected}, but it is {}", a_type(instance));
                out.push((pointer.clone(), self.at(&pointer, message, None)));
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                // `triger:` is reported as an unknown key with "did you mean `trigger`?";
                // saying that `trigger` is missing too would only repeat it.
                let misspelled = instance.as_object().is_some_and(|o| {
                    o.keys()
                        .any(|k| k != name && encharge_engine::did_you_mean(k, [name]).is_some())
                });
                if misspelled {
                    return;
                }
                out.push((
                    pointer.clone(),
                    self.at(&pointer, format!("the key `{name}` is missing"), None),
                ));
            }
            ValidationErrorKind::Enum { options } => {
                let names: Vec<String> = options
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let help = instance
                    .as_str()
                    .and_then(|s| did_you_mean(s, names.iter().map(String::as_str)))
                    .map(|s| format!("did you mean `{s}`?"));
                let message = format!("{instance} is not one of {}", names.join(", "));
                out.push((pointer.clone(), self.at(&pointer, message, help)));
            }
            _ => {
                // The others (minimum, maxLength, …) say it well enough, naming the value first.
                out.push((pointer.clone(), self.at(&pointer, error.to_string(), None)));
            }
        }
    }

    /// The alternative of an `anyOf` that the user evidently meant, when one stands out: for
    /// an object with an `@` key, the directive; else one whose type the value has (then
    /// its errors lie inside the value), preferring the one whose errors lie deepest, then
    /// the one with the fewest.
    fn meant<'e>(
        &self,
        instance: &Value,
        pointer: &str,
        context: &'e [Vec<ValidationError<'static>>],
    ) -> Option<&'e [ValidationError<'static>]> {
        let is_directive_branch =
            |b: &[ValidationError<'static>]| b.iter().any(|e| e.schema_path().as_str().starts_with(DIRECTIVE_PATH));
        let is_directive = instance
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k.starts_with('@')));
        if is_directive {
            return context.iter().find(|b| is_directive_branch(b)).map(Vec::as_slice);
        }
        let fits = |b: &[ValidationError<'static>]| {
            !b.is_empty()
                && !is_directive_branch(b)
                && !b
                    .iter()
                    .any(|e| is_type_error(e) && e.instance_path().as_str() == pointer)
        };
        let depth =
            |b: &[ValidationError<'static>]| b.iter().map(|e| e.instance_path().as_str().len()).max().unwrap_or(0);
        // Between alternatives whose errors lie as deep, the one with fewer problems: an
        // expected request with one key too many is not an expected error without `error`.
        let problems = |b: &[ValidationError<'static>]| -> usize {
            b.iter()
                .map(|e| match e.kind() {
                    ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.len(),
                    _ => 1,
                })
                .sum()
        };
        context
            .iter()
            .filter(|b| fits(b))
            .max_by_key(|b| (depth(b), std::cmp::Reverse(problems(b))))
            .map(Vec::as_slice)
    }

    /// "an object, a directive or null", from the alternatives' type errors.
    fn expected_types(&self, context: &[Vec<ValidationError<'static>>]) -> String {
        let mut names: Vec<&str> = Vec::new();
        let mut directive = false;
        for e in context.iter().flatten() {
            let path = e.schema_path().as_str();
            if path.starts_with(DIRECTIVE_PATH) {
                directive = true;
                continue;
            }
            if let (Some(types), true) = (self.keyword_value(path), is_type_error(e)) {
                for name in type_list(types) {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        if directive {
            // "null" reads best last: "an object, a directive or null".
            let at = names.iter().position(|n| *n == "null").unwrap_or(names.len());
            names.insert(at, "a directive");
        }
        join_or(&names)
    }

    /// The value of the keyword at a schema path (`type`, `enum`, …).
    fn keyword_value(&self, schema_path: &str) -> Option<&Value> {
        self.schema.pointer(schema_path)
    }

    /// The property names declared beside an `additionalProperties`.
    fn sibling_properties(&self, schema_path: &str) -> Vec<String> {
        let parent = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
        self.schema
            .pointer(&format!("{parent}/properties"))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn at(&self, pointer: &str, message: String, help: Option<String>) -> Diagnostic {
        let pos = self.index.find(pointer).value;
        let kind = if pointer.contains("/mapping/") {
            ErrorKind::Mapping
        } else {
            ErrorKind::Shape
        };
        self.diagnostic(pointer, pos, 1, kind, message, help)
    }

    fn diagnostic(
        &self,
        pointer: &str,
        pos: yaml::Pos,
        len: usize,
        kind: ErrorKind,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let field = field_of(pointer);
        Diagnostic {
            severity: Severity::Error,
            kind,
            file: self.file.to_owned(),
            pos,
            len: len.max(1),
            subscription: subscription_name(self.root, pointer),
            field: (!field.is_empty()).then_some(field),
            message,
            help,
        }
    }
}

fn is_type_error(e: &ValidationError<'_>) -> bool {
    matches!(e.kind(), ValidationErrorKind::Type { .. })
}

/// `"string"` → `a string`; `["string", "number"]` → `a string or a number`.
fn type_names(types: &Value) -> String {
    join_or(&type_list(types))
}

fn type_list(types: &Value) -> Vec<&'static str> {
    let one = |t: &str| match t {
        "object" => "an object",
        "array" => "an array",
        "string" => "a string",
        "number" => "a number",
        "integer" => "an integer",
        "boolean" => "true or false",
        "null" => "null",
        _ => "a value",
    };
    match types {
        Value::String(t) => vec![one(t)],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).map(one).collect(),
        _ => Vec::new(),
    }
}

fn join_or(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => "something else".to_owned(),
    }
}

/// What a value is, with its article.
fn a_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The subscription a pointer is inside of, by name.
fn subscription_name(root: &Value, pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix("/subscriptions/")?;
    let i: usize = rest.split('/').next()?.parse().ok()?;
    root.pointer(&format!("/subscriptions/{i}/name"))?
        .as_str()
        .map(str::to_owned)
}

/// The field path of a pointer: inside a subscription, relative to it (`mapping.email`).
fn field_of(pointer: &str) -> String {
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let parts = match parts.as_slice() {
        [first, _, rest @ ..] if first == "subscriptions" => rest,
        all => all,
    };
    parts.join(".")
}
