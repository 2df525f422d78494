//! What each directive takes, as one table: validation checks mappings against
//! it, and the JSON Schemas of the config describe directives from it, so
//! editors and `validate` cannot drift from what loading accepts.
//!
//! The checks are mapping-kit's: a [`Check`] says what a value may be, and
//! options objects (`@if`, `@replace`, …) list their options with theirs.

/// A directive: its name, what it does, and what it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectiveSpec {
    /// The key, e.g. `@path`.
    pub name: &'static str,
    /// What it does, for editors.
    pub description: &'static str,
    /// What its value must be.
    pub takes: Takes,
}

/// What a directive's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// One value, checked as given.
    Value(Check),
    /// An object of options (other keys are validated as mapping values, and ignored).
    Options(&'static [OptionSpec]),
    /// `@arrayPath`: `[path, shape]`, a path (string or directive) and an optional
    /// mapping applied to each item.
    PathAndShape,
}

/// One option of a directive that takes options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The key, e.g. `exists`.
    pub name: &'static str,
    /// What it means, for editors.
    pub description: &'static str,
    /// Whether validation fails without it.
    pub required: bool,
    /// What its value must be.
    pub check: Check,
}

/// What a value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A directive (validated) or any raw value (not looked into).
    DirOrRaw,
    /// A directive or a string.
    DirOrStr,
    /// A directive or an object (whose members are validated).
    DirOrObj,
    /// A string.
    Str,
    /// A string of `min` to `max` characters (JavaScript's UTF-16 length).
    StrLen(usize, usize),
    /// `true` or `false`.
    Bool,
    /// An array; its items are checked with the inner check, stopping at the first bad one.
    ArrOf(&'static Check),
    /// One of these strings, compared in lower case.
    OneOf(&'static [&'static str]),
}

const fn opt(name: &'static str, required: bool, check: Check, description: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        description,
        required,
        check,
    }
}

/// The key mapping-kit allows beside a directive's key (Segment's UI keeps notes
/// there); it is ignored.
pub const METADATA_KEY: &str = "_metadata";

/// Every directive we know: mapping-kit's, then ours (`@jmespath`).
pub const DIRECTIVES: &[DirectiveSpec] = &[
    DirectiveSpec {
        name: "@if",
        description: "A value chosen by a condition: `then` when the condition holds, else `else` (without \
                      `else`, the field is left out).",
        takes: Takes::Options(&[
            opt(
                "exists",
                false,
                Check::DirOrRaw,
                "The condition: holds when this resolves to a value other than null.",
            ),
            opt(
                "blank",
                false,
                Check::DirOrRaw,
                "The condition when there is no `exists`: holds when this resolves to a value other than null and \"\".",
            ),
            opt("then", false, Check::DirOrRaw, "The value when the condition holds."),
            opt(
                "else",
                false,
                Check::DirOrRaw,
                "The value when it does not. A falsy literal (0, \"\", false, null) is rejected: Segment ignores it.",
            ),
        ]),
    },
    DirectiveSpec {
        name: "@case",
        description: "Changes the case of a string.",
        takes: Takes::Options(&[
            opt("operator", false, Check::Str, "`lower` or `upper`."),
            opt("value", false, Check::DirOrStr, "The string to change."),
        ]),
    },
    DirectiveSpec {
        name: "@replace",
        description: "Replaces text in a string: the first match of `pattern`, or every one with `global: true`.",
        takes: Takes::Options(&[
            opt(
                "pattern",
                true,
                Check::StrLen(1, 10),
                "The text to find (1 to 10 characters), taken literally.",
            ),
            opt(
                "replacement",
                false,
                Check::StrLen(0, 10),
                "What to put instead (at most 10 characters; default \"\").",
            ),
            opt("value", true, Check::DirOrStr, "The string to replace in."),
            opt("ignorecase", false, Check::Bool, "Match regardless of case."),
            opt("global", false, Check::Bool, "Replace every match, not only the first."),
            opt(
                "pattern2",
                false,
                Check::DirOrRaw,
                "A second text to find, replaced after the first (at most 10 characters).",
            ),
            opt(
                "replacement2",
                false,
                Check::DirOrRaw,
                "What to put instead of `pattern2` (at most 10 characters).",
            ),
        ]),
    },
    DirectiveSpec {
        name: "@arrayPath",
        description: "Maps each item of an array: `[path, shape]`, where `path` (e.g. `$.properties.products`) \
                      finds the array and the optional `shape` is a mapping resolved against each item.",
        takes: Takes::PathAndShape,
    },
    DirectiveSpec {
        name: "@path",
        description: "The value at a JSONPath in the event, e.g. `$.traits.email`; nothing when it is missing.",
        takes: Takes::Value(Check::DirOrStr),
    },
    DirectiveSpec {
        name: "@template",
        description: "A string built from a Mustache-style template, e.g. `Hello {{traits.name}}`; missing values \
                      become \"\".",
        takes: Takes::Value(Check::DirOrStr),
    },
    DirectiveSpec {
        name: "@literal",
        description: "The value as written, without resolving directives inside raw objects.",
        takes: Takes::Value(Check::DirOrRaw),
    },
    DirectiveSpec {
        name: "@flatten",
        description: "Flattens nested objects into one level, joining keys with `separator`.",
        takes: Takes::Options(&[
            opt("separator", false, Check::Str, "What joins the keys (default \".\")."),
            opt("value", true, Check::DirOrRaw, "The object to flatten."),
            opt(
                "omitArrays",
                false,
                Check::DirOrRaw,
                "Keep arrays whole instead of flattening them with indexes.",
            ),
        ]),
    },
    DirectiveSpec {
        name: "@json",
        description: "Encodes a value as a JSON string, or decodes a JSON string.",
        takes: Takes::Options(&[
            opt(
                "value",
                true,
                Check::DirOrRaw,
                "The value to encode, or the string to decode.",
            ),
            opt(
                "mode",
                true,
                Check::OneOf(&["encode", "decode"]),
                "`encode` or `decode`.",
            ),
        ]),
    },
    DirectiveSpec {
        name: "@merge",
        description: "Merges objects into one; with `direction: right` (the default) later objects win.",
        takes: Takes::Options(&[
            opt(
                "direction",
                false,
                Check::OneOf(&["left", "right"]),
                "`right` (later objects win) or `left` (earlier ones win).",
            ),
            opt(
                "objects",
                true,
                Check::ArrOf(&Check::DirOrObj),
                "The objects to merge, each an object or a directive.",
            ),
        ]),
    },
    DirectiveSpec {
        name: "@transform",
        description: "Resolves `apply`, then resolves `mapping` against its result.",
        takes: Takes::Options(&[
            opt(
                "apply",
                true,
                Check::DirOrObj,
                "The mapping whose result the second one reads.",
            ),
            opt(
                "mapping",
                true,
                Check::DirOrObj,
                "The mapping resolved against that result.",
            ),
        ]),
    },
    DirectiveSpec {
        name: "@excludeWhenNull",
        description: "The value, or nothing (the key is left out) when it resolves to null.",
        takes: Takes::Value(Check::DirOrRaw),
    },
    DirectiveSpec {
        name: "@liquid",
        description: "A string rendered from a Liquid template, e.g. `{{ traits.name | upcase }}`.",
        takes: Takes::Value(Check::Str),
    },
    DirectiveSpec {
        name: "@jmespath",
        description: "Our extension: the result of a JMESPath expression against the event, e.g. \
                      `traits.email || context.traits.email`; nothing when it is null.",
        takes: Takes::Value(Check::Str),
    },
];

/// The directive called `name`.
pub fn directive(name: &str) -> Option<&'static DirectiveSpec> {
    DIRECTIVES.iter().find(|d| d.name == name)
}
