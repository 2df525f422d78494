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

/// The event of the directive tables below; their answers come from Segment's code.
fn table_event() -> Value {
    json!({"s": "MiXeD CaSe", "n": 59.9, "z": 0, "e": "", "nul": null, "t": true, "f": false, "u": "straße 🚀", "o": {"a": 1, "b": null, "c": {"d": null, "e": 2}}, "l": [1, null, {"x": 1}], "items": [{"sku": "a", "q": 2}, {"sku": "b"}, null], "tags": ["x", "y"], "json": "{\"a\":[1.0,true]}", "bad": "{no", "traits": {"plan": "pro", "email": "t@example.com"}, "ctx": {"plan": "free", "name": "N"}})
}

/// `(mapping, expected)`: expected is the output, or `{"error": true}` when the
/// reference fails (at load or at run time).
fn oracle_table(cases: &[(Value, Value)]) {
    let event = table_event();
    for (mapping, want) in cases {
        let got = Mapping::compile(mapping)
            .map_err(|_| ())
            .and_then(|m| m.eval(&event).map_err(|_| ()));
        match got {
            Ok(v) => assert_eq!(&v.unwrap_or(Value::Null), want, "{mapping}"),
            Err(()) => assert_eq!(want, &json!({"error": true}), "{mapping} failed"),
        }
    }
}
#[test]
fn case() {
    oracle_table(&[
        (
            json!({"v": {"@case": {"operator": "lower", "value": {"@path": "$.s"}}}}),
            json!({"v": "mixed case"}),
        ),
        (
            json!({"v": {"@case": {"operator": "upper", "value": {"@path": "$.u"}}}}),
            json!({"v": "STRASSE 🚀"}),
        ),
        (
            json!({"v": {"@case": {"operator": "upper", "value": {"@path": "$.n"}}}}),
            json!({"v": 59.9}),
        ),
        (
            json!({"v": {"@case": {"operator": "title", "value": {"@path": "$.n"}}}}),
            json!({"v": 59.9}),
        ),
        (
            json!({"v": {"@case": {"operator": "title", "value": "x"}}}),
            json!({"error": true}),
        ),
        (json!({"v": {"@case": {"operator": "lower", "value": ""}}}), json!({})),
        (json!({"v": {"@case": {"operator": "lower"}}}), json!({})),
        (json!({"v": {"@case": {"value": "x"}}}), json!({"error": true})),
    ]);
}

/// An operator other than `lower`/`upper` passes validation and fails on every
/// string value: a warning, unless the value can never be a string.
#[test]
fn case_operator_warnings() {
    let warned = |mapping: Value| -> Vec<String> {
        Mapping::compile(&mapping)
            .map(|m| {
                m.warnings()
                    .iter()
                    .filter(|w| w.kind == MappingErrorKind::AlwaysFails)
                    .map(|w| w.pointer.clone())
                    .collect()
            })
            .unwrap_or_else(|errs| panic!("{mapping} does not compile: {errs:?}"))
    };
    for (operator, value, want) in [
        (json!("LOWER"), json!({"@path": "$.s"}), vec!["/v/@case"]),
        (json!("title"), json!("x"), vec!["/v/@case"]),
        (json!("Upper"), json!({"@template": "{{s}}"}), vec!["/v/@case"]),
        (json!("LOWER"), json!({"@literal": "X"}), vec!["/v/@case"]),
        (json!("lower"), json!({"@path": "$.s"}), vec![]),
        (json!("upper"), json!("x"), vec![]),
        // Never a string: the value passes through unchanged.
        (json!("LOWER"), json!({"@literal": 5}), vec![]),
        // A falsy value: the result is undefined, nothing is compared.
        (json!("LOWER"), json!(""), vec![]),
    ] {
        let mapping = json!({"v": {"@case": {"operator": operator, "value": value}}});
        assert_eq!(warned(mapping.clone()), want, "{mapping}");
    }
    assert!(warned(json!({"v": {"@case": {"operator": "LOWER"}}})).is_empty());
    // Raw arrays are not validated, so a number value gets this far, and passes.
    assert!(warned(json!({"v": [{"@case": {"operator": "LOWER", "value": 5}}]})).is_empty());
    assert_eq!(
        warned(json!({"v": [{"@case": {"operator": "LOWER", "value": "X"}}]})),
        ["/v/0/@case"]
    );
}

#[test]
fn replace() {
    oracle_table(&[
        (
            json!({"v": {"@replace": {"pattern": " ", "replacement": "_", "value": {"@path": "$.s"}}}}),
            json!({"v": "MiXeD_CaSe"}),
        ),
        (
            json!({"v": {"@replace": {"pattern": "e", "replacement": "3", "ignorecase": true, "global": false, "value": {"@path": "$.s"}}}}),
            json!({"v": "MiX3D CaSe"}),
        ),
        (
            json!({"v": {"@replace": {"pattern": ".", "replacement": "[$&]", "value": {"@path": "$.n"}}}}),
            json!({"v": "59[.]9"}),
        ),
        (
            json!({"v": {"@replace": {"pattern": "ru", "replacement": "RU", "value": {"@path": "$.t"}}}}),
            json!({"v": "tRUe"}),
        ),
        (
            json!({"v": {"@replace": {"pattern": "a", "value": {"@path": "$.o"}}}}),
            json!({"v": ""}),
        ),
        (
            json!({"v": {"@replace": {"pattern": "a", "value": {"@path": "$.missing"}}}}),
            json!({"v": ""}),
        ),
        (json!({"v": {"@replace": {"pattern": "a", "value": ""}}}), json!({})),
        (
            json!({"v": {"@replace": {"pattern": "a", "replacement": "b", "pattern2": "b", "replacement2": "c", "value": "aab"}}}),
            json!({"v": "ccc"}),
        ),
        (
            json!({"v": {"@replace": {"pattern": "a", "replacement": "b", "pattern2": "abcdefghijk", "value": "a"}}}),
            json!({"error": true}),
        ),
        (
            json!({"v": {"@replace": {"pattern": "abcdefghijk", "value": "a"}}}),
            json!({"error": true}),
        ),
    ]);
}

#[test]
fn array_path() {
    oracle_table(&[
        (
            json!({"v": {"@arrayPath": ["$.items", {"sku": {"@path": "$.sku"}, "q": {"@path": "$.q"}, "k": "v"}]}}),
            json!({"v": [{"sku": "a", "q": 2, "k": "v"}, {"sku": "b", "k": "v"}, {"sku": null, "q": null, "k": "v"}]}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.items", {}]}}),
            json!({"v": [{"sku": "a", "q": 2}, {"sku": "b"}, null]}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.o", {"a": {"@path": "$.a"}}]}}),
            json!({"v": [{"a": 1}]}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.s", {"a": {"@path": "$.a"}}]}}),
            json!({"v": "MiXeD CaSe"}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.missing", {"a": {"@path": "$.a"}}]}}),
            json!({}),
        ),
        (
            json!({"v": {"@arrayPath": [{"@path": "$.tags"}, {"t": {"@path": "$"}}]}}),
            json!({"v": [{}, {}]}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.items", {"@path": "$.sku"}]}}),
            json!({"v": ["a", "b", null]}),
        ),
        (
            json!({"v": {"@arrayPath": [[{"@path": "$.missing"}, {"@path": "$.z"}], {"v": {"@path": "$.x"}}]}}),
            json!({"error": true}),
        ),
    ]);
}

#[test]
fn json() {
    oracle_table(&[
        (
            json!({"v": {"@json": {"mode": "encode", "value": {"@path": "$.o"}}}}),
            json!({"v": "{\"a\":1,\"b\":null,\"c\":{\"d\":null,\"e\":2}}"}),
        ),
        (
            json!({"v": {"@json": {"mode": "encode", "value": {"a": {"@path": "$.missing"}, "l": [{"@path": "$.missing"}], "n": 1.0}}}}),
            json!({"v": "{\"l\":[null],\"n\":1}"}),
        ),
        (
            json!({"v": {"@json": {"mode": "encode", "value": {"@path": "$.missing"}}}}),
            json!({}),
        ),
        (
            json!({"v": {"@json": {"mode": "decode", "value": {"@path": "$.json"}}}}),
            json!({"v": {"a": [1, true]}}),
        ),
        (
            json!({"v": {"@json": {"mode": "decode", "value": {"@path": "$.bad"}}}}),
            json!({"v": "{no"}),
        ),
        (
            json!({"v": {"@json": {"mode": "decode", "value": {"@path": "$.n"}}}}),
            json!({"v": 59.9}),
        ),
        (
            json!({"v": {"@json": {"mode": "ENCODE", "value": {"@path": "$.s"}}}}),
            json!({}),
        ),
        (
            json!({"v": {"@json": {"mode": "encode", "value": null}}}),
            json!({"error": true}),
        ),
    ]);
}

#[test]
fn flatten() {
    oracle_table(&[
        (
            json!({"v": {"@flatten": {"separator": ".", "value": {"@path": "$.o"}}}}),
            json!({"v": {"a": 1, "b": null, "c.d": null, "c.e": 2}}),
        ),
        (
            json!({"v": {"@flatten": {"separator": "_", "value": {"@path": "$.items"}}}}),
            json!({"v": {"2": null, "0_sku": "a", "0_q": 2, "1_sku": "b"}}),
        ),
        (
            json!({"v": {"@flatten": {"separator": "_", "value": {"@path": "$.l"}, "omitArrays": true}}}),
            json!({"v": {"": [1, null, {"x": 1}]}}),
        ),
        (
            json!({"v": {"@flatten": {"separator": ".", "value": {"@path": "$.s"}}}}),
            json!({"v": {"": "MiXeD CaSe"}}),
        ),
        (
            json!({"v": {"@flatten": {"separator": ".", "value": {"@path": "$.missing"}}}}),
            json!({"v": {}}),
        ),
        (
            json!({"v": {"@flatten": {"separator": ".", "value": [{"@path": "$.missing"}, 1]}}}),
            json!({"v": {"1": 1}}),
        ),
        (
            json!({"v": {"@flatten": {"separator": "", "value": {"@path": "$.o"}}}}),
            json!({"error": true}),
        ),
    ]);
}

#[test]
fn merge() {
    oracle_table(&[
        (
            json!({"v": {"@merge": {"direction": "right", "objects": [{"@path": "$.ctx"}, {"@path": "$.traits"}]}}}),
            json!({"v": {"plan": "pro", "name": "N", "email": "t@example.com"}}),
        ),
        (
            json!({"v": {"@merge": {"direction": "left", "objects": [{"@path": "$.ctx"}, {"@path": "$.traits"}]}}}),
            json!({"v": {"plan": "free", "email": "t@example.com", "name": "N"}}),
        ),
        (
            json!({"v": {"@merge": {"direction": "LEFT", "objects": [{"@path": "$.ctx"}, {"@path": "$.traits"}]}}}),
            json!({"v": {"plan": "pro", "name": "N", "email": "t@example.com"}}),
        ),
        (
            json!({"v": {"@merge": {"direction": "right", "objects": [{"a": 1, "b": 2}, {"a": {"@path": "$.missing"}}]}}}),
            json!({"v": {"b": 2}}),
        ),
        (
            json!({"v": {"@merge": {"direction": "right", "objects": [{"@path": "$.tags"}, {"@path": "$.n"}, {"@path": "$.nul"}]}}}),
            json!({"v": {"0": "x", "1": "y"}}),
        ),
        (
            json!({"v": {"@merge": {"objects": [{"a": 1}]}}}),
            json!({"error": true}),
        ),
    ]);
}

#[test]
fn transform() {
    oracle_table(&[
        (
            json!({"v": {"@transform": {"apply": {"name": {"@path": "$.ctx.name"}, "l": [{"@path": "$.missing"}]}, "mapping": {"n": {"@path": "$.name"}, "first": {"@path": "$.l.0.x"}, "l": {"@path": "$.l"}}}}}),
            json!({"v": {"n": "N", "l": [null]}}),
        ),
        (
            json!({"v": {"@transform": {"apply": {"name": {"@path": "$.ctx.name"}}, "mapping": {"@template": "Hi {{name}}"}}}}),
            json!({"v": "Hi N"}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.items", {"t": {"@transform": {"apply": {"s": {"@path": "$.sku"}}, "mapping": {"@path": "$.s"}}}}]}}),
            json!({"error": true}),
        ),
    ]);
}

#[test]
fn exclude_when_null() {
    oracle_table(&[
        (
            json!({"v": {"@excludeWhenNull": {"@path": "$.o"}}}),
            json!({"v": {"a": 1, "c": {"e": 2}}}),
        ),
        (json!({"v": {"@excludeWhenNull": {"@path": "$.nul"}}}), json!({})),
        (
            json!({"v": {"@excludeWhenNull": {"@path": "$.l"}}}),
            json!({"v": [1, null, {"x": 1}]}),
        ),
        (
            json!({"v": {"@excludeWhenNull": {"a": null, "b": [null], "c": {"d": null}}}}),
            json!({"v": {"b": [null], "c": {}}}),
        ),
        (
            json!({"v": {"@merge": {"direction": "right", "objects": [{"a": 1, "b": 2}, {"@excludeWhenNull": {"a": null}}]}}}),
            json!({"v": {"b": 2}}),
        ),
    ]);
}

#[test]
fn liquid() {
    oracle_table(&[
        (
            json!({"v": {"@liquid": "{{ s | downcase }} {% if n > 50 %}big{% endif %}"}}),
            json!({"v": "mixed case big"}),
        ),
        (
            json!({"v": {"@liquid": "{{ items[0].sku | upcase }}|{{ items.size }}|{{ missing | default: 'd' }}"}}),
            json!({"v": "A|3|d"}),
        ),
        (json!({"v": {"@liquid": "{{ s | sort }}"}}), json!({"error": true})),
        (
            json!({"v": {"@liquid": "{% for x in tags %}{{x}}{% endfor %}"}}),
            json!({"error": true}),
        ),
        (
            json!({"v": {"@arrayPath": ["$.items", {"l": {"@liquid": "{{ sku }}-{{ q | default: 0 }}"}}]}}),
            json!({"v": [{"l": "a-2"}, {"l": "b-0"}, {"l": "-0"}]}),
        ),
    ]);
}

#[test]
fn root_directive() {
    oracle_table(&[
        (
            json!({"__segment_internal_directive": {"@transform": {"apply": {"x": {"@path": "$.ctx.name"}}}}, "a": {"@path": "$.x"}}),
            json!({"a": "N"}),
        ),
        (
            json!({"__segment_internal_directive": {"@path": "$.s"}, "a": 1}),
            json!({"error": true}),
        ),
        (
            json!({"__segment_internal_directive": {"@merge": {"direction": "right", "objects": [{"@path": "$.ctx"}]}}, "a": 1}),
            json!({"plan": "free", "name": "N"}),
        ),
    ]);
}

#[test]
fn jmespath() {
    let event = json!({"traits": {"email": null, "tags": ["a", "b"]}, "context": {"traits": {"email": "c@example.com"}},
                       "properties": {"items": [{"sku": "a", "n": 2}, {"sku": "b", "n": 1}]}});
    let cases = [
        (
            json!({"v": {"@jmespath": "traits.email || context.traits.email"}}),
            json!({"v": "c@example.com"}),
        ),
        // JMESPath cannot tell null from missing: both leave the field out.
        (
            json!({"v": {"@jmespath": "traits.email"}, "w": {"@jmespath": "nope"}}),
            json!({}),
        ),
        (
            json!({"v": {"@jmespath": "properties.items[?n > `1`].sku"}}),
            json!({"v": ["a"]}),
        ),
        (
            json!({"v": {"@jmespath": "join(',', traits.tags)"}}),
            json!({"v": "a,b"}),
        ),
        // Inside @arrayPath the payload is the item, as for @path.
        (
            json!({"v": {"@arrayPath": ["$.properties.items", {"s": {"@jmespath": "sku"}}]}}),
            json!({"v": [{"s": "a"}, {"s": "b"}]}),
        ),
        (
            json!({"v": {"@if": {"exists": {"@jmespath": "traits.email"}, "then": "y", "else": "n"}}}),
            json!({"v": "n"}),
        ),
    ];
    for (mapping, want) in cases {
        let out = Mapping::compile(&mapping)
            .ok()
            .and_then(|m| m.eval(&event).ok().flatten());
        assert_eq!(out, Some(want), "{mapping}");
    }
    let errs = Mapping::compile(&json!({"email": {"@jmespath": "traits.["}}))
        .err()
        .unwrap_or_default();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].pointer.as_str(), errs[0].kind),
        ("/email/@jmespath", MappingErrorKind::JmespathSyntax)
    );
    assert!(errs[0].message.contains("offset 8"), "{}", errs[0].message);
    let errs = Mapping::compile(&json!({"email": {"@jmespath": 5}}))
        .err()
        .unwrap_or_default();
    assert_eq!(
        errs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [MappingErrorKind::WrongType]
    );
    // A run-time type error of JMESPath fails the event.
    let m = Mapping::compile(&json!({"v": {"@jmespath": "abs(traits)"}})).ok();
    assert!(m.is_some_and(|m| m.eval(&event).is_err()));
}

#[test]
fn deep_mappings_and_events_fail_cleanly() {
    let mut mapping = json!({"@path": "$.a"});
    for _ in 0..200 {
        mapping = json!({"k": mapping});
    }
    let errs = Mapping::compile(&mapping).err().unwrap_or_default();
    assert_eq!(
        errs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [MappingErrorKind::TooDeep]
    );
    // Just under the limit, resolution recurses fine.
    let mut mapping = json!({"@path": "$.a"});
    for _ in 0..62 {
        mapping = json!({"@if": {"exists": {"@path": "$.a"}, "then": mapping}});
    }
    let out = Mapping::compile(&mapping)
        .ok()
        .and_then(|m| m.eval(&json!({"a": 1})).ok().flatten());
    assert_eq!(out, Some(json!(1)));
    // A deep event (built in code; serde_json's parser stops at 128 levels, and its
    // own Clone and Drop recurse, so only walks that do not copy it are tried).
    // (By hand: `json!` with a variable re-serializes it, recursively.)
    let wrap = |key: &str, v: Value| Value::Object(std::iter::once((key.to_owned(), v)).collect());
    let mut event = json!(1);
    for _ in 0..2000 {
        event = wrap("a", Value::Array(vec![event]));
    }
    let event = wrap("e", event);
    for mapping in [
        json!({"v": {"@json": {"mode": "encode", "value": {"@path": "$.e"}}}}),
        json!({"v": {"@flatten": {"separator": ".", "value": {"@path": "$.e"}}}}),
        json!({"v": {"@jmespath": "e"}}),
    ] {
        let m = Mapping::compile(&mapping).ok();
        assert!(m.is_some_and(|m| m.eval(&event).is_err()), "{mapping}");
    }
    for mapping in [
        json!({"v": {"@template": "{{e.a}}"}}),
        json!({"v": {"@liquid": "{{ e.a }}{% if e.a == e.a %}{% endif %}"}}),
    ] {
        let m = Mapping::compile(&mapping).ok();
        assert!(m.is_some_and(|m| m.eval(&event).is_ok()), "{mapping}");
    }
    // Drop the deep value without recursing through serde_json's Drop.
    let mut stack = vec![event];
    while let Some(mut v) = stack.pop() {
        match &mut v {
            Value::Array(items) => stack.append(items),
            Value::Object(map) => stack.extend(std::mem::take(map).into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[test]
fn borrowed_fields() {
    let m = Mapping::compile(&json!({"a": {"@path": "$.x"}, "b": {"c": {"@path": "$.missing"}}, "d": "raw"}));
    let Ok(m) = m else { panic!("compiles") };
    let event = json!({"x": {"y": 1}});
    let Ok(out) = m.eval_borrowed(&event) else {
        panic!("evaluates")
    };
    assert!(matches!(out.get("a"), Some(Mapped::Ref(v)) if std::ptr::eq(v, &event["x"])));
    assert_eq!(
        out.get("a")
            .and_then(|a| a.get("y"))
            .and_then(|y| y.as_value().cloned()),
        Some(json!(1))
    );
    assert_eq!(out.get("b").map(|b| b.into_value()), Some(Some(json!({}))));
    assert!(out.get("missing").is_none());
    assert_eq!(
        serde_json::to_string(&out).ok().as_deref(),
        Some(r#"{"a":{"y":1},"b":{},"d":"raw"}"#)
    );
}
