//! `test`: golden-file tests of a user's own mappings.
//!
//! A test file holds cases: an event and what it must produce (see
//! [`encharge_engine::config::cases`]). Each case runs exactly as `map` would
//! plan it; a difference is shown as a diff of the two YAML renderings.
//! `--bless` writes the current output into the file in place of the old
//! expectations, keeping everything else of the file (comments, events) as it is.

use std::io::Write;
use std::path::{Path, PathBuf};

use encharge_engine::config::cases::{Outcome, TestFile, outcomes};
use encharge_engine::config::yaml::PosIndex;
use encharge_engine::config::{Diagnostic, ErrorKind, Severity};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{FAILED, OK, USAGE};
use crate::config::{Files, load_config_files, read_text};
use crate::report::{Style, write_diagnostics};
use crate::yaml_out;

/// How one case went.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Output and expectation agree.
    Passed,
    /// They differ; `expected` is `None` when the case has no `expect` yet.
    Failed {
        /// What the file says.
        expected: Option<Vec<Outcome>>,
        /// What the mappings produce.
        actual: Vec<Outcome>,
    },
    /// `--bless` wrote the output as the new expectation.
    Blessed {
        /// Whether the case had an expectation before.
        had_expectation: bool,
    },
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Its line in the test file.
    pub line: u32,
    /// What happened.
    pub verdict: Verdict,
}

/// The run of one test file.
#[derive(Debug, Default)]
pub struct FileRun {
    /// The test file.
    pub path: PathBuf,
    /// Problems that kept the file from running: a bad test file, a bad config.
    pub problems: Vec<Diagnostic>,
    /// The texts those problems point into.
    pub texts: Files,
    /// Each case, in order.
    pub cases: Vec<CaseResult>,
}

impl FileRun {
    fn problem(path: &Path, message: String, help: Option<String>) -> FileRun {
        FileRun {
            path: path.to_owned(),
            problems: vec![Diagnostic {
                severity: Severity::Error,
                kind: ErrorKind::Empty,
                file: path.display().to_string(),
                pos: encharge_engine::config::yaml::Pos { line: 1, column: 1 },
                len: 1,
                subscription: None,
                field: None,
                message,
                help,
            }],
            ..FileRun::default()
        }
    }
}

/// Runs every test file; prints failures with diffs and a summary line. Returns the exit
/// code: 0 all passed, 1 a case failed, 2 a test file or config could not be used.
pub fn run(config: Option<&Path>, cases: &[PathBuf], bless: bool) -> u8 {
    let paths = match test_files(config, cases) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return USAGE;
        }
    };
    let style = Style::stdout();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for path in &paths {
        let run = run_file(path, config, bless);
        let _ = print_run(&mut out, &run, style);
        broken += usize::from(!run.problems.is_empty());
        for case in &run.cases {
            match case.verdict {
                Verdict::Failed { .. } => failed += 1,
                Verdict::Passed | Verdict::Blessed { .. } => passed += 1,
            }
        }
    }
    let broken_note = if broken > 0 {
        format!(
            " ({broken} test file{} could not run)",
            if broken == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let _ = writeln!(out, "{passed} passed, {failed} failed{broken_note}");
    if broken > 0 {
        USAGE
    } else if failed > 0 {
        FAILED
    } else {
        OK
    }
}

/// The test files: those given (a directory gives its `*.yaml` files), or without any, the
/// `tests/` directory beside the config; for a config file `NAME.yaml` with a `tests/NAME.yaml`
/// beside it, only that one (the other files there test other configs).
pub fn test_files(config: Option<&Path>, cases: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let roots: Vec<PathBuf> = if cases.is_empty() {
        let Some(config) = config else {
            return Err("give test files (or directories of them), or --config to use its tests/ directory".to_owned());
        };
        if config.is_dir() {
            vec![config.join("tests")]
        } else {
            let tests = config.parent().unwrap_or(Path::new(".")).join("tests");
            let own = config
                .file_stem()
                .map(|stem| ["yaml", "yml"].map(|ext| tests.join(stem).with_extension(ext)))
                .and_then(|candidates| candidates.into_iter().find(|p| p.is_file()));
            vec![own.unwrap_or(tests)]
        }
    } else {
        cases.to_vec()
    };
    let mut files = Vec::new();
    for root in roots {
        if root.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
                .map_err(|e| format!("{}: cannot read the directory: {e}", root.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            if found.is_empty() {
                return Err(format!("{}: the directory has no .yaml test files", root.display()));
            }
            found.sort();
            files.extend(found);
        } else if root.exists() {
            files.push(root);
        } else {
            return Err(format!("{}: no such file or directory", root.display()));
        }
    }
    Ok(files)
}

/// Runs one test file against `config` (else the file's own `config:`), blessing when asked.
pub fn run_file(path: &Path, config: Option<&Path>, bless: bool) -> FileRun {
    let name = path.display().to_string();
    let text = match read_text(path) {
        Ok(t) => t,
        Err(d) => {
            return FileRun {
                path: path.to_owned(),
                problems: vec![*d],
                ..FileRun::default()
            };
        }
    };
    let texts = vec![(name.clone(), text.clone())];
    let (file, index) = match encharge_schema::check_test_file(&name, &text) {
        Ok(parsed) => parsed,
        Err(problems) => {
            return FileRun {
                path: path.to_owned(),
                problems,
                texts,
                cases: Vec::new(),
            };
        }
    };
    if let Some(problems) = duplicate_names(&name, &file, &index) {
        return FileRun {
            path: path.to_owned(),
            problems,
            texts,
            cases: Vec::new(),
        };
    }
    let config_path = match (config, &file.config) {
        (Some(c), _) => c.to_owned(),
        (None, Some(c)) => path.parent().unwrap_or(Path::new(".")).join(c),
        (None, None) => {
            return FileRun::problem(
                path,
                "the test file names no config".to_owned(),
                Some("add `config: path/to/config.yaml` (relative to the test file), or pass --config".to_owned()),
            );
        }
    };
    let (loaded, config_texts) = load_config_files(Some(&config_path), false);
    let loaded = match loaded {
        Ok(l) => l,
        Err(problems) => {
            return FileRun {
                path: path.to_owned(),
                problems,
                texts: config_texts,
                cases: Vec::new(),
            };
        }
    };

    let mut results = Vec::new();
    let mut updates = Vec::new();
    for (i, case) in file.cases.iter().enumerate() {
        let actual = outcomes(&loaded.destination, &case.event);
        let line = index.find(&format!("/cases/{i}/name")).value.line;
        let verdict = match &case.expect {
            Some(expected) if *expected == actual => Verdict::Passed,
            expected if bless => {
                updates.push((i, actual));
                Verdict::Blessed {
                    had_expectation: expected.is_some(),
                }
            }
            expected => Verdict::Failed {
                expected: expected.clone(),
                actual,
            },
        };
        results.push(CaseResult {
            name: case.name.clone(),
            line,
            verdict,
        });
    }
    if !updates.is_empty()
        && let Err(message) = write_blessed(path, &text, &index, &updates)
    {
        return FileRun::problem(path, message, None);
    }
    FileRun {
        path: path.to_owned(),
        problems: Vec::new(),
        texts,
        cases: results,
    }
}

fn duplicate_names(file: &str, cases: &TestFile, index: &PosIndex) -> Option<Vec<Diagnostic>> {
    let mut problems = Vec::new();
    for (i, case) in cases.cases.iter().enumerate() {
        if let Some(first) = cases.cases[..i].iter().position(|c| c.name == case.name) {
            let at = index.find(&format!("/cases/{first}/name")).value;
            problems.push(Diagnostic {
                severity: Severity::Error,
                kind: ErrorKind::DuplicateName,
                file: file.to_owned(),
                pos: index.find(&format!("/cases/{i}/name")).value,
                len: case.name.chars().count().max(1),
                subscription: None,
                field: Some(format!("cases.{i}.name")),
                message: format!("the case name {:?} is already used at line {}", case.name, at.line),
                help: Some("give each case its own name".to_owned()),
            });
        }
    }
    (!problems.is_empty()).then_some(problems)
}

/// Rewrites the `expect` of each updated case, checks that the new file reads back with
/// exactly those expectations, and writes it.
fn write_blessed(path: &Path, text: &str, index: &PosIndex, updates: &[(usize, Vec<Outcome>)]) -> Result<(), String> {
    let values: Vec<(usize, Value)> = updates
        .iter()
        .map(|(i, outcomes)| {
            serde_json::to_value(outcomes)
                .map(|v| (*i, v))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let new_text = bless_text(text, index, &values)?;
    let name = path.display().to_string();
    let (reread, _) = encharge_schema::check_test_file(&name, &new_text).map_err(|problems| {
        format!(
            "cannot bless: the rewritten file would not read back ({}); the file is unchanged",
            problems.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    for (i, outcomes) in updates {
        if reread.cases.get(*i).and_then(|c| c.expect.as_ref()) != Some(outcomes) {
            return Err(format!(
                "cannot bless case {}: its expectation would not read back as written; the file is unchanged",
                i + 1
            ));
        }
    }
    std::fs::write(path, new_text).map_err(|e| format!("cannot write the blessed file: {e}"))
}

/// The text with the `expect` of each given case replaced (or added after the case).
///
/// Works on lines: an `expect` block runs from its key to the last line indented deeper
/// (or a `- ` item at the key's own indentation). Flow-style cases (`- {name: …}`) are
/// refused rather than guessed at.
pub fn bless_text(text: &str, index: &PosIndex, updates: &[(usize, Value)]) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Edits from the bottom up keep the line numbers of those above valid.
    let mut edits: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for (i, expect) in updates {
        let case = format!("/cases/{i}");
        let item = index.find(&case).value;
        let item_line = lines.get(item.line as usize - 1).map(String::as_str).unwrap_or("");
        if item_line.chars().nth(item.column as usize - 1) == Some('{') {
            return Err(format!(
                "cannot bless case {} (line {}): it is written in flow style ({{…}}); write it as a block",
                i + 1,
                item.line
            ));
        }
        let pointer = format!("{case}/expect");
        let (start, end, indent, prefix) = if index.contains(&pointer) {
            let at = index.find(&pointer);
            let key = at.key.unwrap_or(at.value);
            let first = key.line as usize - 1;
            let indent = key.column as usize - 1;
            let prefix: String = lines[first].chars().take(indent).collect();
            // The value: lines indented deeper, or `- ` items at the key's own indentation.
            let last = block_end(&lines, first, |own, item| own > indent || (own == indent && item));
            (first, last + 1, indent, prefix)
        } else {
            let name = index.find(&format!("{case}/name"));
            let key = name.key.unwrap_or(name.value);
            let indent = key.column as usize - 1;
            // The case: its keys, at `indent`, and what is indented deeper.
            let last = block_end(&lines, item.line as usize - 1, |own, _| own >= indent);
            (last + 1, last + 1, indent, " ".repeat(indent))
        };
        let rendered = yaml_out::key_value("expect", expect, indent);
        let mut new_lines: Vec<String> = rendered.lines().map(str::to_owned).collect();
        if let Some(first) = new_lines.first_mut() {
            *first = format!("{prefix}{}", first.get(indent..).unwrap_or(first.as_str()));
        }
        edits.push((start, end, new_lines));
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, end, new_lines) in edits {
        lines.splice(start..end.min(lines.len()), new_lines);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// The last line (0-based) of the block that starts on line `first` and goes on while
/// `inside(indentation, is "- " item)` holds. Blank and comment lines count only when
/// more of the block follows them.
fn block_end(lines: &[String], first: usize, inside: impl Fn(usize, bool) -> bool) -> usize {
    let mut last = first;
    for (j, line) in lines.iter().enumerate().skip(first + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let own = line.len() - trimmed.len();
        let item = trimmed == "-" || trimmed.starts_with("- ");
        if inside(own, item) {
            last = j;
        } else {
            break;
        }
    }
    last
}

/// Prints a file's problems, failures with their diffs, and what `--bless` changed.
pub fn print_run(out: &mut impl Write, run: &FileRun, style: Style) -> std::io::Result<()> {
    let file = run.path.display();
    if !run.problems.is_empty() {
        writeln!(out, "{}: {}", file, style.paint("1;31", "cannot run"))?;
        return write_diagnostics(out, &run.problems, &run.texts, style);
    }
    for case in &run.cases {
        match &case.verdict {
            Verdict::Passed => {}
            Verdict::Blessed { had_expectation } => {
                let what = if *had_expectation {
                    "expectation updated"
                } else {
                    "expectation written"
                };
                writeln!(out, "{file}:{}: {}: {what}", case.line, case.name)?;
            }
            Verdict::Failed { expected, actual } => {
                writeln!(
                    out,
                    "{file}:{}: {}: {}",
                    case.line,
                    case.name,
                    style.paint("1;31", "FAILED")
                )?;
                match expected {
                    None => writeln!(
                        out,
                        "  the case has no `expect` yet; `--bless` writes this output as its expectation:"
                    )?,
                    Some(_) => writeln!(
                        out,
                        "  {} {}",
                        style.paint("31", "- expected"),
                        style.paint("32", "+ actual")
                    )?,
                }
                write!(out, "{}", diff(expected.as_deref(), actual, style))?;
            }
        }
    }
    Ok(())
}

/// A line diff of the YAML renderings of expected and actual outcomes.
pub fn diff(expected: Option<&[Outcome]>, actual: &[Outcome], style: Style) -> String {
    let render = |o: &[Outcome]| {
        let value = serde_json::to_value(o).unwrap_or(Value::Null);
        yaml_out::block(&value, 0)
    };
    let new = render(actual);
    let Some(expected) = expected else {
        return new.lines().map(|l| format!("    {l}\n")).collect();
    };
    let old = render(expected);
    let diff = TextDiff::from_lines(&old, &new);
    let mut out = String::new();
    // Three lines of context around each change, as `diff -u`: bodies are long.
    for (n, group) in diff.grouped_ops(3).iter().enumerate() {
        if n > 0 {
            out.push_str("    …\n");
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let line = change.value().trim_end_matches('\n');
                match change.tag() {
                    ChangeTag::Equal => out.push_str(&format!("    {line}\n")),
                    ChangeTag::Delete => out.push_str(&format!("  {}\n", style.paint("31", &format!("- {line}")))),
                    ChangeTag::Insert => out.push_str(&format!("  {}\n", style.paint("32", &format!("+ {line}")))),
                }
            }
        }
    }
    out
}
