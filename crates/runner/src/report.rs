//! Printing config diagnostics: `file:line:column: error: message`, with the
//! offending line and a caret under it when stderr is a terminal.

use std::io::{IsTerminal, Write};

use encharge_engine::config::Diagnostic;

/// Writes every diagnostic to stderr. `files` gives the text for snippets.
pub fn print_diagnostics(diagnostics: &[Diagnostic], files: &[(String, String)]) {
    let snippets = std::io::stderr().is_terminal();
    let mut err = std::io::stderr().lock();
    for d in diagnostics {
        let _ = writeln!(err, "{d}");
        if let Some(snippet) = snippets.then(|| snippet(d, files)).flatten() {
            let _ = write!(err, "{snippet}");
        }
    }
}

/// The line the diagnostic points at, and a caret line under the span.
pub fn snippet(d: &Diagnostic, files: &[(String, String)]) -> Option<String> {
    let (_, text) = files.iter().find(|(name, _)| *name == d.file)?;
    let line = text.lines().nth((d.pos.line as usize).checked_sub(1)?)?;
    let number = d.pos.line.to_string();
    let pad = " ".repeat(number.len());
    let indent: String = line
        .chars()
        .take(d.pos.column as usize - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some(format!(
        "{pad} |\n{number} | {line}\n{pad} | {indent}{}\n",
        "^".repeat(d.len.max(1))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use encharge_engine::config::yaml::Pos;
    use encharge_engine::config::{ErrorKind, Severity};

    #[test]
    fn caret_sits_under_the_span() {
        let files = vec![("c.yaml".to_owned(), "a: 1\n    triger: x\n".to_owned())];
        let d = Diagnostic {
            severity: Severity::Error,
            kind: ErrorKind::UnknownKey,
            file: "c.yaml".into(),
            pos: Pos { line: 2, column: 5 },
            len: 6,
            subscription: None,
            field: None,
            message: "unknown key".into(),
            help: None,
        };
        assert_eq!(snippet(&d, &files).unwrap(), "  |\n2 |     triger: x\n  |     ^^^^^^\n");
    }
}
