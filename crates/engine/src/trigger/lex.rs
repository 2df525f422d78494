//! The FQL lexer, token for token the one in Segment's `@segment/fql-ts` 1.10.1.
//!
//! Segment's lexer decides what its parser sees, so it is reproduced with its quirks:
//! it walks UTF-16 code units (as JavaScript strings do), only double quotes are
//! stripped later, a closing quote is consumed only when whitespace, `,`, `]`, `)` or
//! the end follows it (otherwise it opens the next string), `!=` / `<=` / `>=` need a
//! terminator after them, `1e3` is the number `1` followed by the word `e3`, and a
//! word starting with `a` or `n` loses its last letters at the very end of the input
//! (`event = ab` reads `a`). Where the reference fails to lex, [`lex`] fails too;
//! the quirks that lex fine are flagged on the tokens, so the parser can reject them.

use super::TriggerErrorKind;

/// What a token is, as fql-ts names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A word: `type`, `properties`, `true`, `track`, `\or`.
    Ident,
    /// `.` between words.
    Dot,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=` and the negation `!`.
    Operator,
    /// `and` / `or`.
    Conditional,
    /// A quoted string; its text keeps the quotes.
    String,
    /// A number as written (`-5`, `1.5`, `0.`).
    Number,
    /// `null`.
    Null,
    /// `[`
    BrackLeft,
    /// `]`
    BrackRight,
    /// `(`
    ParenLeft,
    /// `)`
    ParenRight,
    /// `,`
    Comma,
    /// The end of the input.
    Eos,
}

/// One token: its kind, its value as fql-ts has it, and where it is in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    /// The value Segment's parser reads: escapes resolved for words, quotes kept for
    /// strings, `"eos"` for the end.
    pub text: String,
    /// Byte range in the source (`end` excluded).
    pub start: usize,
    pub end: usize,
    /// Bytes the reference's lexer consumed and dropped right before the end of the
    /// input (`ab` at the end lexes as `a`): `(start, end)` of what was lost.
    pub truncated: Option<(usize, usize)>,
}

/// A lexing failure, where the reference's lexer fails as well.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub kind: TriggerErrorKind,
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

const CARRIAGE_RETURN: &str = "carriage return (`\\r`) is not allowed in FQL: use spaces or `\\n` line breaks";

/// fql-ts gives up on strings, words and numbers of this many UTF-16 units.
const MAX_LEN: usize = 100_000;

/// Splits `src` into tokens, ending with an [`Kind::Eos`] token.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer::new(src);
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    /// The source as UTF-16 code units, which is what the reference iterates over.
    units: Vec<u16>,
    /// Byte offset of each unit's character (both halves of a surrogate pair share
    /// their character's offset), plus `src.len()` at the end.
    offsets: Vec<usize>,
    pos: usize,
    tokens: Vec<Token>,
}

const EOS: Option<u16> = None;

fn ascii(c: Option<u16>) -> Option<u8> {
    c.and_then(|u| u8::try_from(u).ok()).filter(u8::is_ascii)
}

/// `/[a-z]/i`: ASCII letters only.
fn is_alpha(c: Option<u16>) -> bool {
    ascii(c).is_some_and(|b| b.is_ascii_alphabetic())
}

fn is_digit(c: Option<u16>) -> bool {
    ascii(c).is_some_and(|b| b.is_ascii_digit())
}

fn is(c: Option<u16>, ch: u8) -> bool {
    c == Some(u16::from(ch))
}

/// fql-ts' whitespace: space, tab and `\n` only (`\r` is an invalid character).
fn is_whitespace(c: Option<u16>) -> bool {
    is(c, b' ') || is(c, b'\t') || is(c, b'\n')
}

fn is_terminator(c: Option<u16>) -> bool {
    c == EOS || is_whitespace(c) || is(c, b',') || is(c, b']') || is(c, b')')
}

fn is_ident(c: Option<u16>) -> bool {
    is_alpha(c) || is_digit(c) || is(c, b'_') || is(c, b'-') || is(c, b'\\')
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        let mut units = Vec::with_capacity(src.len());
        let mut offsets = Vec::with_capacity(src.len() + 1);
        for (at, ch) in src.char_indices() {
            let mut buf = [0u16; 2];
            for unit in ch.encode_utf16(&mut buf) {
                units.push(*unit);
                offsets.push(at);
            }
        }
        offsets.push(src.len());
        Lexer {
            src,
            units,
            offsets,
            pos: 0,
            tokens: Vec::new(),
        }
    }

    fn offset(&self, pos: usize) -> usize {
        self.offsets.get(pos).copied().unwrap_or(self.src.len())
    }

    fn next(&mut self) -> Option<u16> {
        let c = self.units.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn peek(&self) -> Option<u16> {
        self.units.get(self.pos).copied()
    }

    fn backup(&mut self, count: usize) {
        self.pos = self.pos.saturating_sub(count);
    }

    /// fql-ts' `accept`: consumes `word` when it is there and a terminator follows.
    /// Otherwise it rolls back, except when the input ended in the middle: then the
    /// units read so far stay consumed (the reference's quirk), and their byte range
    /// is returned as `Err`.
    fn accept(&mut self, word: &[u8]) -> Result<bool, (usize, usize)> {
        let start = self.pos;
        let mut read = 0;
        let mut matched = true;
        for &expected in word {
            let Some(c) = self.next() else {
                return if read > 0 {
                    Err((self.offset(start), self.offset(self.pos)))
                } else {
                    Ok(false)
                };
            };
            read += 1;
            if c != u16::from(expected) {
                matched = false;
            }
            if is_terminator(Some(c)) {
                matched = false;
                break;
            }
        }
        if matched && is_terminator(self.peek()) {
            return Ok(true);
        }
        self.backup(read);
        Ok(false)
    }

    fn push(&mut self, kind: Kind, text: impl Into<String>, start_pos: usize) {
        let (start, end) = (self.offset(start_pos), self.offset(self.pos));
        self.tokens.push(Token {
            kind,
            text: text.into(),
            start,
            end,
            truncated: None,
        });
    }

    fn error(&self, kind: TriggerErrorKind, at_pos: usize, message: String) -> LexError {
        let offset = self.offset(at_pos);
        let len = self
            .src
            .get(offset..)
            .and_then(|rest| rest.chars().next())
            .map_or(0, char::len_utf8);
        LexError {
            kind,
            offset,
            len,
            message,
        }
    }

    fn char_at(&self, pos: usize) -> String {
        let offset = self.offset(pos);
        self.src
            .get(offset..)
            .and_then(|rest| rest.chars().next())
            .map_or_else(|| "end".to_owned(), String::from)
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let start = self.pos;
            let Some(c) = self.next() else {
                self.push(Kind::Eos, "eos", start);
                return Ok(());
            };
            let c = Some(c);
            if is_whitespace(c) {
                continue;
            }
            if is(c, b'!') {
                let next = self.peek();
                if is_alpha(next) || is(next, b'(') {
                    self.push(Kind::Operator, "!", start);
                    continue;
                }
            }
            if is_alpha(c) || is(c, b'!') || is(c, b'=') || is(c, b'>') || is(c, b'<') || is(c, b'\\') || is(c, b'_') {
                self.operator_or_word(start)?;
            } else if is_digit(c) || is(c, b'-') || is(c, b'+') {
                self.number(start)?;
            } else if is(c, b'"') || is(c, b'\'') {
                self.string(start)?;
            } else {
                let kind = match ascii(c) {
                    Some(b'.') => Kind::Dot,
                    Some(b'[') => Kind::BrackLeft,
                    Some(b']') => Kind::BrackRight,
                    Some(b',') => Kind::Comma,
                    Some(b'(') => Kind::ParenLeft,
                    Some(b')') => Kind::ParenRight,
                    _ => {
                        let ch = self.char_at(start);
                        let message = match ch.as_str() {
                            "&" | "|" => {
                                format!("`{ch}` is not an FQL operator: write `and` / `or`")
                            }
                            "\r" => CARRIAGE_RETURN.to_owned(),
                            _ => format!(
                                "invalid character `{}` (outside quotes FQL allows letters, digits, `_ - . , ( ) [ ] ! = < >` and `\\`)",
                                ch.escape_debug()
                            ),
                        };
                        return Err(self.error(TriggerErrorKind::InvalidCharacter, start, message));
                    }
                };
                let text = match kind {
                    Kind::Dot => ".",
                    Kind::BrackLeft => "[",
                    Kind::BrackRight => "]",
                    Kind::Comma => ",",
                    Kind::ParenLeft => "(",
                    _ => ")",
                };
                self.push(kind, text, start);
            }
        }
    }

    fn string(&mut self, start: usize) -> Result<(), LexError> {
        let quote = self.units.get(start).copied();
        let mut len = 0;
        while self.peek() != quote {
            if self.next().is_none() {
                let mut err = self.error(
                    TriggerErrorKind::UnterminatedString,
                    start,
                    "this string has no closing quote".to_owned(),
                );
                err.len = self.src.len() - err.offset;
                return Err(err);
            }
            len += 1;
            if len >= MAX_LEN {
                return Err(self.error(
                    TriggerErrorKind::TooLong,
                    start,
                    "strings are limited to 99,999 characters".to_owned(),
                ));
            }
        }
        // The closing quote; when no terminator follows it, it stays in the input and
        // opens the next string (`"a"b"` is two strings, `"a"` and `"b"`).
        let quote_byte = ascii(quote).unwrap_or(b'"');
        let _ = self.accept(&[quote_byte]);
        let (content_start, content_end) = (self.offset(start + 1), self.offset(start + 1 + len));
        let content = self.src.get(content_start..content_end).unwrap_or("");
        let q = quote_byte as char;
        self.tokens.push(Token {
            kind: Kind::String,
            text: format!("{q}{content}{q}"),
            start: self.offset(start),
            end: self.offset(start + 2 + len),
            truncated: None,
        });
        Ok(())
    }

    fn number(&mut self, start: usize) -> Result<(), LexError> {
        let mut read = 0;
        let mut decimal = false;
        let mut coming = self.peek();
        while is_digit(coming) || is(coming, b'.') {
            let at = self.pos;
            self.next();
            read += 1;
            if is(coming, b'.') {
                if is_terminator(self.peek()) {
                    return Err(self.error(
                        TriggerErrorKind::NumberFormat,
                        at,
                        "a number cannot end with `.`: write the digits after it (`1.0`) or drop it".to_owned(),
                    ));
                }
                if decimal {
                    return Err(self.error(
                        TriggerErrorKind::NumberFormat,
                        at,
                        "a number has at most one `.`".to_owned(),
                    ));
                }
                decimal = true;
            }
            if read >= MAX_LEN {
                return Err(self.error(
                    TriggerErrorKind::TooLong,
                    start,
                    "numbers are limited to 99,999 digits".to_owned(),
                ));
            }
            coming = self.peek();
        }
        let (s, e) = (self.offset(start), self.offset(self.pos));
        let text = self.src.get(s..e).unwrap_or("").to_owned();
        self.push(Kind::Number, text, start);
        Ok(())
    }

    fn operator_or_word(&mut self, start: usize) -> Result<(), LexError> {
        let first = ascii(self.units.get(start).copied()).unwrap_or(0);
        let lost = match first {
            b'=' => {
                self.push(Kind::Operator, "=", start);
                return Ok(());
            }
            b'!' => {
                if self.accept(b"=") == Ok(true) {
                    self.push(Kind::Operator, "!=", start);
                    return Ok(());
                }
                let got = self.char_at(self.pos);
                let message = if got == "=" {
                    "`!=` needs a space after it (Segment's lexer rejects `!=` followed directly by a value)".to_owned()
                } else {
                    format!("`!` must be followed by `=`, `contains(` or `match(`, not `{got}`")
                };
                let mut err = self.error(TriggerErrorKind::OperatorSpacing, start, message);
                if got != "=" {
                    err.kind = TriggerErrorKind::Syntax;
                }
                return Err(err);
            }
            b'<' | b'>' => {
                let op = if self.accept(b"=") == Ok(true) {
                    format!("{}=", first as char)
                } else {
                    (first as char).to_string()
                };
                self.push(Kind::Operator, op, start);
                return Ok(());
            }
            b'a' => match self.accept(b"nd") {
                Ok(true) => {
                    self.push(Kind::Conditional, "and", start);
                    return Ok(());
                }
                Ok(false) => None,
                Err(lost) => Some(lost),
            },
            b'o' => match self.accept(b"r") {
                Ok(true) => {
                    self.push(Kind::Conditional, "or", start);
                    return Ok(());
                }
                Ok(false) => None,
                Err(lost) => Some(lost),
            },
            b'n' => match self.accept(b"ull") {
                Ok(true) => {
                    self.push(Kind::Null, "null", start);
                    return Ok(());
                }
                Ok(false) => None,
                Err(lost) => Some(lost),
            },
            _ => None,
        };
        self.word(start, lost)
    }

    /// A word (fql-ts `lexIdent`); its first unit, at `start`, is already consumed.
    fn word(&mut self, start: usize, lost: Option<(usize, usize)>) -> Result<(), LexError> {
        let mut text: Vec<u16> = Vec::new();
        let mut c = self.units.get(start).copied();
        let mut at = start;
        loop {
            if is(c, b'\\') {
                if self.peek().is_none() {
                    return Err(self.error(
                        TriggerErrorKind::Syntax,
                        at,
                        "`\\` at the end: it escapes the character after it, and there is none".to_owned(),
                    ));
                }
                c = self.next();
            }
            if let Some(unit) = c {
                text.push(unit);
            }
            if text.len() >= MAX_LEN {
                return Err(self.error(
                    TriggerErrorKind::TooLong,
                    start,
                    "names are limited to 99,999 characters".to_owned(),
                ));
            }
            if !is_ident(self.peek()) {
                break;
            }
            at = self.pos;
            c = self.next();
        }
        let coming = self.peek();
        let allowed = coming == EOS
            || is_terminator(coming)
            || is(coming, b'.')
            || is(coming, b'(')
            || is(coming, b'=')
            || is(coming, b'!');
        if !allowed {
            let got = self.char_at(self.pos);
            let (kind, message) = match got.as_str() {
                "<" | ">" => (
                    TriggerErrorKind::OperatorSpacing,
                    format!("put a space before `{got}` (Segment's lexer rejects a name followed directly by `{got}`)"),
                ),
                "[" => (
                    TriggerErrorKind::PathSegment,
                    "FQL paths have no `[index]`: write list indexes as escaped segments, e.g. `properties.items.\\0.sku`"
                        .to_owned(),
                ),
                "\"" | "'" => (TriggerErrorKind::Syntax, format!("a space is needed between a name and the quote `{got}`")),
                "\r" => (TriggerErrorKind::InvalidCharacter, CARRIAGE_RETURN.to_owned()),
                _ => (TriggerErrorKind::Syntax, format!("unexpected `{}` after a name", got.escape_debug())),
            };
            return Err(self.error(kind, self.pos, message));
        }
        let (s, e) = (self.offset(start), self.offset(self.pos));
        self.tokens.push(Token {
            kind: Kind::Ident,
            text: String::from_utf16_lossy(&text),
            start: s,
            end: e,
            truncated: lost,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src).unwrap().into_iter().map(|t| (t.kind, t.text)).collect()
    }

    fn texts(src: &str) -> Vec<String> {
        lex(src).unwrap().into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn tokens() {
        use Kind::*;
        let table: &[(&str, &[(Kind, &str)])] = &[
            (
                "type = \"track\"",
                &[(Ident, "type"), (Operator, "="), (String, "\"track\""), (Eos, "eos")],
            ),
            (
                "a and b",
                &[(Ident, "a"), (Conditional, "and"), (Ident, "b"), (Eos, "eos")],
            ),
            (
                "x or(y)",
                &[
                    (Ident, "x"),
                    (Ident, "or"),
                    (ParenLeft, "("),
                    (Ident, "y"),
                    (ParenRight, ")"),
                    (Eos, "eos"),
                ],
            ),
            (
                "x != null",
                &[(Ident, "x"), (Operator, "!="), (Null, "null"), (Eos, "eos")],
            ),
            (
                "x <=10",
                &[
                    (Ident, "x"),
                    (Operator, "<"),
                    (Operator, "="),
                    (Number, "10"),
                    (Eos, "eos"),
                ],
            ),
            ("x <5", &[(Ident, "x"), (Operator, "<"), (Number, "5"), (Eos, "eos")]),
            ("x >= 5", &[(Ident, "x"), (Operator, ">="), (Number, "5"), (Eos, "eos")]),
            ("1e3", &[(Number, "1"), (Ident, "e3"), (Eos, "eos")]),
            (".5", &[(Dot, "."), (Number, "5"), (Eos, "eos")]),
            (
                "-.5 +5 - 0.x",
                &[
                    (Number, "-.5"),
                    (Number, "+5"),
                    (Number, "-"),
                    (Number, "0."),
                    (Ident, "x"),
                    (Eos, "eos"),
                ],
            ),
            (
                "a.0.b",
                &[(Ident, "a"), (Dot, "."), (Number, "0."), (Ident, "b"), (Eos, "eos")],
            ),
            ("first\\ name", &[(Ident, "first name"), (Eos, "eos")]),
            ("\\or", &[(Ident, "or"), (Eos, "eos")]),
            (
                "!(x)",
                &[
                    (Operator, "!"),
                    (ParenLeft, "("),
                    (Ident, "x"),
                    (ParenRight, ")"),
                    (Eos, "eos"),
                ],
            ),
            ("!contains", &[(Operator, "!"), (Ident, "contains"), (Eos, "eos")]),
            ("'a b'", &[(String, "'a b'"), (Eos, "eos")]),
            ("nothing", &[(Ident, "nothing"), (Eos, "eos")]),
            ("nullx", &[(Ident, "nullx"), (Eos, "eos")]),
            ("null=", &[(Ident, "null"), (Operator, "="), (Eos, "eos")]),
            ("andx", &[(Ident, "andx"), (Eos, "eos")]),
            ("AND", &[(Ident, "AND"), (Eos, "eos")]),
        ];
        for (src, want) in table {
            let want: Vec<_> = want.iter().map(|(k, t)| (*k, (*t).to_owned())).collect();
            assert_eq!(kinds(src), want, "{src}");
        }
    }

    #[test]
    fn closing_quote_followed_by_text_opens_the_next_string() {
        assert_eq!(
            texts(r#"event = "Say \"hi\"""#),
            ["event", "=", "\"Say \\\"", "\"hi\\\"", "\"\"", "eos"]
        );
        let toks = lex(r#""a"b""#).unwrap();
        assert_eq!((toks[0].start, toks[0].end, toks[1].start, toks[1].end), (0, 3, 2, 5));
    }

    #[test]
    fn words_lose_their_end_at_the_end_of_input() {
        for (src, word, lost) in [
            ("ab", "a", (1, 2)),
            ("an", "a", (1, 2)),
            ("no", "n", (1, 2)),
            ("nul", "n", (1, 3)),
        ] {
            let toks = lex(src).unwrap();
            assert_eq!((toks[0].text.as_str(), toks[0].truncated), (word, Some(lost)), "{src}");
        }
        for src in ["o", "a", "n", "ab c", "nope", "or"] {
            assert!(lex(src).unwrap().iter().all(|t| t.truncated.is_none()), "{src}");
        }
    }

    #[test]
    fn errors() {
        use TriggerErrorKind::*;
        let table: &[(&str, TriggerErrorKind, usize)] = &[
            ("type = \"track", UnterminatedString, 7),
            ("userId !=\"x\"", OperatorSpacing, 7),
            ("x>5", OperatorSpacing, 1),
            ("a && b", InvalidCharacter, 2),
            ("a\r\nb", InvalidCharacter, 1),
            ("type ~ 1", InvalidCharacter, 5),
            ("x = 1.", NumberFormat, 5),
            ("x = 1.2.3", NumberFormat, 7),
            ("x\\", Syntax, 1),
            ("properties.items[0]", PathSegment, 16),
            ("é = 1", InvalidCharacter, 0),
            ("x = ! 1", Syntax, 4),
            ("properties.\\😀 = 1", Syntax, 12),
        ];
        for (src, kind, offset) in table {
            let err = lex(src).unwrap_err();
            assert_eq!(
                (err.kind.clone(), err.offset),
                (kind.clone(), *offset),
                "{src}: {}",
                err.message
            );
        }
    }

    #[test]
    fn length_limits_count_utf16_units() {
        let ok = format!("\"{}\"", "x".repeat(MAX_LEN - 1));
        assert!(lex(&ok).is_ok());
        let too_long = format!("\"{}\"", "x".repeat(MAX_LEN));
        assert_eq!(lex(&too_long).unwrap_err().kind, TriggerErrorKind::TooLong);
        let astral = format!("\"{}\"", "😀".repeat(MAX_LEN / 2));
        assert_eq!(lex(&astral).unwrap_err().kind, TriggerErrorKind::TooLong);
        assert_eq!(lex(&"y".repeat(MAX_LEN)).unwrap_err().kind, TriggerErrorKind::TooLong);
    }

    #[test]
    fn unicode_inside_strings_keeps_byte_offsets() {
        let toks = lex("event = \"Ünï ✓\" and x").unwrap();
        assert_eq!(toks[2].text, "\"Ünï ✓\"");
        assert_eq!(&"event = \"Ünï ✓\" and x"[toks[3].start..toks[3].end], "and");
    }
}
