//! The mapping-kit interpreter and the `@jmespath` extension.
//!
//! A mapping is JSON (from YAML) that says how to build an action's payload from
//! an event: raw values are copied and single-key directive objects (`@path`,
//! `@if`, `@template`, …) are resolved. [`Mapping::compile`] validates a mapping
//! exactly as Segment's mapping-kit does, collecting every problem, and compiles
//! it once: paths split, templates and Liquid parsed, JMESPath compiled.
//! [`Mapping::eval`] resolves it against an event with mapping-kit's results,
//! quirks included (see `tests/conformance/mapping.jsonl` and the oracle notes).
//!
//! Where we knowingly differ (SPEC rule 2): an `@if` whose `else` is a falsy
//! literal (`0`, `""`, `false`, `null`) is rejected, because Segment ignores it.
//! `@liquid` accepts a subset of Liquid (see the `liquid` module) and rejects the
//! rest at load time. Beyond the corpus, JavaScript leaks we do not copy:
//! properties inherited from prototypes (`$.properties.constructor` is a function
//! there, missing here); half of a surrogate pair (from indexing or spreading a
//! string with an emoji) becomes U+FFFD; integers above 2^53 print with all their
//! digits, as everywhere in this crate (`crate::js`).
//!
//! [`Mapping::eval`] returns owned JSON. [`Mapping::eval_borrowed`] returns a
//! [`Mapped`] that borrows from the event, for planners that serialize request
//! bodies straight from it: no copy of `properties` or `traits` per event.
//!
//! ```
//! use encharge_engine::mapping::Mapping;
//! use serde_json::json;
//!
//! let mapping = Mapping::compile(&json!({
//!     "email": {"@if": {"exists": {"@path": "$.traits.email"},
//!                       "then": {"@path": "$.traits.email"},
//!                       "else": {"@path": "$.context.traits.email"}}},
//!     "tag": "trial-user",
//!     "missing": {"@path": "$.properties.nope"},
//! })).map_err(|e| e[0].to_string())?;
//! let out = mapping.eval(&json!({"context": {"traits": {"email": "a@example.com"}}}))
//!     .map_err(|e| e.to_string())?;
//! assert_eq!(out, Some(json!({"email": "a@example.com", "tag": "trial-user"})));
//! # Ok::<(), String>(())
//! ```

mod describe;
mod directive;
mod jmes;
mod json;
mod liquid;
mod node;
mod objects;
mod path;
mod replace;
mod spec;
mod template;
#[cfg(test)]
mod tests;
mod validate;
mod value;

use std::fmt;

use serde_json::{Map, Value};

pub use self::value::Mapped;

use self::directive::Compiler;
use self::node::{Cx, Node};

pub use self::spec::{Check, DIRECTIVES, DirectiveSpec, METADATA_KEY, OptionSpec, Takes, directive};

/// A validated, compiled mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    node: Node,
    fields: Option<Box<[(String, Mapping)]>>,
    warnings: Box<[MappingError]>,
}

/// One problem found while validating a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingError {
    /// JSON Pointer inside the mapping, e.g. `/email/@if/exists` (`""` is the whole mapping).
    pub pointer: String,
    /// What went wrong.
    pub kind: MappingErrorKind,
    /// What went wrong, in words a user understands.
    pub message: String,
    /// How to fix it, when we know.
    pub help: Option<String>,
    /// For a problem inside the string at `pointer` (a JMESPath syntax error), the byte
    /// offset in that string, so that a config error can point at the character.
    pub offset: Option<usize>,
}

/// The kinds of [`MappingError`]. Each variant shows a mapping that triggers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MappingErrorKind {
    /// An `@` key that is no directive: `{"email": {"@pth": "$.email"}}`.
    UnknownDirective,
    /// Two directives in one object: `{"@path": "$.a", "@template": "b"}`.
    TwoDirectives,
    /// A directive next to other keys: `{"@path": "$.a", "fallback": "b"}`.
    MixedDirective,
    /// An option of the wrong type: `{"@path": 5}`, `{"@if": "x"}`.
    WrongType,
    /// A required option is missing: `{"@replace": {"pattern": "a"}}` (no `value`).
    MissingOption,
    /// An option outside its allowed values: `{"@json": {"mode": "pretty", "value": "x"}}`.
    NotAllowed,
    /// A string option that is too short: `{"@replace": {"pattern": "", "value": "x"}}`.
    TooShort,
    /// A string option that is too long: `{"@replace": {"pattern": "abcdefghijk", "value": "x"}}`.
    TooLong,
    /// A falsy literal `else`, which Segment ignores (SPEC rule 2):
    /// `{"@if": {"exists": {"@path": "$.a"}, "then": 1, "else": 0}}`.
    FalsyElse,
    /// A JMESPath syntax error: `{"@jmespath": "traits.["}`.
    JmespathSyntax,
    /// A Liquid construct we do not support: `{"@liquid": "{{ x | date: '%Y' }}"}`.
    LiquidUnsupported,
    /// A bad `__segment_internal_directive`: `{"__segment_internal_directive": "x"}`.
    RootDirective,
    /// The mapping is not an object: `null`.
    NotAnObject,
    /// The mapping nests more than 128 levels deep: `{"a": {"a": {"a": …}}}`.
    TooDeep,
    /// A warning, not an error: a directive that fails on every event that reaches
    /// it, as Segment's run-time checks do: `{"@if": {"then": 1}}` (no `exists`/`blank`).
    AlwaysFails,
}

/// A failure while resolving a mapping against an event.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// JSON Pointer of the directive inside the mapping (`""` for the whole mapping).
    pub pointer: String,
    /// What went wrong (Segment's wording where Segment fails the same way).
    pub message: String,
}

impl Mapping {
    /// Validates a mapping as the reference does, collecting every problem, and compiles it.
    pub fn compile(mapping: &Value) -> Result<Mapping, Vec<MappingError>> {
        let mut compiler = Compiler::new();
        let root = compiler.root(mapping);
        match root {
            Some(root) if compiler.errors.is_empty() => Ok(Mapping {
                node: root.node,
                fields: root.fields.map(|fields| {
                    fields
                        .into_iter()
                        .map(|(k, node)| {
                            (
                                k,
                                Mapping {
                                    node,
                                    fields: None,
                                    warnings: Box::new([]),
                                },
                            )
                        })
                        .collect()
                }),
                warnings: compiler.warnings.into_boxed_slice(),
            }),
            _ => Err(compiler.errors),
        }
    }

    /// Resolves the mapping against an event; `Ok(None)` is JavaScript's `undefined`.
    ///
    /// Like Segment's `transform`, the event must be an object (`null` counts as `{}`).
    /// The result is owned JSON, so whatever it takes from the event is cloned; see
    /// [`Mapping::eval_borrowed`] for a result that borrows instead.
    pub fn eval(&self, event: &Value) -> Result<Option<Value>, EvalError> {
        let event = check_event(event)?;
        let root = Mapped::Ref(event);
        let cx = Cx::new(&root);
        self.node.eval_value(&root, &cx)
    }

    /// Resolves the mapping without copying from the event: the result borrows
    /// from the event and the mapping, and serializes (or turns into JSON with
    /// [`Mapped::into_value`]) exactly as [`Mapping::eval`]'s result.
    ///
    /// For a planner that writes request bodies straight from the result, this
    /// skips building (and dropping) a JSON tree per event.
    pub fn eval_borrowed<'a>(&'a self, event: &'a Value) -> Result<Mapped<'a>, EvalError> {
        let event = check_event(event)?;
        let root = Mapped::Ref(event);
        let cx = Cx::new(&root);
        self.node.eval(&root, &cx).map(Mapped::remove_undefined)
    }

    /// The top-level fields, when the mapping is a raw object, each compiled on its
    /// own: evaluating one gives that field's value (`None`: left out). For
    /// `--explain`, to say where each field came from.
    pub fn fields(&self) -> Option<impl Iterator<Item = (&str, &Mapping)>> {
        self.fields
            .as_ref()
            .map(|fields| fields.iter().map(|(k, m)| (k.as_str(), m)))
    }

    /// Directives that fail on every event that reaches them (Segment only checks
    /// them at run time), for `validate` to print as warnings.
    pub fn warnings(&self) -> &[MappingError] {
        &self.warnings
    }

    /// A short description of what the mapping does, e.g. `@path $.context.traits.email`,
    /// `@if exists @path $.email then @path $.email else raw "x"`, `raw "trial-user"`.
    pub fn describe(&self) -> String {
        self.node.describe()
    }
}

/// mapping-kit's `transform` takes only an object; the oracle passes `{}` for a missing event.
fn check_event(event: &Value) -> Result<&Value, EvalError> {
    static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(Map::new()));
    match event {
        Value::Object(_) => Ok(event),
        Value::Null => Ok(&EMPTY),
        other => Err(EvalError {
            pointer: String::new(),
            message: format!("data must be an object, got {}", value::Type::of(other).name()),
        }),
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "mapping"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for MappingError {}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

impl std::error::Error for EvalError {}

/// A JSON Pointer under construction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ptr(Vec<String>);

impl Ptr {
    pub(crate) fn push(&mut self, key: &str) {
        self.0.push(key.to_owned());
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for key in &self.0 {
            write!(f, "/{}", key.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}
