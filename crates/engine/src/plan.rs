//! Planning: an event in, for every enabled subscription whose trigger matches,
//! the requests to send or the reason nothing can be sent.

use serde_json::{Map, Value};

use crate::actions::{Action, PlannedRequest, Settings, ValidationError};
use crate::config::yaml::Pos;
use crate::mapping::{EvalError, Mapping};
use crate::trigger::Trigger;

/// A loaded config: settings and compiled subscriptions.
#[derive(Debug)]
pub struct Destination {
    /// Where requests go and with which key.
    pub settings: Settings,
    /// Every subscription of the config, in file order, the disabled ones too.
    pub subscriptions: Vec<Subscription>,
}

/// A compiled subscription.
#[derive(Debug)]
pub struct Subscription {
    /// Its unique name.
    pub name: String,
    /// The file it was read from.
    pub file: String,
    /// Where its `name` is in that file.
    pub pos: Pos,
    /// Whether it runs.
    pub enabled: bool,
    /// The action it runs.
    pub action: Action,
    /// Which events it takes.
    pub trigger: Trigger,
    /// The compiled mapping (the action's defaults merged with the user's fields).
    pub mapping: Mapping,
    /// The mapping as merged, before compiling, to explain where each field comes from.
    pub mapping_source: Map<String, Value>,
}

/// The event types of Segment's spec.
pub const EVENT_TYPES: &[&str] = &["track", "identify", "page", "screen", "group", "alias"];

/// An event that cannot be planned at all.
#[derive(Debug, Clone, PartialEq)]
pub struct EventError {
    /// Why, in words a user understands.
    pub message: String,
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why one subscription produced no request for an event.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanError {
    /// The mapping failed at run time.
    Mapping(EvalError),
    /// The mapped payload is not valid for the action.
    Validation(ValidationError),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Mapping(e) => write!(f, "mapping failed: {}", e.message),
            PlanError::Validation(e) => write!(f, "{e}"),
        }
    }
}

/// What one matching subscription made of an event.
#[derive(Debug)]
pub struct Planned<'a> {
    /// The subscription.
    pub subscription: &'a Subscription,
    /// The requests to send, or why there are none.
    pub result: Result<Vec<PlannedRequest>, PlanError>,
}

/// Checks that an event is an object with a known `type`.
pub fn check_event(event: &Value) -> Result<(), EventError> {
    let Value::Object(obj) = event else {
        return Err(EventError {
            message: format!("an event must be a JSON object, not {}", kind_of(event)),
        });
    };
    match obj.get("type") {
        Some(Value::String(t)) if EVENT_TYPES.contains(&t.as_str()) => Ok(()),
        Some(Value::String(t)) => Err(EventError {
            message: format!(
                "unknown event type {t:?}; Segment's types are {}",
                EVENT_TYPES.join(", ")
            ),
        }),
        Some(other) => Err(EventError {
            message: format!("the event's `type` must be a string, not {}", kind_of(other)),
        }),
        None => Err(EventError {
            message: "the event has no `type`".to_owned(),
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Runs one action on one event: mapping, payload validation, request.
///
/// This is the path of every event and of `eval`'s action requests.
pub fn run_action(
    action: Action,
    mapping: &Mapping,
    event: &Value,
    settings: &Settings,
) -> Result<Vec<PlannedRequest>, PlanError> {
    let payload = mapping.eval(event).map_err(PlanError::Mapping)?;
    action
        .plan_event(event, payload, settings)
        .map_err(PlanError::Validation)
}

impl Destination {
    /// Plans an event: one entry in `out` for every enabled subscription whose trigger matches.
    pub fn plan<'a>(&'a self, event: &Value, out: &mut Vec<Planned<'a>>) -> Result<(), EventError> {
        check_event(event)?;
        for sub in self.subscriptions.iter().filter(|s| s.enabled) {
            if sub.trigger.matches(event) {
                out.push(Planned {
                    subscription: sub,
                    result: run_action(sub.action, &sub.mapping, event, &self.settings),
                });
            }
        }
        Ok(())
    }
}
