//! `eval`: the expression workbench, one result line per input line.

use std::io::Write;
use std::path::PathBuf;

use encharge_engine::workbench;
use serde_json::json;

use super::{FAILED, OK, USAGE, open_sources};
use crate::input::{Record, read_records};

/// Runs `eval` and returns the exit code: 1 when any line failed.
pub fn run(files: &[PathBuf]) -> u8 {
    let sources = match open_sources(files) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return USAGE;
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for source in sources {
        let mut io_error = None;
        let read = read_records(source.reader, |record| {
            let result = match record {
                Record::Value { value, .. } => workbench::eval(&value),
                Record::Error { line, message } => {
                    json!({ "error": { "kind": "input", "message": format!("line {line}: {message}") } })
                }
            };
            failed |= result.get("error").is_some();
            let written = serde_json::to_writer(&mut out, &result)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            match written {
                Ok(()) => true,
                Err(e) => {
                    io_error = Some(e);
                    false
                }
            }
        });
        if let Some(e) = read.err().or(io_error) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return OK;
            }
            eprintln!("error: {}: {e}", source.name);
            return FAILED;
        }
    }
    if out.flush().is_err() {
        return FAILED;
    }
    if failed { FAILED } else { OK }
}
