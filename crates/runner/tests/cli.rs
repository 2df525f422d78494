//! The `validate`, `test` and `schema` commands as a user runs them: output,
//! positions and exit codes, for broken configs and bad input of every kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_encharge-actions"))
        .args(args)
        .current_dir(repo())
        .env_remove("ENCHARGE_API_KEY")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("encharge-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(1-based line, text)` for every line marked `# expect: TEXT`.
fn expectations(path: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i as u64 + 1, line.split_once("# expect: ")?.1.trim().to_owned())))
        .collect()
}

/// The same broken files the editor test opens: `validate` finds an error on exactly
/// the marked lines, in text and in JSON, and exits with 2.
#[test]
fn validate_points_at_the_marked_lines() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/editor/broken"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    for path in files {
        let rel = path.strip_prefix(repo()).unwrap().to_str().unwrap().to_owned();
        let want = expectations(&path);

        let text = run(&["validate", &rel]);
        assert_eq!(text.status.code(), Some(2), "{rel}");
        let out = stdout(&text);
        assert!(!out.contains('\x1b'), "no colours when not on a terminal:\n{out}");
        let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error: ")).collect();
        assert_eq!(errors.len(), want.len(), "{rel}:\n{out}");
        for (line, needle) in &want {
            let prefix = format!("{rel}:{line}:");
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&prefix) && e.contains(needle.as_str())),
                "{rel}: no error at line {line} mentioning {needle:?}:\n{out}"
            );
        }

        let json = run(&["validate", "--format", "json", &rel]);
        assert_eq!(json.status.code(), Some(2));
        let doc: Value = serde_json::from_str(&stdout(&json)).unwrap();
        let json_errors: Vec<&Value> = doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .collect();
        assert_eq!(doc["errors"], want.len());
        for ((line, _), d) in want.iter().zip(&json_errors) {
            assert_eq!(d["line"], *line, "{d}");
            assert!(d["column"].as_u64().unwrap() > 1);
            assert!(d["subscription"].is_string() && d["field"].is_string(), "{d}");
            assert!(
                errors.contains(&d["text"].as_str().unwrap()),
                "text and JSON should agree: {d}"
            );
        }
    }
}

#[test]
fn validate_passes_the_shipped_configs() {
    let out = run(&[
        "validate",
        "mappings/presets.yaml",
        "mappings/examples/company-objects.yaml",
        "mappings/examples/order-events.yaml",
        "mappings/examples/tags-from-traits.yaml",
    ]);
    // Only the unset API key, as a warning.
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out)
            .lines()
            .all(|l| l.contains(": warning: ") && l.contains("ENCHARGE_API_KEY"))
    );
}

/// Bad input of every kind: a clear error with its place, exit code 2, and no hang.
#[test]
fn bad_input_gets_an_error_with_its_place() {
    let dir = scratch("bad");
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        laughs.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "indent.yaml",
            b"version: 1\nsubscriptions:\n  - name: A\n   trigger: x\n".to_vec(),
            ":4:",
        ),
        (
            "tabs.yaml",
            b"version: 1\nsubscriptions:\n\t- name: A\n".to_vec(),
            ":3:",
        ),
        (
            "quote.yaml",
            b"version: 1\nsubscriptions:\n  - name: \"A\n".to_vec(),
            ":3:",
        ),
        (
            "latin1.yaml",
            b"version: 1\n# caf\xe9\n".to_vec(),
            ":2:6: error: the file is not UTF-8",
        ),
        ("empty.yaml", Vec::new(), ":1:1: error: the file is empty"),
        (
            "laughs.yaml",
            laughs.into_bytes(),
            ":6:15: error: the document is too large once its aliases",
        ),
        (
            "big.yaml",
            format!("version: 1\n{}", "# padding padding padding padding\n".repeat(320_000)).into_bytes(),
            ":1:1: error: the file is larger than 4 MiB",
        ),
    ];
    for (name, bytes, want) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run(&["validate", path.to_str().unwrap()]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(path.to_str().unwrap()) && first.contains(want),
            "{name}: {text}"
        );
    }
    let empty_dir = dir.join("no-yaml");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let out = run(&["validate", empty_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("the directory has no .yaml files"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `map` loads its config through the same checks: the same message as `validate`.
#[test]
fn map_reports_what_validate_reports() {
    let broken = "tests/editor/broken/misspelled-directive.yaml";
    let validate = stdout(&run(&["validate", broken]));
    let map = run(&["map", "--config", broken, "/dev/null"]);
    assert_eq!(map.status.code(), Some(2));
    let stderr = String::from_utf8(map.stderr).unwrap();
    for line in validate.lines().filter(|l| l.contains(": error: ")) {
        assert!(stderr.contains(line), "map should say {line:?}; it says:\n{stderr}");
    }
}

/// An unset `${VAR}` among the write keys is a warning for `validate` (CI rarely has the
/// secrets of the ingest server), and `map` does not mind it; an empty key is an error.
#[test]
fn validate_warns_of_unset_write_key_variables() {
    let dir = scratch("write-keys");
    let config = dir.join("c.yaml");
    std::fs::write(
        &config,
        "version: 1\nsettings:\n  api_key: literal-key\n  write_keys:\n    - ${ENCHARGE_TEST_UNSET_WRITE_KEY}\n\
         subscriptions:\n  - name: T\n    trigger: 'type = \"track\"'\n    action: trackEvent\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let out = run(&["validate", path]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "{path}:5:7: warning: field settings.write_keys.0: the environment variable \
             ENCHARGE_TEST_UNSET_WRITE_KEY is not set; `serve` needs it"
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(run(&["map", "--config", path, "/dev/null"]).status.code(), Some(0));

    std::fs::write(&config, "version: 1\nsettings:\n  write_keys: [\"\"]\n").unwrap();
    let out = run(&["validate", path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("a write key cannot be empty"), "{}", stdout(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_command_reports_failures_and_exits_1() {
    let dir = scratch("test");
    let config = repo()
        .join("mappings/examples/order-events.yaml")
        .canonicalize()
        .unwrap();
    let original = std::fs::read_to_string(repo().join("mappings/examples/tests/order-events.yaml")).unwrap();
    let broken = original
        .replace("config: ../order-events.yaml", &format!("config: {}", config.display()))
        .replacen("event: Registered", "event: Signed Up", 1);
    let path = dir.join("cases.yaml");
    std::fs::write(&path, broken).unwrap();

    let out = run(&["test", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(": a sign-up is sent as Registered with its plan: FAILED"),
        "{text}"
    );
    assert!(
        text.contains("  -     event: Signed Up\n  +     event: Registered\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
    assert_eq!(text.lines().last(), Some("4 passed, 1 failed"));

    let blessed = run(&["test", "--bless", path.to_str().unwrap()]);
    assert_eq!(blessed.status.code(), Some(0));
    assert!(stdout(&blessed).contains("a sign-up is sent as Registered with its plan: expectation updated"));
    assert_eq!(
        stdout(&run(&["test", path.to_str().unwrap()])).lines().last(),
        Some("5 passed, 0 failed")
    );

    let shipped = run(&["test", "mappings/examples/tests"]);
    assert_eq!(shipped.status.code(), Some(0), "{}", stdout(&shipped));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn schema_command_writes_what_is_committed() {
    let dir = scratch("schema");
    let out = run(&["schema", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    for name in ["destination.schema.json", "test-case.schema.json"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(name)).unwrap(),
            std::fs::read_to_string(repo().join("schemas").join(name)).unwrap(),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Errors inside an FQL or JMESPath expression point at the character, in the YAML file.
#[test]
fn expression_errors_point_inside_the_expression() {
    let dir = scratch("expr");
    let path = dir.join("c.yaml");
    let text = "version: 1\nsubscriptions:\n  - name: A\n    trigger: 'type = \"track\" and event = \"A\" or event = \"B\"'\n    action: addTag\n    mapping:\n      tag: t\n      email: { \"@jmespath\": \"traits.#email\" }\n  - name: A\n    trigger: 'type = \"track\"'\n    action: trackEvent\n";
    std::fs::write(&path, text).unwrap();
    let out = run(&["validate", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let at: Vec<(u64, u64, &str)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                d["kind"].as_str().unwrap(),
            )
        })
        .collect();
    // Columns of `or` in the trigger and of `#` in the expression, as the file has them.
    let trigger_line = &text.lines().nth(3).unwrap();
    let or = trigger_line.find(" or ").unwrap() as u64 + 2;
    let hash = text.lines().nth(7).unwrap().find('#').unwrap() as u64 + 1;
    assert!(at.contains(&(4, or, "trigger")), "{at:?} (or at {or})");
    assert!(at.contains(&(8, hash, "mapping")), "{at:?} (# at {hash})");
    assert!(at.contains(&(9, 11, "duplicate_name")), "{at:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory among the inputs is refused before anything is read or sent, like a missing file.
#[test]
fn a_directory_is_not_a_file_of_events() {
    let dir = scratch("directory-input");
    let events = dir.join("events.ndjson");
    std::fs::write(&events, "{\"type\":\"track\",\"event\":\"A\",\"userId\":\"u\"}\n").unwrap();
    let events = events.to_str().unwrap();
    let dir_arg = dir.to_str().unwrap();
    for command in [vec!["map", events, dir_arg], vec!["send", events, dir_arg]] {
        let out = Command::new(env!("CARGO_BIN_EXE_encharge-actions"))
            .args(&command)
            .env("ENCHARGE_API_KEY", "test-key")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert!(out.stdout.is_empty(), "{command:?}: {}", stdout(&out));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains(&format!("{dir_arg}: is a directory, not a file of events")),
            "{command:?}: {stderr}"
        );
    }
}
