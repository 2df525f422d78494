//! Payload cleaning and validation, as Segment runs them between the mapping
//! and the action's `perform`.
//!
//! Segment first removes empty values (actions-core `removeEmptyValues`), then
//! validates the payload against the fields' JSON Schema with ajv, configured
//! with `coerceTypes: "array"` and `removeAdditional`. Both change the payload
//! that is sent, so they are reproduced step for step:
//!
//! - a root member that is `null` or `""` is dropped, so a required one is then
//!   missing; inside `campaign`/`page`/`location` `null` members are dropped and
//!   `""` is kept; free objects (`properties`, `userFields`, `user`,
//!   `objectData`) are kept as they are;
//! - members that are not fields are dropped silently, at the root and inside
//!   `campaign`/`page`/`location`;
//! - a number or boolean given for a string field becomes a string, a
//!   one-element array becomes its element (`[null]` becomes `""`), anything
//!   else fails;
//! - `timestamp` must pass ajv-formats' `date-time` check (see [`is_date_time`]).
//!
//! Validation runs in one pass over the payload, which it borrows: the cleaned
//! payload ([`Payload`]) points into the mapping's result, and only numbers and
//! booleans turned into strings are new.

use std::borrow::Cow;

use serde_json::Value;

use super::fields::{Field, FieldType};
use crate::js;
use crate::mapping::Mapped;

/// A payload that cannot be sent: reported with the subscription, never sent, never retried.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError {
    /// The payload field at fault (`timestamp`, `campaign.name`), if one is.
    pub field: Option<String>,
    /// What went wrong, for code that reacts to it.
    pub kind: ValidationErrorKind,
    /// What went wrong, in words for the user; [`Display`](std::fmt::Display) prefixes the field.
    pub message: String,
}

/// The kinds of [`ValidationError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationErrorKind {
    /// A required field has no value: trackEvent with `event: {"@path": "$.event"}`
    /// on an event without `event`, or with `event: ""` (root `""` and `null` count as missing).
    MissingField,
    /// A value of the wrong type: `properties: "text"`, `userId: ["a", "b"]`.
    WrongType,
    /// `timestamp` is not a date-time: `"2024-03-05"`, `1709632800`.
    InvalidDateTime,
    /// A tag action without `email`, `userId` or `segmentAnonymousId`.
    NoIdentifier,
    /// The mapping produced no object: a mapping `{"@path": "$.missing"}` at the root.
    NotAnObject,
    /// The event has `"context": null`, which makes Segment fail the event (it
    /// crashes reading `context.personas`), so the event is not sent.
    ContextNull,
}

impl ValidationError {
    pub(super) fn new(field: Option<&str>, kind: ValidationErrorKind, message: String) -> ValidationError {
        ValidationError {
            field: field.map(str::to_owned),
            kind,
            message,
        }
    }

    fn missing(field: &str) -> ValidationError {
        ValidationError::new(
            Some(field),
            ValidationErrorKind::MissingField,
            "is required, but the mapping gave no value (null and \"\" count as missing)".to_owned(),
        )
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field {field:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ValidationError {}

/// A member of the mapped payload, borrowed from the mapping's result: a value the
/// mapping built ([`Mapped::Arr`], [`Mapped::Obj`]) or JSON it took or computed.
#[derive(Debug, Clone, Copy)]
pub(super) enum View<'p> {
    /// An object or array built by the mapping (never [`Mapped::Ref`] or [`Mapped::Val`]).
    Mapped(&'p Mapped<'p>),
    /// A JSON value.
    Json(&'p Value),
}

impl<'p> View<'p> {
    pub(super) fn of(m: &'p Mapped<'p>) -> View<'p> {
        match m {
            Mapped::Ref(v) => View::Json(v),
            Mapped::Val(v) => View::Json(v),
            other => View::Mapped(other),
        }
    }

    fn is_null(self) -> bool {
        matches!(self, View::Json(Value::Null))
    }

    fn as_str(self) -> Option<&'p str> {
        match self {
            View::Json(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The members of an object, in order, without `undefined` ones; `None` for anything else.
    pub(super) fn members(self) -> Option<Members<'p>> {
        match self {
            View::Mapped(Mapped::Obj(members)) => Some(Members::Mapped(members.iter())),
            View::Json(Value::Object(map)) => Some(Members::Json(map.iter())),
            _ => None,
        }
    }

    /// The only element of a one-element array.
    fn single(self) -> Option<View<'p>> {
        match self {
            View::Mapped(Mapped::Arr(items)) if items.len() == 1 => items.first().map(View::of),
            View::Json(Value::Array(items)) if items.len() == 1 => items.first().map(View::Json),
            _ => None,
        }
    }

    /// The value as JSON, for messages (`undefined` array elements become `null`).
    fn to_json(self) -> Value {
        match self {
            View::Mapped(m) => m.clone().into_value().unwrap_or(Value::Null),
            View::Json(v) => v.clone(),
        }
    }
}

impl serde::Serialize for View<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            View::Mapped(m) => m.serialize(serializer),
            View::Json(v) => v.serialize(serializer),
        }
    }
}

/// The members of an object [`View`].
#[derive(Clone)]
pub(super) enum Members<'p> {
    Mapped(std::slice::Iter<'p, (Cow<'p, str>, Mapped<'p>)>),
    Json(serde_json::map::Iter<'p>),
}

impl<'p> Iterator for Members<'p> {
    type Item = (&'p str, View<'p>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Members::Mapped(it) => it
                .find(|(_, v)| !v.is_undefined())
                .map(|(k, v)| (k.as_ref(), View::of(v))),
            Members::Json(it) => it.next().map(|(k, v)| (k.as_str(), View::Json(v))),
        }
    }
}

/// A field's value after cleaning and coercion, still borrowed from the mapped payload.
#[derive(Debug, Clone)]
pub(super) enum Clean<'p> {
    /// A string field, coerced.
    Str(Cow<'p, str>),
    /// An object sent as mapped (`properties`, `userFields`, ...).
    Raw(View<'p>),
    /// A structured object (`campaign`, `page`, `location`): its known, non-null members.
    Members(Vec<(&'static str, Clean<'p>)>),
}

impl<'p> Clean<'p> {
    /// The string, for a string field.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Clean::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The members of a free object.
    pub(super) fn members(&self) -> Option<Members<'p>> {
        match self {
            Clean::Raw(v) => v.members(),
            _ => None,
        }
    }
}

impl serde::Serialize for Clean<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Clean::Str(s) => serializer.serialize_str(s),
            Clean::Raw(v) => v.serialize(serializer),
            Clean::Members(members) => serializer.collect_map(members.iter().map(|(k, v)| (k, v))),
        }
    }
}

/// A validated payload, as Segment's `perform` receives it: fields in the order the
/// mapping gave them, each at most once.
#[derive(Debug, Clone, Default)]
pub(super) struct Payload<'p> {
    fields: Vec<(&'static str, Clean<'p>)>,
}

impl<'p> Payload<'p> {
    /// The field called `name`, if it is set.
    pub(super) fn get(&self, name: &str) -> Option<&Clean<'p>> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The fields, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&'static str, &Clean<'p>)> {
        self.fields.iter().map(|(k, v)| (*k, v))
    }

    /// Lodash's `pick(payload, keys)`: the fields among `keys` that are set, in the order of `keys`.
    pub(super) fn pick<'b>(&'b self, keys: &'b [&'static str]) -> Pick<'b, 'p> {
        Pick { payload: self, keys }
    }
}

/// A few fields of a payload, serialized as an object: see [`Payload::pick`].
pub(super) struct Pick<'b, 'p> {
    payload: &'b Payload<'p>,
    keys: &'b [&'static str],
}

impl serde::Serialize for Pick<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.keys
                .iter()
                .filter_map(|key| self.payload.get(key).map(|value| (key, value))),
        )
    }
}

/// Serializes as the payload object.
impl serde::Serialize for Payload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// Cleans and validates a mapped payload ([`Mapped::Undef`]: the mapping gave
/// undefined) against `fields`, returning the payload as Segment's `perform`
/// receives it. Nothing is copied from the payload but numbers turned into strings.
///
/// Errors are reported in payload order, then missing required fields in field order.
pub(super) fn validate<'p>(fields: &'static [Field], payload: &'p Mapped<'p>) -> Result<Payload<'p>, ValidationError> {
    let root = View::of(payload);
    let Some(members) = root.members() else {
        let got = match payload {
            Mapped::Undef => "nothing".to_owned(),
            _ => describe(&root.to_json()),
        };
        return Err(ValidationError::new(
            None,
            ValidationErrorKind::NotAnObject,
            format!("the mapping must produce an object of fields, got {got}"),
        ));
    };
    let mut first_error = None;
    let mut out = Vec::with_capacity(fields.len());
    // Fields present after cleaning, as bits by index in `fields` (an action has at most 15).
    let mut present = 0u64;
    // Mappings mostly list the fields in the table's order (the defaults do), so the
    // search starts after the last field found.
    let mut next = 0;
    for (key, value) in members {
        // Unknown keys: ajv's `removeAdditional`.
        let Some(i) = (next..fields.len()).chain(0..next).find(|&i| fields[i].name == key) else {
            continue;
        };
        next = i + 1;
        // `removeEmptyValues` at the root: `null` and `""` are as good as absent.
        if value.is_null() || value.as_str() == Some("") {
            continue;
        }
        match check_field(&fields[i], value) {
            Ok(clean) => out.push((fields[i].name, clean)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        present |= 1 << i;
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    match fields
        .iter()
        .enumerate()
        .find(|(i, f)| f.required && present & (1 << i) == 0)
    {
        Some((_, missing)) => Err(ValidationError::missing(missing.name)),
        None => Ok(Payload { fields: out }),
    }
}

fn check_field<'p>(field: &Field, value: View<'p>) -> Result<Clean<'p>, ValidationError> {
    match field.ty {
        FieldType::String if field.format_date_time => {
            let s = coerce_string(value).map_err(|()| wrong_type(field.name, FieldType::String, value))?;
            if is_date_time(&s) {
                Ok(Clean::Str(s))
            } else {
                Err(ValidationError::new(
                    Some(field.name),
                    ValidationErrorKind::InvalidDateTime,
                    format!(
                        "must be a date-time string like 2024-03-05T10:00:00Z, got {}",
                        preview(&value.to_json())
                    ),
                ))
            }
        }
        FieldType::String => coerce_string(value)
            .map(Clean::Str)
            .map_err(|()| wrong_type(field.name, FieldType::String, value)),
        FieldType::Object => {
            let Some(members) = value.members() else {
                return Err(wrong_type(field.name, FieldType::Object, value));
            };
            if field.properties.is_empty() {
                // Free objects (`properties`, `userFields`, ...) are sent as mapped.
                return Ok(Clean::Raw(value));
            }
            let mut kept = Vec::new();
            for (key, member) in members {
                let Some((name, ty)) = field.properties.iter().find(|(name, _)| *name == key) else {
                    continue;
                };
                // `removeEmptyValues` below the root drops `null` but keeps `""`.
                if member.is_null() {
                    continue;
                }
                let checked = match ty {
                    FieldType::String => coerce_string(member).map(Clean::Str),
                    FieldType::Object => member.members().map(|_| Clean::Raw(member)).ok_or(()),
                };
                match checked {
                    Ok(clean) => kept.push((*name, clean)),
                    Err(()) => return Err(wrong_type(&format!("{}.{key}", field.name), *ty, member)),
                }
            }
            Ok(Clean::Members(kept))
        }
    }
}

/// ajv's `coerceTypes: "array"` towards `string`: numbers and booleans print as
/// JavaScript does, `null` (reachable only as `[null]`) becomes `""`, and a
/// one-element array is replaced by its element first.
fn coerce_string(value: View<'_>) -> Result<Cow<'_, str>, ()> {
    let scalar = value.single().unwrap_or(value);
    match scalar {
        View::Json(Value::String(s)) => Ok(Cow::Borrowed(s)),
        View::Json(Value::Number(n)) => Ok(Cow::Owned(js::number_to_string(n))),
        View::Json(Value::Bool(b)) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        // An `undefined` array element is `null` in the mapping's output.
        View::Json(Value::Null) | View::Mapped(Mapped::Undef) => Ok(Cow::Borrowed("")),
        _ => Err(()),
    }
}

fn wrong_type(field: &str, want: FieldType, got: View<'_>) -> ValidationError {
    let want = match want {
        FieldType::String => "a string",
        FieldType::Object => "an object",
    };
    ValidationError::new(
        Some(field),
        ValidationErrorKind::WrongType,
        format!("must be {want}, got {}", describe(&got.to_json())),
    )
}

/// `an array ([1,2])`, `a string ("abc")`: the type, then a short preview of the value.
fn describe(v: &Value) -> String {
    let ty = match v {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{ty} ({})", preview(v))
}

/// The value as JSON, cut to a length that fits an error line.
fn preview(v: &Value) -> String {
    const MAX: usize = 60;
    let text = v.to_string();
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

/// ajv-formats 2.1.1 `date-time` (the "full" format), which Segment applies to `timestamp`.
///
/// The string is split on `t`, `T` or JavaScript whitespace into exactly two
/// parts: a `YYYY-MM-DD` date (a real calendar day) and a time
/// `hh:mm:ss(.fraction)?(zone)?` with the zone `Z`, `±hh`, `±hhmm` or `±hh:mm`.
/// The zone is optional, although the check is meant to require one: ajv-formats
/// compares the missing zone with `""` instead of `undefined`. Zone digits are
/// not range-checked, and `23:59:60` is allowed as a leap second.
pub fn is_date_time(s: &str) -> bool {
    // A valid date is 10 ASCII bytes without a separator, and a valid time has no
    // separator either, so "exactly two parts" is: a date, one separator, a time.
    let (Some(date), Some(rest)) = (s.get(..10), s.get(10..)) else {
        return false;
    };
    let mut time = rest.chars();
    match time.next() {
        Some(c) if c == 't' || c == 'T' || is_js_whitespace(c) => {
            is_date(date.as_bytes()) && is_time(time.as_str().as_bytes())
        }
        _ => false,
    }
}

/// JavaScript's regular-expression `\s`: unlike [`char::is_whitespace`] it
/// includes U+FEFF and excludes U+0085.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// Two or four ASCII digits as a number.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter()
        .try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
}

fn is_date(b: &[u8]) -> bool {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (digits(&[y0, y1, y2, y3]), digits(&[m0, m1]), digits(&[d0, d1])) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_time(b: &[u8]) -> bool {
    let [h0, h1, b':', m0, m1, b':', s0, s1, ref rest @ ..] = *b else {
        return false;
    };
    let (Some(hour), Some(minute), Some(second)) = (digits(&[h0, h1]), digits(&[m0, m1]), digits(&[s0, s1])) else {
        return false;
    };
    let mut rest = rest;
    if let [b'.', frac @ ..] = rest {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let zone_ok = match rest {
        [] | [b'z' | b'Z'] => true,
        [b'+' | b'-', z0, z1, tail @ ..] => {
            digits(&[*z0, *z1]).is_some()
                && match tail {
                    [] => true,
                    [b':', a, b] | [a, b] => digits(&[*a, *b]).is_some(),
                    _ => false,
                }
        }
        _ => false,
    };
    zone_ok && ((hour <= 23 && minute <= 59 && second <= 59) || (hour == 23 && minute == 59 && second == 60))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::fields::{CAMPAIGN, EMAIL, PROPERTIES, TIMESTAMP, TYPE};

    const FIELDS: &[Field] = &[TYPE, EMAIL, TIMESTAMP, PROPERTIES, CAMPAIGN];

    /// The cleaned payload as JSON.
    fn validate_json(payload: Option<Value>) -> Result<Value, ValidationError> {
        let mapped = payload.map_or(Mapped::Undef, Mapped::Val);
        validate(FIELDS, &mapped).map(|p| serde_json::to_value(&p).unwrap())
    }

    #[test]
    fn date_times_as_ajv_formats() {
        for (s, ok) in [
            ("2024-03-05T10:00:00Z", true),
            ("2024-03-05T10:00:00.123456789Z", true),
            ("2024-03-05t10:00:00z", true),
            ("2024-03-05 10:00:00+0100", true),
            ("2024-03-05\u{a0}10:00:00+01", true),
            ("2024-03-05\u{feff}10:00:00-01:30", true),
            ("2024-03-05T10:00:00", true), // zone optional (ajv-formats bug)
            ("2024-03-05T10:00:00+99:99", true),
            ("2024-02-29T23:59:60Z", true),
            ("2023-02-29T10:00:00Z", false),
            ("2024-03-05T10:00:60Z", false),
            ("2024-03-05T24:00:00Z", false),
            ("2024-13-05T10:00:00Z", false),
            ("2024-03-00T10:00:00Z", false),
            ("2024-04-31T10:00:00Z", false),
            ("2024-03-05", false),
            ("1709632800", false),
            ("2021-10-16T16:00:27.029:Z", false),
            ("2024-03-05T10:00:00.Z", false),
            ("2024-03-05T10:00Z", false),
            ("2024-03-05T10:00:00+1", false),
            ("2024-03-05T10:00:00+01:0", false),
            ("2024-03-05T10:00:00+01:00:00", false),
            ("2024-03-05  10:00:00Z", false),
            ("2024-03-05\u{85}10:00:00Z", false),
            ("2024-03-05T10:00:00ZT", false),
            ("２０２４-03-05T10:00:00Z", false),
            ("2024-03-05\u{200b}10:00:00Z", false),
            ("2024-03-05\u{3000}10:00:00Z", true),
            ("1900-02-29T10:00:00Z", false),
            ("2000-02-29T10:00:00Z", true),
            ("2024-03-05T23:59:60+01:00", true),
            ("0000-01-01T00:00:00Z", true),
            ("2024-03-05T10:00:00-00", true),
            ("", false),
        ] {
            assert_eq!(is_date_time(s), ok, "{s:?}");
        }
    }

    #[test]
    fn cleaning_and_coercion() {
        for (payload, want) in [
            // Root `""` and `null` are dropped; unknown keys too.
            (
                json!({"type": "t", "email": "", "foo": 1, "timestamp": null}),
                json!({"type": "t"}),
            ),
            // Numbers and booleans become strings; one-element arrays their element.
            (
                json!({"type": 5, "email": [true]}),
                json!({"type": "5", "email": "true"}),
            ),
            (
                json!({"type": 1.5, "email": [null]}),
                json!({"type": "1.5", "email": ""}),
            ),
            (
                json!({"type": ["t"], "email": 1e21}),
                json!({"type": "t", "email": "1e+21"}),
            ),
            // Inside campaign: null and unknown members dropped, "" kept, members coerced.
            (
                json!({"type": "t", "campaign": {"name": null, "source": "", "x": 1, "term": [2]}}),
                json!({"type": "t", "campaign": {"source": "", "term": "2"}}),
            ),
            // Free objects are kept as mapped.
            (
                json!({"type": "t", "properties": {"a": null, "b": ""}}),
                json!({"type": "t", "properties": {"a": null, "b": ""}}),
            ),
            (json!({"type": "t", "properties": ""}), json!({"type": "t"})),
        ] {
            assert_eq!(validate_json(Some(payload.clone())), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        use ValidationErrorKind::*;
        for (payload, kind, field) in [
            (None, NotAnObject, None),
            (Some(json!(null)), NotAnObject, None),
            (Some(json!(["a"])), NotAnObject, None),
            (Some(json!({})), MissingField, Some("type")),
            (Some(json!({"type": ""})), MissingField, Some("type")),
            (Some(json!({"type": ["a", "b"]})), WrongType, Some("type")),
            (Some(json!({"type": []})), WrongType, Some("type")),
            (Some(json!({"type": [["a"]]})), WrongType, Some("type")),
            (Some(json!({"type": {}})), WrongType, Some("type")),
            (
                Some(json!({"type": "t", "properties": [{}]})),
                WrongType,
                Some("properties"),
            ),
            (
                Some(json!({"type": "t", "properties": 1})),
                WrongType,
                Some("properties"),
            ),
            (Some(json!({"type": "t", "campaign": "x"})), WrongType, Some("campaign")),
            (
                Some(json!({"type": "t", "campaign": {"name": {}}})),
                WrongType,
                Some("campaign.name"),
            ),
            (
                Some(json!({"type": "t", "timestamp": "2024-03-05"})),
                InvalidDateTime,
                Some("timestamp"),
            ),
            (
                Some(json!({"type": "t", "timestamp": 1709632800})),
                InvalidDateTime,
                Some("timestamp"),
            ),
            (
                Some(json!({"type": "t", "timestamp": {}})),
                WrongType,
                Some("timestamp"),
            ),
        ] {
            let err = validate_json(payload.clone()).err();
            assert_eq!(
                err.as_ref().map(|e| (e.kind, e.field.as_deref())),
                Some((kind, field)),
                "{payload:?}"
            );
        }
    }

    #[test]
    fn messages_name_the_field_and_the_value() {
        let err = validate_json(Some(json!({"type": "t", "timestamp": "2024-03-05"}))).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(r#"field "timestamp": must be a date-time string like 2024-03-05T10:00:00Z, got "2024-03-05""#)
        );
        let err = validate_json(Some(json!({"type": [[1]]}))).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(r#"field "type": must be a string, got an array ([[1]])"#)
        );
        let err = validate_json(Some(json!({"email": "a"}))).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(r#"field "type": is required, but the mapping gave no value (null and "" count as missing)"#)
        );
    }
}
