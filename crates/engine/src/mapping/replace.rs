//! `@replace`: literal patterns, JavaScript replacement patterns.
//!
//! mapping-kit escapes the pattern and builds a `RegExp` (flags `g` unless
//! `global: false`, `i` with `ignorecase`), then calls `String.prototype.replace`.
//! So the pattern matches literally, and the replacement understands `$$`, `$&`,
//! `` $` `` and `$'` (the escaped pattern has no groups, so `$1` and `$<x>` stay as
//! written). Without the `u` flag, `ignorecase` compares UTF-16 code units by their
//! simple upper case (`ß` and characters outside the BMP only match themselves).
//! Both pattern lengths are checked at run time too (over 10 UTF-16 units fails),
//! which is the only check `pattern2` and `replacement2` ever get.

use super::value::js_len;

/// A compiled `@replace`.
#[derive(Debug, Clone)]
pub(crate) struct Replace {
    /// The replacements, `None` when an option has a type that makes the reference
    /// return `""`: the first one, then `pattern2` / `replacement2` when both are
    /// strings (and the pattern is not empty). `Err` holds the run-time failure of
    /// an over-long option.
    pub(crate) rules: Option<(RuleOrFailure, Option<RuleOrFailure>)>,
}

/// A compiled rule, or the run-time failure of an over-long pattern or replacement.
pub(crate) type RuleOrFailure = Result<Rule, String>;

/// One pattern and its replacement.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pattern: String,
    /// The pattern canonicalized, when matching ignores case.
    folded: Option<Vec<char>>,
    replacement: Vec<Piece>,
    global: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    /// `$&`
    Match,
    /// `` $` ``
    Before,
    /// `$'`
    After,
}

impl Rule {
    /// `performReplace`'s length checks, then the compiled rule.
    pub(crate) fn new(pattern: &str, replacement: &str, global: bool, ignorecase: bool) -> Result<Rule, String> {
        if js_len(pattern) > 10 {
            return Err("@replace requires a \"pattern\" less than 10 characters".to_owned());
        }
        if js_len(replacement) > 10 {
            return Err("@replace requires a \"replacement\" less than 10 characters".to_owned());
        }
        Ok(Rule {
            pattern: pattern.to_owned(),
            folded: ignorecase.then(|| pattern.chars().map(canonicalize).collect()),
            replacement: parse_replacement(replacement),
            global,
        })
    }

    /// The pattern as written, for descriptions.
    pub(crate) fn pattern(&self) -> &str {
        &self.pattern
    }

    fn apply(&self, text: &str) -> String {
        let matches = self.find(text);
        if matches.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, end) in matches {
            out.push_str(&text[last..start]);
            for piece in &self.replacement {
                match piece {
                    Piece::Lit(s) => out.push_str(s),
                    Piece::Match => out.push_str(&text[start..end]),
                    Piece::Before => out.push_str(&text[..start]),
                    Piece::After => out.push_str(&text[end..]),
                }
            }
            last = end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Byte ranges of the matches, left to right, not overlapping.
    fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        match &self.folded {
            None => {
                for (start, m) in text.match_indices(self.pattern.as_str()) {
                    found.push((start, start + m.len()));
                    if !self.global {
                        break;
                    }
                }
            }
            Some(folded) => {
                let chars: Vec<(usize, char)> = text.char_indices().collect();
                let mut i = 0;
                while i + folded.len() <= chars.len() {
                    let hit = folded.iter().zip(&chars[i..]).all(|(p, (_, c))| *p == canonicalize(*c));
                    if hit {
                        let start = chars[i].0;
                        let end = chars.get(i + folded.len()).map_or(text.len(), |(at, _)| *at);
                        found.push((start, end));
                        if !self.global {
                            break;
                        }
                        i += folded.len();
                    } else {
                        i += 1;
                    }
                }
            }
        }
        found
    }
}

impl Replace {
    /// Runs both replacements on `text`.
    pub(crate) fn apply(&self, text: &str) -> Result<String, String> {
        let Some((first, second)) = &self.rules else {
            return Ok(String::new());
        };
        let mut out = first.as_ref().map_err(Clone::clone)?.apply(text);
        if let Some(second) = second {
            out = second.as_ref().map_err(Clone::clone)?.apply(&out);
        }
        Ok(out)
    }
}

/// The ECMAScript `Canonicalize` of a non-Unicode case-insensitive `RegExp`.
fn canonicalize(c: char) -> char {
    if u32::from(c) > 0xFFFF {
        return c;
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if u32::from(u) <= 0xFFFF => {
            if u32::from(c) >= 128 && u32::from(u) < 128 {
                c
            } else {
                u
            }
        }
        _ => c,
    }
}

fn parse_replacement(src: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            lit.push(c);
            continue;
        }
        let special = match chars.peek() {
            Some('$') => {
                lit.push('$');
                chars.next();
                continue;
            }
            Some('&') => Piece::Match,
            Some('`') => Piece::Before,
            Some('\'') => Piece::After,
            // `$1`, `$<name>` and a lone `$` stay as written: there are no groups.
            _ => {
                lit.push('$');
                continue;
            }
        };
        chars.next();
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(special);
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pattern: &str, replacement: &str, global: bool, ignorecase: bool, text: &str) -> String {
        match Rule::new(pattern, replacement, global, ignorecase) {
            Ok(rule) => rule.apply(text),
            Err(e) => e,
        }
    }

    #[test]
    fn replaces_as_javascript() {
        let cases = [
            ("a", "", true, false, "banana", "bnn"),
            ("a", "b", false, false, "banana", "bbnana"),
            (".", "!", true, false, "a.b.c", "a!b!c"),
            ("(x)*", "-", true, false, "a(x)*b", "a-b"),
            ("b", "$&$&", true, false, "abc", "abbc"),
            ("b", "[$`|$']", true, false, "abc", "a[a|c]c"),
            ("b", "$$1$1$<n>$", true, false, "abc", "a$1$1$<n>$c"),
            ("m", "#", true, true, "MiXeD CaSe", "#iXeD CaSe"),
            ("ss", "x", true, true, "Straße SS", "Straße x"),
            ("é", "e", true, true, "ÉTÉ", "eTe"),
            ("k", "x", true, true, "\u{212a}k", "\u{212a}x"),
            ("🚀", "rocket", true, false, "a 🚀 b", "a rocket b"),
            ("aa", "b", true, false, "aaa", "ba"),
            (
                "abcdefghijk",
                "",
                true,
                false,
                "x",
                "@replace requires a \"pattern\" less than 10 characters",
            ),
            (
                "a",
                "abcdefghijk",
                true,
                false,
                "x",
                "@replace requires a \"replacement\" less than 10 characters",
            ),
        ];
        for (pattern, replacement, global, ignorecase, text, want) in cases {
            assert_eq!(
                run(pattern, replacement, global, ignorecase, text),
                want,
                "{pattern} {replacement} {text}"
            );
        }
    }
}
