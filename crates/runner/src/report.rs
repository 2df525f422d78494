//! Printing config diagnostics: `file:line:column: error: message`, with the
//! offending line and a caret under it when the output is a terminal, or as JSON.

use std::io::{IsTerminal, Write};

use encharge_engine::config::{Diagnostic, ErrorKind, Severity};
use serde_json::{Value, json};

/// How to draw for one output stream: snippets and colours on a terminal only,
/// and no colours when `NO_COLOR` is set (<https://no-color.org>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Print the offending line and a caret under each diagnostic.
    pub snippets: bool,
    /// Use ANSI colours.
    pub color: bool,
}

impl Style {
    /// The style for a stream, given whether it is a terminal.
    pub fn for_terminal(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            snippets: is_terminal,
            color: is_terminal && !no_color,
        }
    }

    /// The style for stdout.
    pub fn stdout() -> Style {
        Style::for_terminal(std::io::stdout().is_terminal())
    }

    /// The style for stderr.
    pub fn stderr() -> Style {
        Style::for_terminal(std::io::stderr().is_terminal())
    }

    /// `text` in an ANSI style (e.g. `"1;31"`, bold red), or as it is without colours.
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Writes every diagnostic to stderr. `files` gives the text for snippets.
pub fn print_diagnostics(diagnostics: &[Diagnostic], files: &[(String, String)]) {
    let mut err = std::io::stderr().lock();
    let _ = write_diagnostics(&mut err, diagnostics, files, Style::stderr());
}

/// Writes diagnostics as text, one per line, each followed by its snippet when `style` says so.
pub fn write_diagnostics(
    out: &mut impl Write,
    diagnostics: &[Diagnostic],
    files: &[(String, String)],
    style: Style,
) -> std::io::Result<()> {
    for d in diagnostics {
        let line = d.to_string();
        let label = match d.severity {
            Severity::Error => ": error: ",
            Severity::Warning => ": warning: ",
        };
        // Colour the severity only; the line stays one greppable `file:line:column: …`.
        match line.split_once(label) {
            Some((at, rest)) if style.color => {
                let code = if d.severity == Severity::Error { "1;31" } else { "1;33" };
                let word = label.trim_matches([':', ' ']);
                writeln!(out, "{}: {}: {rest}", style.paint("1", at), style.paint(code, word))?;
            }
            _ => writeln!(out, "{line}")?,
        }
        if let Some(snippet) = style.snippets.then(|| snippet(d, files)).flatten() {
            write!(out, "{snippet}")?;
        }
    }
    Ok(())
}

/// The line the diagnostic points at, and a caret line under the span.
pub fn snippet(d: &Diagnostic, files: &[(String, String)]) -> Option<String> {
    let (_, text) = files.iter().find(|(name, _)| *name == d.file)?;
    let line = text.lines().nth((d.pos.line as usize).checked_sub(1)?)?;
    let number = d.pos.line.to_string();
    let pad = " ".repeat(number.len());
    let indent: String = line
        .chars()
        .take((d.pos.column as usize).saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some(format!(
        "{pad} |\n{number} | {line}\n{pad} | {indent}{}\n",
        "^".repeat(d.len.max(1))
    ))
}

/// A diagnostic as JSON, for `validate --format json`.
pub fn diagnostic_json(d: &Diagnostic) -> Value {
    json!({
        "file": d.file,
        "line": d.pos.line,
        "column": d.pos.column,
        "length": d.len,
        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "kind": kind_name(d.kind),
        "subscription": d.subscription,
        "field": d.field,
        "message": d.message,
        "help": d.help,
        "text": d.to_string(),
    })
}

/// A stable name for each kind of problem, for tools.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Yaml => "yaml",
        ErrorKind::UnknownKey => "unknown_key",
        ErrorKind::Shape => "shape",
        ErrorKind::Version => "version",
        ErrorKind::MissingEnv => "missing_env",
        ErrorKind::DuplicateSetting => "duplicate_setting",
        ErrorKind::DuplicateName => "duplicate_name",
        ErrorKind::UnknownAction => "unknown_action",
        ErrorKind::Trigger => "trigger",
        ErrorKind::UnknownField => "unknown_field",
        ErrorKind::RequiredField => "required_field",
        ErrorKind::Mapping => "mapping",
        ErrorKind::Empty => "empty",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encharge_engine::config::yaml::Pos;

    fn diagnostic() -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            kind: ErrorKind::UnknownKey,
            file: "c.yaml".into(),
            pos: Pos { line: 2, column: 5 },
            len: 6,
            subscription: None,
            field: None,
            message: "unknown key".into(),
            help: None,
        }
    }

    #[test]
    fn caret_sits_under_the_span() {
        let files = vec![("c.yaml".to_owned(), "a: 1\n    triger: x\n".to_owned())];
        assert_eq!(
            snippet(&diagnostic(), &files).unwrap(),
            "  |\n2 |     triger: x\n  |     ^^^^^^\n"
        );
    }

    #[test]
    fn plain_and_coloured_text() {
        let files = vec![("c.yaml".to_owned(), "a: 1\n    triger: x\n".to_owned())];
        let mut plain = Vec::new();
        write_diagnostics(&mut plain, &[diagnostic()], &files, Style::default()).unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), "c.yaml:2:5: error: unknown key\n");
        let mut coloured = Vec::new();
        let style = Style {
            snippets: true,
            color: true,
        };
        write_diagnostics(&mut coloured, &[diagnostic()], &files, style).unwrap();
        assert_eq!(
            String::from_utf8(coloured).unwrap(),
            "\x1b[1mc.yaml:2:5\x1b[0m: \x1b[1;31merror\x1b[0m: unknown key\n  |\n2 |     triger: x\n  |     ^^^^^^\n"
        );
    }
}
