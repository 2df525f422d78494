//! JSON Schemas of the encharge-actions config files and test files, and the
//! checks every config goes through: the schema (as editors apply it) and the
//! engine's own loading, with each problem at its file, line and column.
//!
//! ```
//! use encharge_engine::config::LoadOptions;
//!
//! let text = "version: 1\nsubscriptions:\n  - name: Tag\n    trigger: 'type = \"identify\"'\n    \
//!             action: addTag\n    mapping:\n      tag: { \"@pth\": \"$.traits.plan\" }\n";
//! let files = vec![("tags.yaml".to_owned(), text.to_owned())];
//! let env = |_: &str| None;
//! let options = LoadOptions { env: &env, require_api_key: false, require_write_keys: false };
//! let problems = encharge_schema::check(&files, &options).err().unwrap_or_default();
//! assert_eq!(
//!     problems[0].to_string(),
//!     "tags.yaml:7:12: error: subscription \"Tag\", field mapping.tag: unknown directive \"@pth\" (did you mean \"@path\"?)"
//! );
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod generate;
mod validate;

use encharge_engine::config::cases::TestFile;
use encharge_engine::config::yaml::{self, Pos, PosIndex};
use encharge_engine::config::{Diagnostic, ErrorKind, LoadOptions, Loaded, Severity, load};

pub use generate::{DESTINATION, TEST_CASE, destination_schema, test_case_schema};

/// Every schema file, as `(file name, pretty JSON with a trailing newline)`: what
/// `encharge-actions schema --out schemas/` writes.
pub fn generate() -> Vec<(&'static str, String)> {
    [(DESTINATION, destination_schema()), (TEST_CASE, test_case_schema())]
        .into_iter()
        .map(|(name, schema)| {
            let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            text.push('\n');
            (name, text)
        })
        .collect()
}

/// Loads config files as [`encharge_engine::config::load`] does, and also checks them
/// against the JSON Schema, so that every command (and the editor) reports the same
/// problems. A problem that both find at one place is reported once, in the engine's words.
pub fn check(files: &[(String, String)], options: &LoadOptions<'_>) -> Result<Loaded, Vec<Diagnostic>> {
    let (loaded, mut problems) = match load(files, options) {
        Ok(mut loaded) => {
            let warnings = std::mem::take(&mut loaded.warnings);
            (Some(loaded), warnings)
        }
        Err(problems) => (None, problems),
    };
    let mut extra = Vec::new();
    for (file, text) in files {
        // A file that is not YAML has its one error from the engine already.
        let Ok((value, index)) = yaml::parse(text) else {
            continue;
        };
        for (pointer, d) in validate::schema_errors(validate::destination(), file, &value, &index) {
            let covered = validate::covering_positions(&pointer, &index);
            let known = problems
                .iter()
                .any(|e| e.severity == Severity::Error && e.file == d.file && covered.contains(&e.pos));
            if !known {
                extra.push(d);
            }
        }
    }
    problems.extend(extra);
    sort(&mut problems);
    match loaded {
        Some(mut loaded) if !problems.iter().any(|p| p.severity == Severity::Error) => {
            loaded.warnings = problems;
            Ok(loaded)
        }
        _ => Err(problems),
    }
}

/// Reads a test file (`encharge-actions test`), checked against its schema; with the
/// position of each of its nodes.
pub fn check_test_file(file: &str, text: &str) -> Result<(TestFile, PosIndex), Vec<Diagnostic>> {
    let error = |pos: Pos, kind: ErrorKind, message: String, help: Option<String>| Diagnostic {
        severity: Severity::Error,
        kind,
        file: file.to_owned(),
        pos,
        len: 1,
        subscription: None,
        field: None,
        message,
        help,
    };
    let (value, index) = yaml::parse(text).map_err(|e| vec![error(e.pos, ErrorKind::Yaml, e.message, None)])?;
    if value.is_null() {
        return Err(vec![error(
            Pos { line: 1, column: 1 },
            ErrorKind::Empty,
            "the file is empty".to_owned(),
            Some("start with `config:` and a list of `cases`".to_owned()),
        )]);
    }
    let mut problems: Vec<Diagnostic> = validate::schema_errors(validate::test_case(), file, &value, &index)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    if !problems.is_empty() {
        sort(&mut problems);
        return Err(problems);
    }
    let cases = serde_json::from_value(value)
        .map_err(|e| vec![error(Pos { line: 1, column: 1 }, ErrorKind::Shape, e.to_string(), None)])?;
    Ok((cases, index))
}

fn sort(problems: &mut [Diagnostic]) {
    problems.sort_by(|a, b| (a.severity, &a.file, a.pos).cmp(&(b.severity, &b.file, b.pos)));
}
