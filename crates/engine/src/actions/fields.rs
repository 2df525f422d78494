//! Field definitions of the seven actions, as Segment's destination declares them.
//!
//! The tables are `const` data: the JSON Schemas of the config, "did you mean"
//! suggestions and payload validation all read them, and nothing is built per
//! event. Descriptions are Segment's own, so editors show users the text they
//! know from Segment's UI. The fields shared by several actions (`commonFields`
//! in the reference) are defined once here; each action file lists its own.

use serde_json::{Map, Value, json};

/// The JSON type a field accepts (after Segment's type coercion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A string. Numbers and booleans are converted to strings, and a
    /// one-element array becomes its element, as Segment's validator does.
    String,
    /// A JSON object.
    Object,
}

impl FieldType {
    /// The JSON Schema `type` name: `"string"` or `"object"`.
    pub fn json_type(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Object => "object",
        }
    }
}

/// One field of an action's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The key in the mapping and in the payload, e.g. `userId`.
    pub name: &'static str,
    /// Segment's label, e.g. `User ID`.
    pub label: &'static str,
    /// Segment's description of the field.
    pub description: &'static str,
    /// The accepted type.
    pub ty: FieldType,
    /// Whether an event without this field fails validation.
    pub required: bool,
    /// Whether `null` is a valid value (no Encharge field allows it: a `null`
    /// is dropped before validation, like a missing value).
    pub allow_null: bool,
    /// Whether the string must be a date-time (`timestamp`).
    pub format_date_time: bool,
    /// The members of a structured object (`campaign`, `page`, `location`);
    /// empty for free-form objects and for strings. Other members are dropped.
    pub properties: &'static [(&'static str, FieldType)],
}

impl Field {
    /// An optional string field.
    const fn string(name: &'static str, label: &'static str, description: &'static str) -> Field {
        Field {
            name,
            label,
            description,
            ty: FieldType::String,
            required: false,
            allow_null: false,
            format_date_time: false,
            properties: &[],
        }
    }

    /// An optional free-form object field.
    const fn object(name: &'static str, label: &'static str, description: &'static str) -> Field {
        Field {
            ty: FieldType::Object,
            ..Field::string(name, label, description)
        }
    }

    /// The same field, required.
    const fn required(self) -> Field {
        Field { required: true, ..self }
    }
}

/// The field called `name`, if the table has one.
pub(super) fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name == name)
}

const STRING_MEMBERS_CAMPAIGN: &[(&str, FieldType)] = &[
    ("name", FieldType::String),
    ("source", FieldType::String),
    ("medium", FieldType::String),
    ("term", FieldType::String),
    ("content", FieldType::String),
];
const STRING_MEMBERS_PAGE: &[(&str, FieldType)] = &[
    ("url", FieldType::String),
    ("title", FieldType::String),
    ("referrer", FieldType::String),
    ("path", FieldType::String),
    ("search", FieldType::String),
];
const STRING_MEMBERS_LOCATION: &[(&str, FieldType)] = &[
    ("city", FieldType::String),
    ("region", FieldType::String),
    ("country", FieldType::String),
];

/// `type` (common): the Segment event type.
pub(super) const TYPE: Field = Field::string("type", "Type", "The type of event.").required();
/// `email` (common).
pub(super) const EMAIL: Field = Field::string("email", "Email", "The email address of the user.");
/// `segmentAnonymousId` (common).
pub(super) const SEGMENT_ANONYMOUS_ID: Field = Field::string(
    "segmentAnonymousId",
    "Anonymous ID",
    "An anonymous identifier for this user.",
);
/// `userId` (common).
pub(super) const USER_ID: Field =
    Field::string("userId", "User ID", "The User ID associated with the user in Encharge.");
/// `groupId` (common).
pub(super) const GROUP_ID: Field = Field::string("groupId", "Group ID", "An ID associating the event with a group.");
/// `timestamp` (common): must be a date-time.
pub(super) const TIMESTAMP: Field = Field {
    format_date_time: true,
    ..Field::string("timestamp", "Timestamp", "The timestamp of the event")
};
/// `messageId` (common).
pub(super) const MESSAGE_ID: Field = Field::string("messageId", "MessageId", "The Segment messageId");
/// `ip` (common).
pub(super) const IP: Field = Field::string("ip", "IP Address", "The IP address of the user.");
/// `userAgent` (common).
pub(super) const USER_AGENT: Field = Field::string(
    "userAgent",
    "User Agent",
    "The user agent of the user. Used to determine the device, browser and operating system.",
);
/// `campaign` (common): UTM members.
pub(super) const CAMPAIGN: Field = Field {
    properties: STRING_MEMBERS_CAMPAIGN,
    ..Field::object("campaign", "Campaign", "UTM campaign information.")
};
/// `page` (common).
pub(super) const PAGE: Field = Field {
    properties: STRING_MEMBERS_PAGE,
    ..Field::object("page", "Page", "Information about the page where the event occurred.")
};
/// `location` (common).
pub(super) const LOCATION: Field = Field {
    properties: STRING_MEMBERS_LOCATION,
    ..Field::object("location", "Location", "Information about the location of the user.")
};
/// `userFields` (track and page).
pub(super) const USER_FIELDS: Field = Field::object(
    "userFields",
    "User Fields",
    "Any default or custom field of the user. On the left-hand side, input the API name of the field as seen in \
     your Encharge account. On the right-hand side, map the Segment field that contains the value. Any properties \
     that don't exist will be created automatically. See more information in [Encharge's \
     documentation](https://help.encharge.io/article/206-create-and-manage-custom-fields).",
);
/// `properties` (track).
pub(super) const PROPERTIES: Field = Field::object("properties", "Event Properties", "The properties of the event.");

/// The fields that the ingest API reads from `context` (the reference moves them there).
pub(super) const CONTEXT_FIELDS: [&str; 6] = ["ip", "userAgent", "campaign", "page", "location", "groupId"];

/// `{"@path": path}`.
pub(super) fn path(p: &str) -> Value {
    json!({ "@path": p })
}

/// Segment's `@if` default for an e-mail: the first path if it exists, else the second.
pub(super) fn email_if(first: &str, second: &str) -> Value {
    json!({ "@if": { "exists": path(first), "then": path(first), "else": path(second) } })
}

/// The default mapping of the common context fields, `groupId` through `location`,
/// appended to `mapping` in the reference's order.
pub(super) fn push_common_defaults(mapping: &mut Map<String, Value>) {
    let object = |members: &[(&str, FieldType)], base: &str| -> Value {
        Value::Object(
            members
                .iter()
                .map(|(m, _)| ((*m).to_owned(), path(&format!("{base}.{m}"))))
                .collect(),
        )
    };
    let entries = [
        ("segmentAnonymousId", path("$.anonymousId")),
        ("userId", path("$.userId")),
        ("groupId", path("$.context.groupId")),
        ("timestamp", path("$.timestamp")),
        ("messageId", path("$.messageId")),
        ("ip", path("$.context.ip")),
        ("userAgent", path("$.context.userAgent")),
        ("campaign", object(STRING_MEMBERS_CAMPAIGN, "$.context.campaign")),
        ("page", object(STRING_MEMBERS_PAGE, "$.context.page")),
        ("location", object(STRING_MEMBERS_LOCATION, "$.context.location")),
    ];
    for (k, v) in entries {
        mapping.insert(k.to_owned(), v);
    }
}
