//! Finding and reading config files; the engine compiles them.

use std::path::{Path, PathBuf};

use encharge_engine::config::yaml::Pos;
use encharge_engine::config::{Diagnostic, ErrorKind, LoadOptions, Loaded, Severity, load};

/// The presets, embedded: the config when none is given.
pub const PRESETS: &str = include_str!("../../../mappings/presets.yaml");
/// The name the embedded presets go by in messages.
pub const PRESETS_NAME: &str = "<embedded presets>";

/// Reads a config file, or every `*.yaml`/`*.yml` file of a directory, into `(name, text)` pairs.
pub fn read_files(path: &Path) -> Result<Vec<(String, String)>, Vec<Diagnostic>> {
    let paths: Vec<PathBuf> = if path.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|e| vec![problem(path, format!("cannot read the directory: {e}"))])?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(vec![problem(path, "the directory has no .yaml files".to_owned())]);
        }
        paths
    } else {
        vec![path.to_owned()]
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match std::fs::read(&p) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push((p.display().to_string(), text)),
                Err(e) => {
                    let offset = e.utf8_error().valid_up_to();
                    let before = &e.as_bytes()[..offset];
                    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                    let mut d = problem(
                        &p,
                        format!("the file is not UTF-8 text (invalid byte at offset {offset})"),
                    );
                    d.pos.line = u32::try_from(line).unwrap_or(u32::MAX);
                    problems.push(d);
                }
            },
            Err(e) => problems.push(problem(&p, format!("cannot read the file: {e}"))),
        }
    }
    if problems.is_empty() { Ok(files) } else { Err(problems) }
}

fn problem(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        kind: ErrorKind::Empty,
        file: path.display().to_string(),
        pos: Pos { line: 1, column: 1 },
        len: 1,
        subscription: None,
        field: None,
        message,
        help: None,
    }
}

/// The environment, as `${VAR}` sees it.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Config files as `(name, text)`, kept to print snippets under diagnostics.
pub type Files = Vec<(String, String)>;

/// Loads `--config`, or the embedded presets when there is none.
pub fn load_config(path: Option<&Path>, require_api_key: bool) -> Result<(Loaded, Files), Vec<Diagnostic>> {
    let files = match path {
        Some(p) => read_files(p)?,
        None => vec![(PRESETS_NAME.to_owned(), PRESETS.to_owned())],
    };
    let options = LoadOptions {
        env: &env_var,
        require_api_key,
    };
    let loaded = load(&files, &options)?;
    Ok((loaded, files))
}
