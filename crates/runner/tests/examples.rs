//! The shipped configs and their tests: every config in `mappings/` loads through
//! the same checks as every command without a single problem, the example tests
//! in `mappings/examples/tests/` pass, and `test --bless` rewrites expectations
//! and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use encharge_runner::commands::test::{Verdict, bless_text, run_file, test_files};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The config files of `mappings/`: the presets and each example (not the test files).
fn configs() -> Vec<PathBuf> {
    let mut out = vec![repo().join("mappings/presets.yaml")];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("mappings/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    examples.sort();
    out.extend(examples);
    out
}

#[test]
fn shipped_configs_have_no_problem() {
    let configs = configs();
    assert!(configs.len() >= 4);
    for path in configs {
        let (problems, files) = encharge_runner::commands::validate::check_path(&path);
        assert_eq!(files.len(), 1);
        let text = &files[0].1;
        assert!(
            text.starts_with("# yaml-language-server: $schema=")
                && text
                    .lines()
                    .next()
                    .unwrap()
                    .ends_with("schemas/destination.schema.json"),
            "{}: the first line should point editors at the schema",
            path.display()
        );
        // The only thing allowed: ENCHARGE_API_KEY not being set where the tests run.
        let real: Vec<String> = problems
            .iter()
            .filter(|d| d.field.as_deref() != Some("settings.api_key"))
            .map(ToString::to_string)
            .collect();
        assert!(real.is_empty(), "{}:\n{}", path.display(), real.join("\n"));
    }
}

#[test]
fn example_tests_pass() {
    let files = test_files(None, &[repo().join("mappings/examples/tests")]).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut cases = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("# yaml-language-server: $schema=../../../schemas/test-case.schema.json\n"));
        let run = run_file(path, None, false);
        let problems: Vec<String> = run.problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{}:\n{}", path.display(), problems.join("\n"));
        for case in &run.cases {
            cases += 1;
            assert_eq!(
                case.verdict,
                Verdict::Passed,
                "{}:{}: {} (after a deliberate change: \
                 cargo run -p encharge-runner -- test --bless mappings/examples/tests/, then read the diff)",
                path.display(),
                case.line,
                case.name
            );
        }
    }
    assert!(cases >= 10, "only {cases} example cases");
}

/// A copy of an example test file in a fresh directory, its `config:` made absolute.
fn scratch_copy(name: &str, edit: impl Fn(String) -> String) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("encharge-bless-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = std::fs::read_to_string(repo().join("mappings/examples/tests").join(name)).unwrap();
    let config = repo().join("mappings/examples").join(name).canonicalize().unwrap();
    let original = original.replace(&format!("config: ../{name}"), &format!("config: {}", config.display()));
    let path = dir.join(name);
    std::fs::write(&path, edit(original.clone())).unwrap();
    (path, original)
}

#[test]
fn bless_rewrites_expectations_and_nothing_else() {
    // One expectation wrong, one missing altogether, one inline `[]` made wrong.
    let (path, original) = scratch_copy("tags-from-traits.yaml", |text| {
        let text = text.replacen("tag: customer,plan-pro", "tag: customer", 1);
        let start = text.find("  - name: an anonymous trial user").unwrap();
        let expect = start + text[start..].find("    expect:\n").unwrap();
        let end = expect + text[expect..].find("\n\n").unwrap() + 1;
        let text = format!("{}{}", &text[..expect], &text[end..]);
        text.replacen("expect: []", "expect:\n      - error: nothing", 1)
    });
    let before = run_file(&path, None, false);
    assert!(before.problems.is_empty(), "{:?}", before.problems);
    let failed: Vec<&str> = before
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Failed { .. }))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");

    let blessed = run_file(&path, None, true);
    let written: Vec<(&str, bool)> = blessed
        .cases
        .iter()
        .filter_map(|c| match c.verdict {
            Verdict::Blessed { had_expectation } => Some((c.name.as_str(), had_expectation)),
            _ => None,
        })
        .collect();
    assert_eq!(written.len(), 3, "{:?}", blessed.cases);
    assert_eq!(written.iter().filter(|(_, had)| !had).count(), 1);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        original,
        "bless should restore the file exactly"
    );
    let after = run_file(&path, None, false);
    assert!(after.cases.iter().all(|c| c.verdict == Verdict::Passed));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn bless_refuses_flow_style_cases() {
    let text = "config: c.yaml\ncases:\n  - { name: a, event: { type: track } }\n";
    let (_, index) = encharge_schema::check_test_file("t.yaml", text).unwrap();
    let err = bless_text(text, &index, &[(0, serde_json::json!([]))]).unwrap_err();
    assert!(err.contains("flow style"), "{err}");
}

#[test]
fn bless_adds_expect_after_a_case_followed_by_comments() {
    let text = "config: c.yaml\ncases:\n  - name: a\n    event:\n      type: track\n  # the next one\n  - name: b\n    event: { type: page }\n    expect: []\n";
    let (_, index) = encharge_schema::check_test_file("t.yaml", text).unwrap();
    let updates = [(0, serde_json::json!([])), (1, serde_json::json!([{"error": "e"}]))];
    let out = bless_text(text, &index, &updates).unwrap();
    assert_eq!(
        out,
        "config: c.yaml\ncases:\n  - name: a\n    event:\n      type: track\n    expect: []\n  # the next one\n  - name: b\n    event: { type: page }\n    expect:\n      - error: e\n"
    );
}

#[test]
fn without_cases_the_tests_beside_the_config_run() {
    let config = repo().join("mappings/examples/order-events.yaml");
    let files = test_files(Some(Path::new(&config)), &[]).unwrap();
    // Only the file named after the config: the others there test other configs.
    assert_eq!(files, [repo().join("mappings/examples/tests/order-events.yaml")]);
    // A directory config takes its whole tests/ directory.
    let dir = std::env::temp_dir().join(format!("encharge-test-files-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("tests/a.yaml"), "cases: []\n").unwrap();
    std::fs::write(dir.join("tests/b.yaml"), "cases: []\n").unwrap();
    assert_eq!(
        test_files(Some(&dir), &[]).unwrap(),
        [dir.join("tests/a.yaml"), dir.join("tests/b.yaml")]
    );
    assert!(test_files(None, &[]).is_err());
}
