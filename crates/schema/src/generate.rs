//! Building the JSON Schemas from the engine's own types and tables.
//!
//! schemars derives the shape of the config from the same structs the engine
//! deserializes (descriptions from their doc comments). Two parts cannot come
//! from a derive, because the engine keeps them as data: the mapping fields of
//! each action ([`Action::fields`] and [`Action::default_mapping`]) and the
//! directives ([`DIRECTIVES`]). Those are added here, from that data.
//!
//! The schemas are JSON Schema draft-07: yaml-language-server (and so the VS Code
//! YAML extension) validates with draft-07 semantics. Draft-07 ignores keywords
//! beside a `$ref`, so every `$ref` here stands alone.

use encharge_engine::actions::{Action, Field, FieldType};
use encharge_engine::config::ConfigFile;
use encharge_engine::config::cases::TestFile;
use encharge_engine::mapping::{Check, DIRECTIVES, METADATA_KEY, Takes};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The file name of the config files' schema.
pub const DESTINATION: &str = "destination.schema.json";
/// The file name of the test files' schema.
pub const TEST_CASE: &str = "test-case.schema.json";

const DIRECTIVE: &str = "#/definitions/directive";
const MAPPING_VALUE: &str = "#/definitions/mappingValue";
const RAW_VALUE: &str = "#/definitions/rawValue";

fn reference(to: &str) -> Value {
    json!({ "$ref": to })
}

/// `{"not": {"pattern": "^@"}}` on property names: an object with an `@` key is a directive.
fn raw_object(members: Value) -> Value {
    json!({
        "type": "object",
        "propertyNames": { "not": { "pattern": "^@" } },
        "additionalProperties": members,
    })
}

/// The schema of config files: [`ConfigFile`], with mappings checked per action.
pub fn destination_schema() -> Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<ConfigFile>()
        .to_value();
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), json!("encharge-actions config"));
    }
    let Some(definitions) = schema.get_mut("definitions").and_then(Value::as_object_mut) else {
        return schema;
    };
    if let Some(subscription) = definitions.get_mut("SubscriptionConfig").and_then(Value::as_object_mut) {
        subscription_by_action(subscription);
    }
    for action in Action::ALL {
        definitions.insert(format!("mapping.{}", action.name()), action_mapping(action));
    }
    definitions.insert("directive".into(), directive_schema());
    definitions.insert(
        "mappingValue".into(),
        json!({
            "description": "A raw value (copied), a directive, or an object whose members are mapping values.",
            "anyOf": [
                reference(DIRECTIVE),
                { "type": ["string", "number", "boolean", "null", "array"] },
                raw_object(reference(MAPPING_VALUE)),
            ],
        }),
    );
    definitions.insert(
        "rawValue".into(),
        json!({
            "description": "A directive, or a raw value taken as it is (directives inside raw objects are not resolved).",
            "anyOf": [
                reference(DIRECTIVE),
                { "type": ["string", "number", "boolean", "null", "array"] },
                raw_object(json!(true)),
            ],
        }),
    );
    schema
}

/// `action` becomes an enum, and `mapping` is checked against the chosen action's fields.
fn subscription_by_action(subscription: &mut Map<String, Value>) {
    if let Some(action) = subscription
        .get_mut("properties")
        .and_then(|p| p.get_mut("action"))
        .and_then(Value::as_object_mut)
    {
        action.insert("enum".into(), Action::ALL.iter().map(|a| json!(a.name())).collect());
    }
    let branches: Vec<Value> = Action::ALL
        .iter()
        .map(|a| {
            json!({
                "if": { "properties": { "action": { "const": a.name() } }, "required": ["action"] },
                "then": { "properties": { "mapping": reference(&format!("#/definitions/mapping.{}", a.name())) } },
            })
        })
        .collect();
    subscription.insert("allOf".into(), Value::Array(branches));
}

/// The mapping of one action: its fields, each described, typed and with its default.
fn action_mapping(action: Action) -> Value {
    let defaults = action.default_mapping();
    let properties: Map<String, Value> = action
        .fields()
        .iter()
        .map(|f| (f.name.to_owned(), field_schema(f, defaults.get(f.name))))
        .collect();
    json!({
        "description": format!(
            "The fields of {} ({}): {} Fields not listed keep their default; null leaves a field unmapped.",
            action.title(),
            action.name(),
            action.description()
        ),
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

fn field_schema(field: &Field, default: Option<&Value>) -> Value {
    let required = if field.required { ", required" } else { "" };
    let date = if field.format_date_time { ", a date-time" } else { "" };
    let description = format!(
        "{} ({}{date}{required}). {}",
        field.label,
        field.ty.json_type(),
        field.description
    );
    let raw = match field.ty {
        // Segment converts numbers and booleans to strings.
        FieldType::String => json!({ "type": ["string", "number", "boolean"] }),
        FieldType::Object if field.properties.is_empty() => raw_object(reference(MAPPING_VALUE)),
        FieldType::Object => {
            let members: Map<String, Value> = field
                .properties
                .iter()
                .map(|(name, ty)| {
                    let member = match ty {
                        FieldType::String => json!({
                            "description": format!("{} {name} ({}).", field.label, ty.json_type()),
                            "anyOf": [reference(DIRECTIVE), { "type": ["string", "number", "boolean", "null"] }],
                        }),
                        FieldType::Object => json!({
                            "description": format!("{} {name} ({}).", field.label, ty.json_type()),
                            "anyOf": [reference(DIRECTIVE), raw_object(reference(MAPPING_VALUE)), { "type": "null" }],
                        }),
                    };
                    ((*name).to_owned(), member)
                })
                .collect();
            // Segment drops other members without a word; a typo here would be lost silently.
            json!({ "type": "object", "properties": members, "additionalProperties": false })
        }
    };
    let mut schema = json!({
        "description": description,
        // null at the top level of a mapping leaves the field unmapped.
        // The directive first: editors pick the first of equally good alternatives to
        // explain an error, and `{"@pth": …}` should read as a misspelled directive.
        "anyOf": [reference(DIRECTIVE), raw, { "type": "null" }],
    });
    if let (Some(default), Some(obj)) = (default, schema.as_object_mut()) {
        obj.insert("default".into(), default.clone());
    }
    schema
}

/// One object with every directive as an optional property, exactly one of them set,
/// plus mapping-kit's `_metadata` beside it: editors complete directive names and
/// describe each, and `{"@pth": …}` is flagged.
fn directive_schema() -> Value {
    let mut properties: Map<String, Value> = DIRECTIVES
        .iter()
        .map(|d| {
            let mut value = match d.takes {
                Takes::Value(check) => check_schema(check),
                Takes::Options(options) => {
                    let props: Map<String, Value> = options
                        .iter()
                        .map(|o| (o.name.to_owned(), described(check_schema(o.check), o.description)))
                        .collect();
                    let required: Vec<&str> = options.iter().filter(|o| o.required).map(|o| o.name).collect();
                    json!({
                        "type": "object",
                        "properties": props,
                        "required": required,
                        "additionalProperties": false,
                    })
                }
                Takes::PathAndShape => json!({
                    "type": "array",
                    "items": [
                        described(check_schema(Check::DirOrStr), "Where the array is: a path such as `$.properties.products`, or a directive."),
                        described(reference(MAPPING_VALUE), "The mapping applied to each item (paths start at the item)."),
                    ],
                    "minItems": 1,
                    "maxItems": 2,
                }),
            };
            value = described(value, d.description);
            (d.name.to_owned(), value)
        })
        .collect();
    properties.insert(
        METADATA_KEY.to_owned(),
        json!({ "description": "Notes kept beside the directive (Segment's UI stores them here); ignored." }),
    );
    json!({
        "description": "A mapping-kit directive (or our @jmespath): an object with exactly one of these keys \
                        (and optionally `_metadata`).",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        // One directive key, and `_metadata` only beside one.
        "if": { "required": [METADATA_KEY] },
        "then": { "minProperties": 2, "maxProperties": 2 },
        "else": { "minProperties": 1, "maxProperties": 1 },
    })
}

/// Adds a description; a lone `$ref` is wrapped first, since draft-07 ignores its siblings.
fn described(mut schema: Value, description: &str) -> Value {
    if schema.get("$ref").is_some() {
        schema = json!({ "allOf": [schema] });
    }
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("description".into(), json!(description));
    }
    schema
}

fn check_schema(check: Check) -> Value {
    match check {
        Check::DirOrRaw => reference(RAW_VALUE),
        Check::DirOrStr => json!({ "anyOf": [reference(DIRECTIVE), { "type": "string" }] }),
        Check::DirOrObj => json!({ "anyOf": [reference(DIRECTIVE), raw_object(reference(MAPPING_VALUE))] }),
        Check::Str => json!({ "type": "string" }),
        Check::StrLen(min, max) => json!({ "type": "string", "minLength": min, "maxLength": max }),
        Check::Bool => json!({ "type": "boolean" }),
        Check::ArrOf(item) => json!({ "type": "array", "items": check_schema(*item) }),
        Check::OneOf(allowed) => json!({ "type": "string", "enum": allowed }),
    }
}

/// The schema of test files: [`TestFile`].
pub fn test_case_schema() -> Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<TestFile>()
        .to_value();
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), json!("encharge-actions mapping tests"));
    }
    schema
}
