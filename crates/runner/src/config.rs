//! Finding and reading config files; the engine compiles them.

use std::path::{Path, PathBuf};

use std::io::Read;

use encharge_engine::config::yaml::Pos;
use encharge_engine::config::{Diagnostic, ErrorKind, LoadOptions, Loaded, Severity};

/// The largest config or test file we read. Real ones are a few kilobytes; a bigger file
/// is a mistake (a log, a dump), refused before it is read into memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

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
        match read_text(&p) {
            Ok(text) => files.push((p.display().to_string(), text)),
            Err(d) => problems.push(*d),
        }
    }
    if problems.is_empty() { Ok(files) } else { Err(problems) }
}

/// An I/O error in words, without Rust's "(os error 2)".
pub fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "there is no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Reads one UTF-8 text file of at most [`MAX_FILE_BYTES`].
pub fn read_text(path: &Path) -> Result<String, Box<Diagnostic>> {
    let file = std::fs::File::open(path).map_err(|e| {
        let mut d = problem(path, format!("cannot read the file: {}", io_words(&e)));
        if e.kind() == std::io::ErrorKind::NotFound {
            d.help = Some("check the path".to_owned());
        }
        Box::new(d)
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Box::new(problem(path, format!("cannot read the file: {e}"))))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Box::new(problem(
            path,
            format!(
                "the file is larger than {} MiB; a config or test file is never that big",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&e.as_bytes()[..offset]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let mut d = problem(
            path,
            format!("the file is not UTF-8 text (invalid byte at offset {offset})"),
        );
        d.pos = Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        };
        d.help = Some("save it as UTF-8".to_owned());
        Box::new(d)
    })
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
    let (loaded, files) = load_config_files(path, require_api_key);
    loaded.map(|l| (l, files))
}

/// Loads the config of `serve`: the API key and the `${VAR}`s of `settings.write_keys` must be set.
pub fn load_serve_config(path: &Path) -> Result<(Loaded, Files), Vec<Diagnostic>> {
    let (loaded, files) = load_with(Some(path), true, true);
    loaded.map(|l| (l, files))
}

/// Like [`load_config`], and gives the files read even on failure, for snippets.
///
/// Every command loads its config here: the JSON Schema and the engine's checks
/// ([`encharge_schema::check`]), so a mistake reads the same in `map`, `send`,
/// `test` and `validate`.
pub fn load_config_files(path: Option<&Path>, require_api_key: bool) -> (Result<Loaded, Vec<Diagnostic>>, Files) {
    // Only `serve` takes write keys; the other commands ignore them.
    load_with(path, require_api_key, false)
}

fn load_with(
    path: Option<&Path>,
    require_api_key: bool,
    require_write_keys: bool,
) -> (Result<Loaded, Vec<Diagnostic>>, Files) {
    let files = match path {
        Some(p) => match read_files(p) {
            Ok(files) => files,
            Err(problems) => return (Err(problems), Vec::new()),
        },
        None => vec![(PRESETS_NAME.to_owned(), PRESETS.to_owned())],
    };
    let options = LoadOptions {
        env: &env_var,
        require_api_key,
        require_write_keys,
    };
    (encharge_schema::check(&files, &options), files)
}
