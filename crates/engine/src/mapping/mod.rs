//! The mapping-kit interpreter and the `@jmespath` extension.

use serde_json::Value;

/// A validated, compiled mapping.
#[derive(Debug, Clone)]
pub struct Mapping {}

/// One problem found while validating a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingError {
    /// JSON Pointer inside the mapping, e.g. `/email/@if/exists`.
    pub pointer: String,
    /// What went wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// A failure while resolving a mapping against an event.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// What went wrong.
    pub message: String,
}

impl Mapping {
    /// Validates a mapping as the reference does, collecting every problem, and compiles it.
    pub fn compile(_mapping: &Value) -> Result<Mapping, Vec<MappingError>> {
        Err(vec![MappingError {
            pointer: String::new(),
            message: "mappings are not implemented yet".to_owned(),
            help: None,
        }])
    }

    /// Resolves the mapping against an event; `Ok(None)` is JavaScript's `undefined`.
    pub fn eval(&self, _event: &Value) -> Result<Option<Value>, EvalError> {
        Ok(None)
    }
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
