//! The committed `schemas/` against the code, and the schemas against their promises:
//! every property described, valid draft-07, and in step with the engine's loading.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use encharge_engine::config::{ErrorKind, LoadOptions, Severity};
use serde_json::Value;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

const REGENERATE: &str = "cargo run -p encharge-runner -- schema --out schemas/";

/// `schemas/` must be what the code generates; `BLESS=1` rewrites it instead.
#[test]
fn schemas_are_fresh() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut stale = Vec::new();
    for (name, generated) in encharge_schema::generate() {
        let path = schemas_dir().join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == generated {
            continue;
        }
        if bless {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let diff = similar::TextDiff::from_lines(&committed, &generated)
            .unified_diff()
            .context_radius(2)
            .header(
                &format!("schemas/{name} (committed)"),
                &format!("schemas/{name} (generated)"),
            )
            .to_string();
        stale.push(diff);
    }
    assert!(
        stale.is_empty(),
        "schemas/ is stale: the config types changed. Run\n\n    {REGENERATE}\n\n\
         (or BLESS=1 cargo test -p encharge-schema --test schemas) and commit the result.\n\n{}",
        stale.join("\n")
    );
}

/// Editors show descriptions on hover and in completion: every property has one,
/// on itself or on the definition it refers to.
#[test]
fn every_property_has_a_description() {
    for (name, schema) in [
        (encharge_schema::DESTINATION, encharge_schema::destination_schema()),
        (encharge_schema::TEST_CASE, encharge_schema::test_case_schema()),
    ] {
        let mut missing = Vec::new();
        let mut count = 0;
        walk(&schema, &schema, "", &mut missing, &mut count);
        assert!(count > 10, "{name}: only {count} properties found; is the walk broken?");
        assert!(
            missing.is_empty(),
            "{name}: properties without a description:\n{}",
            missing.join("\n")
        );
    }
}

fn walk(root: &Value, node: &Value, at: &str, missing: &mut Vec<String>, count: &mut usize) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                for (key, prop) in props {
                    *count += 1;
                    if !described(root, prop) {
                        missing.push(format!("{at}/properties/{key}"));
                    }
                }
            }
            for (k, v) in map {
                match (k.as_str(), v) {
                    // An `if` only selects a branch; editors show nothing of it.
                    ("if", _) => {}
                    // Maps of name → schema: the names are no keywords.
                    ("properties" | "definitions", Value::Object(schemas)) => {
                        for (name, schema) in schemas {
                            walk(root, schema, &format!("{at}/{k}/{name}"), missing, count);
                        }
                    }
                    _ => walk(root, v, &format!("{at}/{k}"), missing, count),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(root, v, &format!("{at}/{i}"), missing, count);
            }
        }
        _ => {}
    }
}

fn described(root: &Value, schema: &Value) -> bool {
    if schema
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.trim().is_empty())
    {
        return true;
    }
    let target = schema
        .get("$ref")
        .or_else(|| schema.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p));
    target.is_some_and(|t| described(root, t))
}

#[test]
fn schemas_are_valid_draft_07() {
    for (name, schema) in [
        (encharge_schema::DESTINATION, encharge_schema::destination_schema()),
        (encharge_schema::TEST_CASE, encharge_schema::test_case_schema()),
    ] {
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#", "{name}");
        jsonschema::draft7::meta::validate(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

fn check(text: &str) -> Vec<encharge_engine::config::Diagnostic> {
    let files = vec![("c.yaml".to_owned(), text.to_owned())];
    let env = |_: &str| None;
    let options = LoadOptions {
        env: &env,
        require_api_key: false,
        require_write_keys: false,
    };
    match encharge_schema::check(&files, &options) {
        Ok(loaded) => loaded.warnings,
        Err(problems) => problems,
    }
}

const HEAD: &str = "version: 1\nsubscriptions:\n  - name: S\n    trigger: 'type = \"identify\"'\n";

/// Problems the engine reports are not reported again by the schema, and what only
/// the schema sees (types of raw values, unknown directive options, members of
/// structured fields) is reported at its own line and column, with a suggestion.
#[test]
fn one_report_per_problem_at_its_place() {
    /// Line, column, and a part of the message.
    type Want<'a> = &'a [(u32, u32, &'a str)];
    let cases: &[(&str, Want<'_>)] = &[
        // Both see an unknown key: the engine's words, once.
        (
            "    triger: x\n    action: addTag\n",
            &[(5, 5, "unknown key `triger` (did you mean `trigger`?)")],
        ),
        (
            "    action: addTg\n",
            &[(5, 13, "unknown action `addTg` (did you mean `addTag`?)")],
        ),
        (
            "    action: addTag\n    mapping:\n      tag: t\n      emial: x\n",
            &[(8, 7, "addTag has no field `emial` (did you mean `email`?)")],
        ),
        (
            "    action: addTag\n    mapping:\n      tag: { \"@pth\": \"$.x\" }\n",
            &[(7, 12, "unknown directive \"@pth\" (did you mean \"@path\"?)")],
        ),
        // Only the schema sees these.
        (
            "    action: addTag\n    mapping:\n      tag:\n        \"@if\": { exists: 1, then: a, els: b }\n",
            &[(8, 38, "unknown key `els` (did you mean `else`?)")],
        ),
        (
            "    action: identifyUser\n    mapping:\n      page: { titel: { \"@path\": \"$.name\" } }\n",
            &[(7, 15, "unknown key `titel` (did you mean `title`?)")],
        ),
        (
            "    action: trackEvent\n    mapping:\n      properties: [1, 2]\n",
            &[(7, 19, "should be an object, a directive or null, but it is an array")],
        ),
        // The engine stops at the first value of a wrong type; the schema finds the others.
        (
            "    action: addTag\n    enabled: 1\n    use_defaults: maybe\n",
            &[
                (6, 14, "invalid type: integer `1`, expected a boolean"),
                (7, 19, "should be true or false, but it is a string"),
            ],
        ),
    ];
    for (tail, want) in cases {
        let text = format!("{HEAD}{tail}");
        let got: Vec<(u32, u32, String)> = check(&text)
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| (d.pos.line, d.pos.column, d.to_string()))
            .collect();
        assert_eq!(got.len(), want.len(), "{text}\n{got:#?}");
        for ((line, column, message), (wl, wc, wm)) in got.iter().zip(want.iter()) {
            assert_eq!((line, column), (wl, wc), "{text}\n{message}");
            assert!(message.contains(wm), "{text}\n{message}\nshould contain {wm}");
        }
    }
}

/// mapping-kit allows `_metadata` beside a directive's key and ignores it; it is
/// still no directive of its own.
#[test]
fn metadata_beside_a_directive() {
    let errors = |tail: &str| -> Vec<String> {
        check(&format!("{HEAD}    action: addTag\n    mapping:\n{tail}"))
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect()
    };
    for ok in [
        "      tag: { \"@path\": \"$.event\", _metadata: { label: Tag } }\n",
        "      tag: { _metadata: note, \"@template\": \"{{event}}\" }\n",
        "      tag: { \"@if\": { exists: { \"@path\": \"$.x\", _metadata: 1 }, then: a, else: b } }\n",
    ] {
        assert_eq!(errors(ok), Vec::<String>::new(), "{ok}");
    }
    let two = errors("      tag: { \"@path\": \"$.event\", \"@template\": x, _metadata: 1 }\n");
    assert_eq!(two.len(), 1, "{two:#?}");
    assert!(two[0].contains("has 2 directives"), "{two:#?}");
    let alone = errors("      tag: { _metadata: 1 }\n");
    assert_eq!(alone.len(), 1, "{alone:#?}");
    assert!(alone[0].contains("but it is an object"), "{alone:#?}");
}

#[test]
fn test_files_are_checked_against_their_schema() {
    let text = "config: c.yaml\ncases:\n  - name: a\n    event: { type: track }\n    expect:\n      - subscription: S\n        action: trackEvent\n        methd: POST\n";
    let problems = encharge_schema::check_test_file("t.yaml", text).err().unwrap();
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("t.yaml:8:9: error:") && l.contains("methd")),
        "{lines:#?}"
    );
    // One key too many in an expected request is that one problem, not "an expected error
    // without `error`" and every other key unknown.
    let text = "config: c.yaml\ncases:\n  - name: a\n    event: { type: track }\n    expect:\n      - subscription: S\n        action: trackEvent\n        method: POST\n        url: https://x\n        body: {}\n        extra: 1\n";
    let problems = encharge_schema::check_test_file("t.yaml", text).err().unwrap();
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("t.yaml:11:9: error:") && lines[0].contains("unknown key `extra`"),
        "{lines:#?}"
    );
    let (file, _) = encharge_schema::check_test_file("t.yaml", "config: c.yaml\ncases: []\n").unwrap();
    assert!(file.cases.is_empty());
    let empty = encharge_schema::check_test_file("t.yaml", "").err().unwrap();
    assert_eq!(empty[0].kind, ErrorKind::Empty);
}

#[test]
fn a_config_nested_as_deep_as_the_parser_allows_is_checked_on_a_small_stack() {
    // Tests run on 2 MiB threads, as the server's workers do. 29 `@if`s inside each
    // other's `else` are 60 levels of nesting, just under the parser's 64.
    let mut text = String::from(
        "version: 1\nsubscriptions:\n  - name: A\n    trigger: 'type = \"track\"'\n    action: addTag\n    mapping:\n      tag: x\n      email:\n",
    );
    let levels = 29;
    for depth in 0..levels {
        let pad = "  ".repeat(depth * 2 + 4);
        text.push_str(&format!(
            "{pad}\"@if\":\n{pad}  exists: {{ \"@path\": \"$.a\" }}\n{pad}  then: x\n{pad}  else:\n"
        ));
    }
    text.push_str(&format!("{}a@example.com\n", "  ".repeat(levels * 2 + 4)));
    let files = vec![("c.yaml".to_owned(), text)];
    let options = encharge_engine::config::LoadOptions {
        env: &|_| None,
        require_api_key: false,
        require_write_keys: false,
    };
    let loaded = encharge_schema::check(&files, &options);
    assert!(loaded.is_ok(), "{:#?}", loaded.err());
}
