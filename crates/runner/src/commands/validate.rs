//! `validate`: every check of every config given, all problems reported, for
//! people (`file:line:column: error: …` with a snippet on a terminal) and for
//! tools (`--format json`).

use std::io::Write;
use std::path::{Path, PathBuf};

use encharge_engine::config::{Diagnostic, ErrorKind, LoadOptions, Severity};
use serde_json::json;

use super::{OK, USAGE, count};
use crate::config::{Files, env_var, read_files};
use crate::report::{Style, diagnostic_json, write_diagnostics};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `file:line:column: error: message`, one per line.
    #[default]
    Text,
    /// One JSON document: `{"diagnostics": [...], "errors": N, "warnings": N}`.
    Json,
}

/// Checks each config (a file, or a directory of them) on its own. Returns the
/// exit code: 0 when there is no error (warnings allowed), 2 otherwise.
pub fn run(paths: &[PathBuf], format: Format) -> u8 {
    let mut all = Vec::new();
    let mut texts: Files = Vec::new();
    // A path that could not be read counts as one file checked (and failed).
    let mut unreadable = 0;
    for path in paths {
        let (problems, files) = check_path(path);
        all.extend(problems);
        unreadable += usize::from(files.is_empty());
        texts.extend(files);
    }
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all.len() - errors;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match format {
        Format::Json => {
            let doc = json!({
                "diagnostics": all.iter().map(diagnostic_json).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": warnings,
            });
            serde_json::to_writer_pretty(&mut out, &doc)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Format::Text => write_diagnostics(&mut out, &all, &texts, Style::stdout()),
    };
    if written.is_err() {
        return USAGE;
    }
    if format == Format::Text {
        eprintln!(
            "{} checked: {}, {}",
            count((texts.len() + unreadable) as u64, "file"),
            count(errors as u64, "error"),
            count(warnings as u64, "warning")
        );
    }
    if errors == 0 { OK } else { USAGE }
}

/// Every problem of one config, and its files (for snippets).
pub fn check_path(path: &Path) -> (Vec<Diagnostic>, Files) {
    let files = match read_files(path) {
        Ok(files) => files,
        Err(problems) => return (problems, Vec::new()),
    };
    let options = LoadOptions {
        env: &env_var,
        require_api_key: true,
        require_write_keys: true,
    };
    let mut problems = match encharge_schema::check(&files, &options) {
        Ok(loaded) => loaded.warnings,
        Err(problems) => problems,
    };
    // "No API key" is noise next to a file that could not be read at all.
    if problems.iter().any(|d| d.severity == Severity::Error) {
        problems.retain(|d| !(d.kind == ErrorKind::MissingEnv && d.file.is_empty()));
    }
    for d in &mut problems {
        // The key is a secret of the machines that send; where configs are checked (CI, a
        // laptop) it is usually not set. Say so, but let the config pass.
        if d.kind == ErrorKind::MissingEnv && d.field.as_deref() == Some("settings.api_key") {
            d.severity = Severity::Warning;
            d.message.push_str("; `send` and `serve` need it");
        }
        // Write keys are secrets of the ingest server's machine, in the same way.
        if d.kind == ErrorKind::MissingEnv
            && d.field
                .as_deref()
                .is_some_and(|f| f.starts_with("settings.write_keys."))
        {
            d.severity = Severity::Warning;
            d.message.push_str("; `serve` needs it");
        }
        if d.file.is_empty() {
            d.file = path.display().to_string();
        }
    }
    problems.sort_by(|a, b| (a.severity, &a.file, a.pos).cmp(&(b.severity, &b.file, b.pos)));
    (problems, files)
}
