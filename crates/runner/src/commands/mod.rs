//! One module per subcommand.

pub mod account;
pub mod eval;
pub mod map;
pub mod schema;
pub mod send;
pub mod test;
pub mod validate;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Exit codes.
pub const OK: u8 = 0;
/// Some of the work failed.
pub const FAILED: u8 = 1;
/// Bad usage or bad config.
pub const USAGE: u8 = 2;

/// An input to read: a named file or stdin.
pub struct Source {
    /// The file name, or `-` for stdin.
    pub name: String,
    /// The open reader.
    pub reader: Box<dyn BufRead>,
}

/// Opens every FILE (stdin for none or `-`); reports and skips files that cannot be opened.
pub fn open_sources(files: &[PathBuf]) -> Result<Vec<Source>, String> {
    if files.is_empty() {
        return Ok(vec![stdin()]);
    }
    files
        .iter()
        .map(|path| {
            if path == Path::new("-") {
                return Ok(stdin());
            }
            let file = open_file(path)?;
            Ok(Source {
                name: path.display().to_string(),
                reader: Box::new(BufReader::with_capacity(256 * 1024, file)),
            })
        })
        .collect()
}

/// `n` and a noun, plural unless `n` is 1: "1 event", "3 events".
pub fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Opens a file of events; a directory is refused here, not at its first read.
pub fn open_file(path: &Path) -> Result<std::fs::File, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    match file.metadata() {
        Ok(m) if m.is_dir() => Err(format!("{}: is a directory, not a file of events", path.display())),
        _ => Ok(file),
    }
}

fn stdin() -> Source {
    Source {
        name: "-".to_owned(),
        reader: Box::new(BufReader::with_capacity(256 * 1024, std::io::stdin())),
    }
}
