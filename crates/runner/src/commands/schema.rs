//! `schema`: writes the JSON Schemas (`schemas/` in this repository, committed).

use std::path::Path;

use super::{FAILED, OK};

/// Writes every schema into `out` and says which files changed. Returns the exit code.
pub fn run(out: &Path) -> u8 {
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: {}: cannot create the directory: {e}", out.display());
        return FAILED;
    }
    for (name, text) in encharge_schema::generate() {
        let path = out.join(name);
        let same = std::fs::read_to_string(&path).is_ok_and(|old| old == text);
        if same {
            eprintln!("{}: unchanged", path.display());
            continue;
        }
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: {}: cannot write: {e}", path.display());
            return FAILED;
        }
        eprintln!("{}: written", path.display());
    }
    OK
}
