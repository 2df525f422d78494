//! Segment FQL triggers: lexing, parsing and evaluation.

use serde_json::Value;

/// A compiled FQL trigger.
#[derive(Debug, Clone)]
pub struct Trigger {}

/// Why an FQL expression was rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerError {
    /// Byte offset in the expression where the problem starts.
    pub offset: usize,
    /// How many bytes the problem spans.
    pub len: usize,
    /// What went wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// A trap that is accepted but probably not meant.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerWarning {
    /// Byte offset in the expression.
    pub offset: usize,
    /// How many bytes it spans.
    pub len: usize,
    /// What it does.
    pub message: String,
}

impl Trigger {
    /// Parses an FQL expression.
    pub fn parse(_src: &str) -> Result<Trigger, TriggerError> {
        Err(TriggerError {
            offset: 0,
            len: 0,
            message: "FQL is not implemented yet".to_owned(),
            help: None,
        })
    }

    /// Accepted traps (SPEC rule 3).
    pub fn warnings(&self) -> &[TriggerWarning] {
        &[]
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        ""
    }

    /// Each condition: its text, whether it matched, the value it saw.
    pub fn explain(&self, _event: &Value) -> Vec<ConditionReport> {
        Vec::new()
    }

    /// Whether the event matches.
    pub fn matches(&self, _event: &Value) -> bool {
        false
    }
}

impl std::fmt::Display for TriggerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How one condition of a trigger fared on an event.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionReport {
    /// The condition as written.
    pub source: String,
    /// Whether it held.
    pub matched: bool,
    /// The value at its path; `None` when missing.
    pub seen: Option<Value>,
}
