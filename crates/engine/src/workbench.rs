//! The expression workbench behind `encharge-actions eval`: one JSON request in,
//! one JSON result out, for a trigger, a mapping, an action or a user deletion.
//!
//! Each input is independent, and any failure becomes an `{"error": {"kind",
//! "message"}}` result for that input alone.

use serde_json::{Map, Value, json};

use crate::actions::{Action, PlannedRequest, Settings};
use crate::mapping::Mapping;
use crate::trigger::Trigger;

/// Evaluates one workbench request. An `id` member of the input is copied to the result.
pub fn eval(input: &Value) -> Value {
    let mut result = match eval_inner(input) {
        Ok(v) => v,
        Err((kind, message)) => json!({ "error": { "kind": kind, "message": message } }),
    };
    if let (Some(id), Value::Object(out)) = (input.get("id"), &mut result) {
        let mut with_id = Map::with_capacity(out.len() + 1);
        with_id.insert("id".to_owned(), id.clone());
        with_id.append(out);
        result = Value::Object(with_id);
    }
    result
}

type Failure = (&'static str, String);

fn eval_inner(input: &Value) -> Result<Value, Failure> {
    let Value::Object(obj) = input else {
        return Err(("input", "each line must be a JSON object".to_owned()));
    };
    let event = obj.get("event").unwrap_or(&Value::Null);
    if let Some(action) = obj.get("action") {
        let name = action.as_str().ok_or(("input", "\"action\" must be a string".to_owned()))?;
        let action = Action::from_name(name).ok_or_else(|| ("input", format!("unknown action {name:?}")))?;
        let settings = settings(obj.get("settings"))?;
        let mapping = match obj.get("mapping") {
            None | Some(Value::Null) => action.default_mapping(),
            Some(m) => m.clone(),
        };
        let mapping = compile(&mapping)?;
        let payload = mapping.eval(event).map_err(|e| ("mapping", e.message))?;
        let requests = action.plan_event(event, payload, &settings).map_err(|e| ("validation", e.to_string()))?;
        return Ok(json!({ "requests": requests.iter().map(PlannedRequest::to_json).collect::<Vec<_>>() }));
    }
    if let Some(delete) = obj.get("delete") {
        let settings = settings(obj.get("settings"))?;
        let requests = crate::actions::plan_delete(delete.get("userId"), delete.get("anonymousId"), &settings);
        return Ok(json!({ "requests": requests.iter().map(PlannedRequest::to_json).collect::<Vec<_>>() }));
    }
    if let Some(trigger) = obj.get("trigger") {
        let src = trigger.as_str().ok_or(("input", "\"trigger\" must be a string".to_owned()))?;
        let trigger = Trigger::parse(src).map_err(|e| ("trigger", e.to_string()))?;
        return Ok(json!({ "match": trigger.matches(event) }));
    }
    if let Some(mapping) = obj.get("mapping") {
        let output = compile(mapping)?.eval(event).map_err(|e| ("mapping", e.message))?;
        return Ok(json!({ "output": output.unwrap_or(Value::Null) }));
    }
    Err(("input", "expected one of \"trigger\", \"mapping\", \"action\" or \"delete\"".to_owned()))
}

fn compile(mapping: &Value) -> Result<Mapping, Failure> {
    Mapping::compile(mapping).map_err(|errors| {
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        ("mapping", message)
    })
}

fn settings(settings: Option<&Value>) -> Result<Settings, Failure> {
    match settings.and_then(|s| s.get("apiKey")) {
        Some(Value::String(key)) => Ok(Settings::new(key.clone())),
        Some(_) => Err(("settings", "settings.apiKey must be a string".to_owned())),
        None => Err(("settings", "settings.apiKey is required".to_owned())),
    }
}
