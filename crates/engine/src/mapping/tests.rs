//! Table tests of the interpreter, directive by directive.

use serde_json::{Value, json};

use super::*;

/// Compiles and evaluates; errors come back as `{"error": kind-or-message}`.
fn run(mapping: Value, event: Value) -> Value {
    match Mapping::compile(&mapping) {
        Ok(m) => match m.eval(&event) {
            Ok(v) => v.unwrap_or(json!("<undefined>")),
            Err(e) => json!({"eval_error": e.message}),
        },
        Err(errs) => {
            json!({"compile_error": errs.iter().map(|e| format!("{:?}", e.kind)).collect::<Vec<_>>()})
        }
    }
}

fn table(cases: &[(Value, Value, Value)]) {
    for (mapping, event, want) in cases {
        assert_eq!(
            run(mapping.clone(), event.clone()),
            *want,
            "mapping {mapping} on {event}"
        );
    }
}

#[test]
fn raw_values_and_undefined() {
    table(&[
        (
            json!({"a": 1, "b": null, "c": [1, {"@path": "$.x"}]}),
            json!({}),
            json!({"a": 1, "b": null, "c": [1, null]}),
        ),
        (json!({"a": {"b": {"@path": "$.x"}}}), json!({}), json!({"a": {}})),
        (json!({"@path": "$.x"}), json!({}), json!("<undefined>")),
        (
            json!({"v": {"@path": "$.e", "_metadata": {"x": 1}}}),
            json!({"e": 1}),
            json!({"v": 1}),
        ),
    ]);
}

#[test]
fn path() {
    table(&[
        (
            json!({"v": {"@path": "$.a.b"}}),
            json!({"a": {"b": 1}}),
            json!({"v": 1}),
        ),
        (json!({"v": {"@path": "$.a.b"}}), json!({"a": null}), json!({"v": null})),
        (
            json!({"v": {"@path": "$.a.length"}}),
            json!({"a": [1, 2]}),
            json!({"v": 2}),
        ),
        (json!({"v": {"@path": ""}}), json!({"a": 1}), json!({"v": {"a": 1}})),
        (
            json!({"v": {"@path": {"@template": "$.{{k}}"}}}),
            json!({"k": "a", "a": 2}),
            json!({"v": 2}),
        ),
        (
            json!({"v": {"@path": {"@path": "$.n"}}}),
            json!({"n": 1}),
            json!({"eval_error": "@path: expected string, got number"}),
        ),
        (
            json!({"v": {"@path": 5}}),
            json!({}),
            json!({"compile_error": ["WrongType"]}),
        ),
    ]);
}

#[test]
fn if_() {
    let ite = |cond: &str, v: Value, then: Value, otherwise: Value| json!({"v": {"@if": {cond: v, "then": then, "else": otherwise}}});
    table(&[
        (
            ite("exists", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": 0}),
            json!({"v": "y"}),
        ),
        (
            ite("exists", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": null}),
            json!({"v": "n"}),
        ),
        (
            ite("blank", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": 0}),
            json!({"v": "n"}),
        ),
        (
            ite("blank", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": []}),
            json!({"v": "n"}),
        ),
        (
            ite("blank", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": [null]}),
            json!({"v": "n"}),
        ),
        (
            ite("blank", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": "0"}),
            json!({"v": "y"}),
        ),
        (
            ite("blank", json!({"@path": "$.a"}), json!("y"), json!("n")),
            json!({"a": {}}),
            json!({"v": "y"}),
        ),
        (
            ite("exists", json!({"@path": "$.a"}), json!(null), json!("n")),
            json!({"a": 1}),
            json!({"v": null}),
        ),
        (
            ite("exists", json!({"@path": "$.a"}), json!("y"), json!(0)),
            json!({}),
            json!({"compile_error": ["FalsyElse"]}),
        ),
        (
            ite("exists", json!({"@path": "$.a"}), json!("y"), json!(null)),
            json!({}),
            json!({"compile_error": ["FalsyElse"]}),
        ),
        (
            ite("exists", json!(0), json!("y"), json!("n")),
            json!({}),
            json!({"eval_error": "@if requires an \"exists\" key or a \"blank\" key"}),
        ),
        (
            json!({"v": {"@if": {"exists": 0, "blank": 1, "then": "y"}}}),
            json!({}),
            json!({"v": "y"}),
        ),
        (
            json!({"v": {"@if": {"exists": {"@path": "$.a"}, "then": "y", "other": 1}}}),
            json!({"a": 1}),
            json!({"v": "y"}),
        ),
        (
            json!({"v": {"@if": "x"}}),
            json!({}),
            json!({"compile_error": ["WrongType"]}),
        ),
    ]);
}

#[test]
fn template() {
    table(&[
        (
            json!({"v": {"@template": "Hi {{name}}"}}),
            json!({"name": "Al"}),
            json!({"v": "Hi Al"}),
        ),
        (
            json!({"v": {"@template": {"@path": "$.t"}}}),
            json!({"t": "{{n}}", "n": 1}),
            json!({"v": "1"}),
        ),
        (
            json!({"v": {"@template": {"@path": "$.t"}}}),
            json!({}),
            json!({"eval_error": "@template: expected string, got undefined"}),
        ),
    ]);
}

#[test]
fn validation_matches_the_reference() {
    table(&[
        (
            json!({"v": {"@foo": 1}}),
            json!({}),
            json!({"compile_error": ["UnknownDirective"]}),
        ),
        (
            json!({"v": {"@path": "$.a", "x": 1}}),
            json!({}),
            json!({"compile_error": ["MixedDirective"]}),
        ),
        (
            json!({"v": {"@path": "$.a", "@template": "x"}}),
            json!({}),
            json!({"compile_error": ["TwoDirectives"]}),
        ),
        (
            json!({"a": {"@foo": 1}, "b": {"@bar": 1}}),
            json!({}),
            json!({"compile_error": ["UnknownDirective", "UnknownDirective"]}),
        ),
        // Raw arrays are not validated: their directives fail when they run.
        (
            json!({"l": [{"@foo": 1}]}),
            json!({}),
            json!({"eval_error": "@foo is not a valid directive, got undefined"}),
        ),
        (
            json!({"l": [{"@path": "$.a", "x": {"@path": "$.a"}}]}),
            json!({"a": 1}),
            json!({"l": [{"@path": "$.a", "x": 1}]}),
        ),
        (json!(null), json!({}), json!({"compile_error": ["NotAnObject"]})),
        (json!("ab"), json!({}), json!({"0": "a", "1": "b"})),
    ]);
}

#[test]
fn errors_point_into_the_mapping() {
    let errs = Mapping::compile(&json!({"email": {"@if": {"exists": {"@pth": "$.a"}}}}))
        .err()
        .unwrap_or_default();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].pointer, "/email/@if/exists");
    assert_eq!(errs[0].kind, MappingErrorKind::UnknownDirective);
    assert_eq!(errs[0].help.as_deref(), Some("did you mean \"@path\"?"));
    assert_eq!(
        errs[0].to_string(),
        "/email/@if/exists: unknown directive \"@pth\" (did you mean \"@path\"?)"
    );
}

#[test]
fn fields_and_descriptions() {
    let m = Mapping::compile(&json!({
        "email": {"@if": {"exists": {"@path": "$.context.traits.email"}, "then": {"@path": "$.context.traits.email"}, "else": {"@path": "$.properties.email"}}},
        "tag": "trial-user",
    }));
    let Ok(m) = m else { panic!("compiles") };
    let described: Vec<(String, String)> = m
        .fields()
        .into_iter()
        .flatten()
        .map(|(k, f)| (k.to_owned(), f.describe()))
        .collect();
    assert_eq!(
        described,
        [
            ("email".to_owned(), "@if exists @path $.context.traits.email then @path $.context.traits.email else @path $.properties.email".to_owned()),
            ("tag".to_owned(), "raw \"trial-user\"".to_owned()),
        ]
    );
    let event = json!({"properties": {"email": "p@example.com"}});
    let by_field: Vec<Option<Value>> = m
        .fields()
        .into_iter()
        .flatten()
        .map(|(_, f)| f.eval(&event).ok().flatten())
        .collect();
    assert_eq!(by_field, [Some(json!("p@example.com")), Some(json!("trial-user"))]);
}

#[test]
fn mappings_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mapping>();
}

/// Differential testing against Segment's code: `MAPPING_REPLAY=cases.jsonl
/// cargo test -p encharge-engine --lib replay -- --ignored` writes our answer for
/// each `{"id","mapping","event"}` line to `cases.jsonl.ours` in the oracle's
/// format, with the kinds of compile errors, for a script to compare.
#[test]
#[ignore = "a tool: needs MAPPING_REPLAY"]
fn replay() {
    let Ok(path) = std::env::var("MAPPING_REPLAY") else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        panic!("cannot read {path}")
    };
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(case) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let result = match Mapping::compile(&case["mapping"]) {
            Err(errs) => json!({"error": {"kinds": errs.iter().map(|e| format!("{:?}", e.kind)).collect::<Vec<_>>(),
                                          "message": errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")}}),
            Ok(m) => match m.eval(&case["event"]) {
                Ok(v) => json!({"output": v.unwrap_or(Value::Null)}),
                Err(e) => json!({"error": {"kinds": ["Eval"], "message": e.to_string()}}),
            },
        };
        out.push_str(&json!({"id": case["id"], "result": result}).to_string());
        out.push('\n');
    }
    let _ = std::fs::write(format!("{path}.ours"), out);
}

/// Rough speed check of the trackEvent default mapping:
/// `cargo test --release -p encharge-engine --lib speed -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run in release mode"]
fn speed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let Ok(text) = std::fs::read_to_string(dir.join("default-mappings.json")) else {
        return;
    };
    let Ok(defaults) = serde_json::from_str::<Value>(&text) else {
        return;
    };
    let Ok(mapping) = Mapping::compile(&defaults["trackEvent"]["mapping"]) else {
        panic!("compiles")
    };
    let Ok(corpus) = std::fs::read_to_string(dir.join("mapping.jsonl")) else {
        return;
    };
    let Some(Ok(case)) = corpus.lines().next().map(serde_json::from_str::<Value>) else {
        return;
    };
    let event = &case["event"];
    let n = 200_000;
    if std::env::var("ONLY_BORROWED").is_ok() {
        for _ in 0..n * 5 {
            let _ = std::hint::black_box(mapping.eval_borrowed(std::hint::black_box(event)).is_ok());
        }
        return;
    }
    let start = std::time::Instant::now();
    let mut size = 0;
    for _ in 0..n {
        if let Ok(Some(Value::Object(m))) = mapping.eval(std::hint::black_box(event)) {
            size += m.len();
        }
    }
    let per = start.elapsed() / n;
    eprintln!("trackEvent default mapping: {per:?} per event ({size} fields)");
    let mut slim = defaults["trackEvent"]["mapping"].clone();
    if let Some(m) = slim.as_object_mut() {
        m.remove("properties");
        m.remove("userFields");
    }
    let Ok(slim) = Mapping::compile(&slim) else {
        panic!("compiles")
    };
    let start = std::time::Instant::now();
    for _ in 0..n {
        let _ = std::hint::black_box(slim.eval(std::hint::black_box(event)));
    }
    eprintln!("  without properties and userFields: {:?}", start.elapsed() / n);
    let start = std::time::Instant::now();
    for _ in 0..n {
        let _ = std::hint::black_box((event["properties"].clone(), event["context"]["traits"].clone()));
    }
    eprintln!("  cloning those two alone: {:?}", start.elapsed() / n);
    let start = std::time::Instant::now();
    for _ in 0..n {
        let _ = std::hint::black_box(mapping.eval_borrowed(std::hint::black_box(event)).is_ok());
    }
    eprintln!("  eval_borrowed: {:?}", start.elapsed() / n);
    let start = std::time::Instant::now();
    let mut buf = Vec::with_capacity(4096);
    for _ in 0..n {
        buf.clear();
        if let Ok(m) = mapping.eval_borrowed(std::hint::black_box(event)) {
            let _ = serde_json::to_writer(&mut buf, &m);
        }
    }
    eprintln!(
        "  eval_borrowed + serialize to bytes: {:?} ({} bytes)",
        start.elapsed() / n,
        buf.len()
    );
    let start = std::time::Instant::now();
    for _ in 0..n {
        buf.clear();
        if let Ok(v) = mapping.eval(std::hint::black_box(event)) {
            let _ = serde_json::to_writer(&mut buf, &v);
        }
    }
    eprintln!("  eval + serialize to bytes: {:?}", start.elapsed() / n);
}

#[test]
fn borrowed_results_serialize_as_owned_ones() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/mapping.jsonl");
    let Ok(corpus) = std::fs::read_to_string(path) else {
        panic!("corpus")
    };
    let mut checked = 0;
    for line in corpus.lines() {
        let Ok(case) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Ok(m) = Mapping::compile(&case["mapping"]) else {
            continue;
        };
        let owned = m.eval(&case["event"]);
        let borrowed = m.eval_borrowed(&case["event"]);
        match (owned, borrowed) {
            (Ok(o), Ok(b)) => {
                assert_eq!(
                    serde_json::to_value(&b).ok(),
                    Some(o.clone().unwrap_or(Value::Null)),
                    "{}",
                    case["id"]
                );
                assert_eq!(b.into_value(), o, "{}", case["id"]);
                checked += 1;
            }
            (Err(_), Err(_)) => {}
            (o, b) => panic!("{}: {o:?} vs {b:?}", case["id"]),
        }
    }
    assert!(checked > 200, "{checked}");
}
