//! Our reading of FQL: a small grammar over Segment's tokens, which rejects the
//! traps that have a correct spelling and warns about those that have none.
//!
//! ```text
//! expr      = term { ("and" | "or") term }      one of and/or per level
//! term      = "(" expr ")" | condition | ["!"] call
//! condition = field op value                    op: = != < <= > >=
//! call      = ("contains" | "match") "(" field "," value ")"
//! value     = "double-quoted" | number | word | null
//! ```
//!
//! Everything this grammar accepts is then checked against Segment's own reading
//! (see [`super::segment`]) before it is accepted. The conditions themselves are
//! built by the same functions as Segment's nodes ([`super::eval`]), so their
//! meaning is Segment's. Errors carry the byte offset, a reason and, where one
//! exists, the whole expression rewritten.

use super::eval::{Field, JsVal, Leaf, Path, condition_leaf, condition_root, function_leaf, name_under};
use super::lex::{Kind, LexError, Token};
use super::{MAX_DEPTH, TriggerError, TriggerErrorKind, TriggerWarning};

const TOP_FIELDS: [&str; 4] = ["type", "event", "name", "userId"];
const ROOTS: [&str; 7] = ["type", "event", "name", "userId", "properties", "traits", "context"];

/// The result of our reading.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub root: Node,
    /// Conditions in source order.
    pub conditions: Vec<CondInfo>,
    pub warnings: Vec<super::TriggerWarning>,
    /// Whether parentheses nest (Segment fails to parse those).
    pub nested: bool,
}

/// The and/or tree of our reading.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Condition(usize),
    /// Two or more terms joined by the same `and`/`or`.
    Group {
        or: bool,
        children: Vec<(Node, Term)>,
        paren: bool,
    },
}

/// Where a term of a group is, and whether it is in its own parentheses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Term {
    start: usize,
    end: usize,
    paren: bool,
}

/// One condition as parsed.
#[derive(Debug, Clone)]
pub(crate) struct CondInfo {
    /// Byte range of its text (from `!` for a negated call).
    pub start: usize,
    pub end: usize,
    /// Index of its first token (the function name for calls), to find it in Segment's tree.
    pub at: usize,
    pub leaf: Leaf,
    /// Whether it is a `contains()`/`match()` call.
    pub call: bool,
    /// Its exact opposite, where FQL can spell one (for the help of a negation).
    pub negation: Option<String>,
}

/// Reads normalized tokens (ending with the end token).
pub(crate) fn parse(src: &str, tokens: &[Token]) -> Result<Parsed, TriggerError> {
    let mut p = Parser {
        src,
        tokens,
        i: 0,
        conditions: Vec::new(),
        warnings: Vec::new(),
        depth: 0,
        nested: false,
    };
    if tokens.iter().all(|t| t.kind == Kind::Eos) {
        return Err(error(
            TriggerErrorKind::Empty,
            0,
            src.len(),
            "the trigger is empty: write a condition such as `type = \"track\"`",
            None,
        ));
    }
    let root = p.group(None)?;
    Ok(Parsed {
        root,
        conditions: p.conditions,
        warnings: p.warnings,
        nested: p.nested,
    })
}

fn error(
    kind: TriggerErrorKind,
    offset: usize,
    len: usize,
    message: impl Into<String>,
    help: Option<String>,
) -> TriggerError {
    TriggerError {
        offset,
        len,
        kind,
        message: message.into(),
        help,
    }
}

/// `src` with `start..end` replaced.
fn replace(src: &str, start: usize, end: usize, with: &str) -> String {
    let (start, end) = (start.min(src.len()), end.min(src.len()).max(start.min(src.len())));
    format!(
        "{}{with}{}",
        src.get(..start).unwrap_or_default(),
        src.get(end..).unwrap_or_default()
    )
}

/// `src` without `start..end` and the blanks on one side of it.
fn remove(src: &str, start: usize, end: usize) -> String {
    let before = src.get(..start).unwrap_or_default();
    let after = src.get(end..).unwrap_or_default();
    if before.trim().is_empty() {
        format!("{before}{}", after.trim_start())
    } else {
        format!("{}{after}", before.trim_end())
    }
}

/// Turns a lexing failure into an error with a fix where one is obvious.
pub(crate) fn lex_error(src: &str, e: LexError) -> TriggerError {
    let at = e.offset;
    let rest = src.get(at..).unwrap_or_default();
    let help = match e.kind {
        TriggerErrorKind::OperatorSpacing if rest.starts_with("!=") => {
            let spaced = replace(src, at + 2, at + 2, " ");
            let glued = src
                .get(..at)
                .is_some_and(|b| !b.is_empty() && !b.ends_with([' ', '\t', '\n']));
            Some(if glued { replace(&spaced, at, at, " ") } else { spaced })
        }
        TriggerErrorKind::OperatorSpacing => {
            let op_len = if rest.get(1..2) == Some("=") { 2 } else { 1 };
            let after = rest.get(op_len..).unwrap_or_default();
            let spaced = if after.starts_with([' ', '\t', '\n']) {
                src.to_owned()
            } else {
                replace(src, at + op_len, at + op_len, " ")
            };
            Some(replace(&spaced, at, at, " "))
        }
        TriggerErrorKind::InvalidCharacter if rest.starts_with("&&") => Some(replace(src, at, at + 2, "and")),
        TriggerErrorKind::InvalidCharacter if rest.starts_with("||") => Some(replace(src, at, at + 2, "or")),
        TriggerErrorKind::InvalidCharacter if rest.starts_with('\r') => Some(src.replace('\r', "")),
        TriggerErrorKind::PathSegment => rest.find(']').and_then(|close| {
            let inner = rest.get(1..close)?;
            let inner = inner.trim_matches(['"', '\'']);
            (!inner.is_empty()).then(|| replace(src, at, at + close + 1, &format!(".{}", escape_segment(inner))))
        }),
        _ => None,
    };
    error(e.kind, e.offset, e.len, e.message, help)
}

/// A path segment written so that Segment's lexer reads it as one word: a leading
/// digit or `-`, a keyword and anything but letters, digits, `_` and `-` get a `\`.
fn escape_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 1);
    let keyword = matches!(segment, "and" | "or" | "null");
    for (i, c) in segment.chars().enumerate() {
        let plain = c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let leading = i == 0 && (keyword || c.is_ascii_digit() || c == '-');
        if !plain || leading {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The field the user probably meant by `root`.
fn suggest_root(root: &str) -> Option<&'static str> {
    let aliases: &[(&str, &str)] = &[
        ("trait", "traits"),
        ("property", "properties"),
        ("props", "properties"),
        ("prop", "properties"),
        ("ctx", "context"),
    ];
    if let Some((_, to)) = aliases.iter().find(|(from, _)| from.eq_ignore_ascii_case(root)) {
        return Some(to);
    }
    ROOTS
        .into_iter()
        .filter(|r| {
            r.eq_ignore_ascii_case(root)
                || (root.len() >= 4 && distance(&root.to_ascii_lowercase(), &r.to_ascii_lowercase()) <= 2)
        })
        .min_by_key(|r| distance(root, r))
}

static END: Token = Token {
    kind: Kind::Eos,
    text: String::new(),
    start: 0,
    end: 0,
    truncated: None,
};

#[derive(Clone)]
struct Parser<'a> {
    src: &'a str,
    tokens: &'a [Token],
    i: usize,
    conditions: Vec<CondInfo>,
    warnings: Vec<TriggerWarning>,
    depth: usize,
    nested: bool,
}

impl<'a> Parser<'a> {
    fn at(&self, i: usize) -> &'a Token {
        // The list ends with the end token: reading past it reads it again.
        self.tokens.get(i).or_else(|| self.tokens.last()).unwrap_or(&END)
    }

    fn peek(&self) -> &'a Token {
        self.at(self.i)
    }

    fn text(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or_default()
    }

    fn warn(&mut self, start: usize, end: usize, message: String) {
        self.warnings.push(TriggerWarning {
            offset: start,
            len: end.saturating_sub(start),
            message,
        });
    }

    fn token_error(
        &self,
        t: &Token,
        kind: TriggerErrorKind,
        message: impl Into<String>,
        help: Option<String>,
    ) -> TriggerError {
        error(kind, t.start, t.end - t.start, message, help)
    }

    /// The terms of one level up to `)` (when `open` is the `(` token) or the end.
    fn group(&mut self, open: Option<usize>) -> Result<Node, TriggerError> {
        let mut terms: Vec<(Node, Term)> = Vec::new();
        let mut conjunctions: Vec<&'a Token> = Vec::new();
        loop {
            let t = self.peek();
            let after_conj = conjunctions.len() == terms.len() && !terms.is_empty();
            match t.kind {
                Kind::Conditional if after_conj => {
                    let prev = conjunctions.last().map_or("and", |c| c.text.as_str());
                    let message = format!(
                        "`{}` right after `{prev}`: a condition is missing between them (Segment skips the extra one)",
                        t.text
                    );
                    return Err(self.token_error(
                        t,
                        TriggerErrorKind::Syntax,
                        message,
                        Some(remove(self.src, t.start, t.end)),
                    ));
                }
                Kind::Conditional | Kind::Ident if terms.is_empty() && (t.text == "and" || t.text == "or") => {
                    let message = format!("`{}` with no condition before it (Segment ignores it)", t.text);
                    return Err(self.token_error(
                        t,
                        TriggerErrorKind::Syntax,
                        message,
                        Some(remove(self.src, t.start, t.end)),
                    ));
                }
                Kind::ParenRight | Kind::Eos if after_conj => {
                    let Some(c) = conjunctions.last() else { break };
                    let message = format!("`{}` with no condition after it (Segment ignores it)", c.text);
                    return Err(self.token_error(
                        c,
                        TriggerErrorKind::Syntax,
                        message,
                        Some(remove(self.src, c.start, c.end)),
                    ));
                }
                Kind::ParenRight if open.is_some() => {
                    return Err(self.token_error(
                        t,
                        TriggerErrorKind::Syntax,
                        "empty parentheses: write a condition inside them",
                        None,
                    ));
                }
                _ => {}
            }
            let (node, term) = self.term()?;
            terms.push((node, term));
            let t = self.peek();
            match t.kind {
                Kind::Conditional => {
                    conjunctions.push(t);
                    self.i += 1;
                }
                Kind::ParenRight if open.is_some() => {
                    self.i += 1;
                    break;
                }
                Kind::ParenRight => {
                    let message = "this `)` closes no `(` (Segment ignores it)";
                    return Err(self.token_error(
                        t,
                        TriggerErrorKind::Syntax,
                        message,
                        Some(remove(self.src, t.start, t.end)),
                    ));
                }
                Kind::Eos => {
                    if let Some(o) = open {
                        let o = self.at(o);
                        let message = "this `(` is never closed";
                        return Err(self.token_error(
                            o,
                            TriggerErrorKind::Syntax,
                            message,
                            Some(format!("{})", self.src.trim_end())),
                        ));
                    }
                    break;
                }
                Kind::Ident if t.text == "and" || t.text == "or" => {
                    let message = format!(
                        "put a space after `{}`: Segment's lexer reads `{}(` as a name and ignores it",
                        t.text, t.text
                    );
                    let help = replace(self.src, t.end, t.end, " ");
                    return Err(self.token_error(t, TriggerErrorKind::OperatorSpacing, message, Some(help)));
                }
                Kind::Ident if t.text.eq_ignore_ascii_case("and") || t.text.eq_ignore_ascii_case("or") => {
                    let lower = t.text.to_ascii_lowercase();
                    let message = format!(
                        "write `{lower}` in lower case: Segment reads `{}` as an unknown name and ignores it",
                        t.text
                    );
                    let help = replace(self.src, t.start, t.end, &lower);
                    return Err(self.token_error(t, TriggerErrorKind::Syntax, message, Some(help)));
                }
                _ => {
                    let prev = terms.last().map_or("", |(_, term)| self.text(term.start, term.end));
                    let message = format!(
                        "expected `and`, `or`{} after `{prev}`, found `{}` (Segment ignores text it does not expect)",
                        if open.is_some() { " or `)`" } else { " or the end" },
                        self.text(t.start, t.end)
                    );
                    let help = (t.kind == Kind::Comma).then(|| remove(self.src, t.start, t.end));
                    return Err(self.token_error(t, TriggerErrorKind::Syntax, message, help));
                }
            }
        }
        if let Some(first) = conjunctions.first()
            && let Some(other) = conjunctions.iter().find(|c| c.text != first.text)
        {
            return Err(self.mixed(&terms, &conjunctions, other));
        }
        let or = conjunctions.first().is_some_and(|c| c.text == "or");
        if terms.len() == 1
            && let Some((node, _)) = terms.pop()
        {
            return Ok(node);
        }
        Ok(Node::Group {
            or,
            children: terms,
            paren: open.is_some(),
        })
    }

    fn mixed(&self, terms: &[(Node, Term)], conjunctions: &[&Token], other: &Token) -> TriggerError {
        let last = conjunctions.last().map_or("or", |c| c.text.as_str());
        let outcome = if last == "or" {
            "any one of them matches"
        } else {
            "all of them match"
        };
        let message = format!(
            "`and` and `or` are mixed without parentheses: Segment does not give `and` precedence, it applies the last one \
             (`{last}`) to all {} conditions here, so this matches when {outcome}. Add parentheses to say which you mean",
            terms.len()
        );
        // The usual reading, `and` before `or`, spelled with parentheses.
        let mut runs: Vec<Vec<&str>> = vec![Vec::new()];
        for (k, (_, term)) in terms.iter().enumerate() {
            if let Some(run) = runs.last_mut() {
                run.push(self.text(term.start, term.end));
            }
            if conjunctions.get(k).is_some_and(|c| c.text == "or") {
                runs.push(Vec::new());
            }
        }
        let rewritten: Vec<String> = runs
            .iter()
            .map(|run| {
                if run.len() > 1 {
                    format!("({})", run.join(" and "))
                } else {
                    run.concat()
                }
            })
            .collect();
        let (start, end) = (
            terms.first().map_or(0, |(_, t)| t.start),
            terms.last().map_or(0, |(_, t)| t.end),
        );
        let help = replace(self.src, start, end, &rewritten.join(" or "));
        self.token_error(other, TriggerErrorKind::MixedAndOr, message, Some(help))
    }

    fn term(&mut self) -> Result<(Node, Term), TriggerError> {
        let t = self.peek();
        match t.kind {
            Kind::ParenLeft => {
                if self.depth >= MAX_DEPTH {
                    let message = format!("parentheses nest deeper than {MAX_DEPTH} levels");
                    return Err(self.token_error(t, TriggerErrorKind::TooDeep, message, None));
                }
                let open = self.i;
                self.i += 1;
                self.depth += 1;
                self.nested |= self.depth >= 2;
                let node = self.group(Some(open))?;
                self.depth -= 1;
                let end = self.at(self.i - 1).end;
                Ok((
                    node,
                    Term {
                        start: t.start,
                        end,
                        paren: true,
                    },
                ))
            }
            Kind::Operator if t.text == "!" => {
                let next = self.at(self.i + 1);
                if next.kind == Kind::Ident && (next.text == "contains" || next.text == "match") {
                    self.i += 1;
                    return self.call(Some(t));
                }
                Err(self.negation(t))
            }
            Kind::Ident if t.text == "contains" || t.text == "match" => self.call(None),
            Kind::Ident if t.text == "not" => Err(self.negation(t)),
            Kind::Ident => self.condition(),
            _ => {
                let message = format!(
                    "expected a condition such as `type = \"track\"`, found `{}`",
                    if t.kind == Kind::Eos {
                        "the end"
                    } else {
                        self.text(t.start, t.end)
                    }
                );
                Err(self.token_error(t, TriggerErrorKind::Syntax, message, None))
            }
        }
    }

    /// `!` or `not` before something that is not `contains(`/`match(`.
    fn negation(&self, t: &Token) -> TriggerError {
        let word = if t.kind == Kind::Ident { "`not`" } else { "`!`" };
        let mut probe = self.clone();
        probe.i += 1;
        let negated = probe.term().ok().and_then(|(node, term)| {
            let text = probe.negate(&node)?;
            // Parentheses only where other conditions sit beside the negated group.
            let alone = self.text(0, t.start).trim().is_empty()
                && self.src.get(term.end..).is_some_and(|r| r.trim().is_empty());
            let multi = matches!(node, Node::Group { .. }) && !alone;
            Some((if multi { format!("({text})") } else { text }, term.end))
        });
        let message = format!(
            "{word} is ignored by Segment here (it reads the condition as if {word} were not there); FQL negates only \
             `contains(…)` and `match(…)`, so write the opposite comparison{}",
            if negated.is_some() {
                ""
            } else {
                " (e.g. `!=` for `=`): this one has no exact opposite in FQL"
            }
        );
        let help = negated.map(|(text, end)| replace(self.src, t.start, end, &text));
        self.token_error(t, TriggerErrorKind::Negation, message, help)
    }

    /// The exact opposite of a node, by De Morgan, when every condition has one.
    fn negate(&self, node: &Node) -> Option<String> {
        match node {
            Node::Condition(i) => self.conditions.get(*i)?.negation.clone(),
            Node::Group { or, children, .. } => {
                let parts: Option<Vec<String>> = children
                    .iter()
                    .map(|(child, _)| {
                        let text = self.negate(child)?;
                        Some(if matches!(child, Node::Group { .. }) {
                            format!("({text})")
                        } else {
                            text
                        })
                    })
                    .collect();
                Some(parts?.join(if *or { " and " } else { " or " }))
            }
        }
    }

    /// A field word: checks it for Segment's path traps and returns it.
    fn field(&mut self) -> Result<&'a Token, TriggerError> {
        let t = self.peek();
        if t.kind != Kind::Ident {
            let message = format!(
                "expected a field such as `properties.plan`, found `{}`",
                self.text(t.start, t.end)
            );
            return Err(self.token_error(t, TriggerErrorKind::Syntax, message, None));
        }
        let dot = self.at(self.i + 1);
        if dot.kind == Kind::Dot {
            let segment = self.at(self.i + 2);
            let (message, help) = match segment.kind {
                Kind::Conditional | Kind::Null => (
                    format!(
                        "Segment reads `{}` in a path as the keyword, so this condition never matches; escape it as `\\{}`",
                        segment.text, segment.text
                    ),
                    Some(replace(self.src, segment.start, segment.start, "\\")),
                ),
                Kind::Number => (
                    "Segment reads a path segment that starts with a digit as a number, so this condition never matches; \
                     escape it with `\\` (e.g. `items.\\0.sku`)"
                        .to_owned(),
                    Some(replace(self.src, segment.start, segment.start, "\\")),
                ),
                _ => ("a path cannot end with `.`: write the name after it".to_owned(), None),
            };
            let (start, end) = (
                t.start,
                if segment.kind == Kind::Eos {
                    dot.end
                } else {
                    segment.end
                },
            );
            return Err(error(TriggerErrorKind::PathSegment, start, end - start, message, help));
        }
        self.i += 1;
        Ok(t)
    }

    fn unsupported_field(&self, t: &Token, call: bool) -> TriggerError {
        let root = t.text.split('.').next().unwrap_or_default();
        let root_src_end = t.start + self.text(t.start, t.end).find('.').unwrap_or(t.end - t.start);
        if let Some(top) = TOP_FIELDS.into_iter().find(|f| *f == root) {
            if top == "type" && call {
                let message = "Segment drops contains()/match() on `type` silently: compare the whole type, e.g. `type = \"track\"`";
                return self.token_error(t, TriggerErrorKind::UnsupportedField, message, None);
            }
            let message = format!(
                "`{top}` is a text and has no fields: Segment {} `{}`",
                if call {
                    "drops this call on"
                } else {
                    "ignores the rest of the path and compares"
                },
                if call { t.text.as_str() } else { top }
            );
            let help = replace(self.src, t.start, t.end, top);
            return self.token_error(t, TriggerErrorKind::UnsupportedField, message, Some(help));
        }
        let suggestion = suggest_root(root);
        let message = format!(
            "FQL has no field `{root}`{}: Segment silently drops conditions on anything but `type`, `event`, `name`, \
             `userId`, `properties.*`, `traits.*` and `context.*`",
            suggestion
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default()
        );
        let help = suggestion.map(|s| replace(self.src, t.start, root_src_end, s));
        self.token_error(t, TriggerErrorKind::UnsupportedField, message, help)
    }

    fn condition(&mut self) -> Result<(Node, Term), TriggerError> {
        let start = self.i;
        let path = self.peek();
        let root = match condition_root(&path.text) {
            Some(root) if TOP_FIELDS.contains(&root) && path.text != root => {
                return Err(self.unsupported_field(path, false));
            }
            Some(root) => root,
            None => return Err(self.unsupported_field(path, false)),
        };
        self.field()?;
        let op = self.peek();
        let after = self.at(self.i + 1);
        let ops = ["=", "!=", "<", "<=", ">", ">="];
        if op.kind != Kind::Operator || !ops.contains(&op.text.as_str()) {
            let found = if op.kind == Kind::Eos {
                "the end".to_owned()
            } else {
                format!("`{}`", self.text(op.start, op.end))
            };
            let message = format!(
                "expected an operator (`=`, `!=`, `<`, `<=`, `>`, `>=`) after `{}`, found {found}",
                path.text
            );
            return Err(self.token_error(op, TriggerErrorKind::Syntax, message, None));
        }
        if after.kind == Kind::Operator && after.text == "=" {
            if (op.text == "<" || op.text == ">") && after.start == op.end {
                let message = format!(
                    "`{}=` needs a space after it: Segment's lexer reads `{}` and `=` here, which never matches",
                    op.text, op.text
                );
                let help = replace(self.src, after.end, after.end, " ");
                return Err(error(
                    TriggerErrorKind::OperatorSpacing,
                    op.start,
                    after.end - op.start,
                    message,
                    Some(help),
                ));
            }
            if op.text == "=" {
                let message = "FQL compares with a single `=` (Segment compares with the text \"=\" here)";
                let help = remove(self.src, after.start, after.end);
                return Err(error(
                    TriggerErrorKind::Syntax,
                    op.start,
                    after.end - op.start,
                    message,
                    Some(help),
                ));
            }
        }
        self.i += 1;
        let value = self.value(false)?;
        let leaf = condition_leaf(&path.text, op, value)
            .ok_or_else(|| self.token_error(path, TriggerErrorKind::UnsupportedField, "unsupported field", None))?;
        self.check_path(path, &leaf)?;
        let (cstart, cend) = (path.start, value.end);
        self.condition_warnings(root, path, op, value, &leaf, cstart, cend);
        let negation = self.condition_negation(root, path, op, value);
        self.conditions.push(CondInfo {
            start: cstart,
            end: cend,
            at: start,
            leaf,
            call: false,
            negation,
        });
        Ok((
            Node::Condition(self.conditions.len() - 1),
            Term {
                start: cstart,
                end: cend,
                paren: false,
            },
        ))
    }

    /// A path Segment's `get` cannot read on any event.
    fn check_path(&self, path: &Token, leaf: &Leaf) -> Result<(), TriggerError> {
        if let Field::Under(_, Path::Crash | Path::Empty) = &leaf.field {
            let message = "this path has no key: Segment splits paths at `.`, `[` and `]` (escaped or not) and fails on every event";
            return Err(self.token_error(path, TriggerErrorKind::PathSegment, message, None));
        }
        Ok(())
    }

    /// A value token, checked for Segment's misreadings.
    fn value(&mut self, in_match: bool) -> Result<&'a Token, TriggerError> {
        let v = self.peek();
        let next = self.at(self.i + 1);
        match v.kind {
            Kind::String if v.text.starts_with('\'') => {
                let content = v.text.get(1..v.text.len().saturating_sub(1)).unwrap_or_default();
                let message = format!(
                    "single quotes are not string quotes in FQL: Segment compares with the quotes included \
                     (`{}` matches the text {} with its quotes); use double quotes",
                    v.text, v.text
                );
                let help =
                    (!content.contains('"')).then(|| replace(self.src, v.start, v.end, &format!("\"{content}\"")));
                return Err(self.token_error(v, TriggerErrorKind::SingleQuoted, &message, help));
            }
            Kind::String => {
                if next.kind == Kind::String && next.start < v.end {
                    let message = if v.text.ends_with("\\\"") {
                        "FQL strings have no escapes: Segment ends this string at `\\\"` and ignores what follows, \
                         so a string cannot contain `\"`"
                    } else {
                        "a space is needed after the closing quote: Segment's lexer starts a new string at it \
                         and ignores what follows"
                    };
                    return Err(self.token_error(v, TriggerErrorKind::Syntax, message, None));
                }
            }
            Kind::Number => {
                let value = JsVal::of(v).to_number();
                let glued = next.start == v.end && matches!(next.kind, Kind::Ident | Kind::Dot | Kind::Number);
                if glued && next.kind == Kind::Ident && next.text.starts_with(['e', 'E']) {
                    let written = format!("{}{}", v.text, next.text);
                    let exact = super::eval::string_to_number(&written);
                    let spelled = crate::js::f64_to_string(exact);
                    let help = (exact.is_finite() && !spelled.contains('e'))
                        .then(|| replace(self.src, v.start, next.end, &spelled));
                    let message = format!(
                        "Segment reads `{written}` as {} followed by the word `{}` (FQL numbers have no exponent); \
                         write the number out",
                        crate::js::f64_to_string(value),
                        next.text
                    );
                    return Err(error(
                        TriggerErrorKind::NumberFormat,
                        v.start,
                        next.end - v.start,
                        message,
                        help,
                    ));
                }
                if glued {
                    let message = format!(
                        "Segment reads `{}` as the number {} and ignores `{}` after it",
                        self.text(v.start, next.end),
                        crate::js::f64_to_string(value),
                        next.text
                    );
                    return Err(error(
                        TriggerErrorKind::NumberFormat,
                        v.start,
                        next.end - v.start,
                        message,
                        None,
                    ));
                }
                if value.is_nan() || v.text.ends_with('.') {
                    let message = format!("`{}` is not a number", v.text);
                    return Err(self.token_error(v, TriggerErrorKind::NumberFormat, message, None));
                }
            }
            Kind::Dot if next.kind == Kind::Number && next.start == v.end => {
                let message = "a number needs a digit before `.`: Segment reads `.5` as the text \".\" followed by 5";
                let help = replace(self.src, v.start, v.start, "0");
                return Err(error(
                    TriggerErrorKind::NumberFormat,
                    v.start,
                    next.end - v.start,
                    message,
                    Some(help),
                ));
            }
            Kind::Ident => {
                if let Some((_, lost_end)) = v.truncated {
                    let word = self.text(v.start, lost_end);
                    let message = format!(
                        "Segment's lexer drops the end of `{word}` at the end of the expression and compares with `{}`; \
                         quote the text",
                        v.text
                    );
                    let help = replace(self.src, v.start, lost_end, &format!("\"{word}\""));
                    return Err(error(
                        TriggerErrorKind::TruncatedWord,
                        v.start,
                        lost_end - v.start,
                        message,
                        Some(help),
                    ));
                }
            }
            Kind::Null => {}
            _ => {
                let found = if v.kind == Kind::Eos {
                    "the end".to_owned()
                } else {
                    format!("`{}`", self.text(v.start, v.end))
                };
                let message = format!(
                    "expected a value (a \"double-quoted\" text, a number, true, false or null), found {found}{}",
                    if in_match {
                        ""
                    } else {
                        " (Segment would compare with that token's text)"
                    }
                );
                return Err(self.token_error(v, TriggerErrorKind::Syntax, message, None));
            }
        }
        self.i += 1;
        Ok(v)
    }

    /// `contains(field, value)` / `match(field, pattern)`, after an optional `!`.
    fn call(&mut self, bang: Option<&'a Token>) -> Result<(Node, Term), TriggerError> {
        let at = self.i;
        let name = self.peek();
        let open = self.at(self.i + 1);
        if open.kind != Kind::ParenLeft {
            let message = format!("`{}` is a function: write `{}(field, \"text\")`", name.text, name.text);
            return Err(self.token_error(name, TriggerErrorKind::Syntax, message, None));
        }
        self.i += 2;
        let path = self.peek();
        if path.kind == Kind::Ident {
            let root = condition_root(&path.text);
            let ok = ["event", "name", "userId"].contains(&path.text.as_str())
                || root.is_some_and(|r| ["properties", "traits", "context"].contains(&r));
            if !ok {
                return Err(self.unsupported_field(path, true));
            }
        }
        self.field()?;
        let comma = self.peek();
        if comma.kind != Kind::Comma {
            let message = format!("expected `,` and a second argument in `{}(…)`", name.text);
            return Err(self.token_error(comma, TriggerErrorKind::Syntax, message, None));
        }
        self.i += 1;
        let value = self.value(name.text == "match")?;
        let close = self.peek();
        if close.kind != Kind::ParenRight {
            let message = format!("expected `)` after the second argument of `{}(…)`", name.text);
            return Err(self.token_error(close, TriggerErrorKind::Syntax, message, None));
        }
        self.i += 1;
        let start = bang.map_or(name.start, |b| b.start);
        if name.text == "match" {
            self.check_pattern(bang.is_some(), path, value, start, close.end)?;
        }
        let leaf = function_leaf(&name.text, bang.is_some(), &path.text, value)
            .ok_or_else(|| self.unsupported_field(path, true))?;
        self.check_path(path, &leaf)?;
        self.call_warnings(&name.text, bang.is_some(), path, value, &leaf, start, close.end);
        self.conditions.push(CondInfo {
            start,
            end: close.end,
            at,
            leaf,
            call: true,
            negation: None,
        });
        Ok((
            Node::Condition(self.conditions.len() - 1),
            Term {
                start,
                end: close.end,
                paren: false,
            },
        ))
    }

    /// Only `"X*"` and `"*X"` mean what they say in Segment.
    fn check_pattern(
        &self,
        negated: bool,
        path: &Token,
        v: &Token,
        start: usize,
        end: usize,
    ) -> Result<(), TriggerError> {
        let bang = if negated { "!" } else { "" };
        if v.kind != Kind::String {
            let message = "the match() pattern must be a double-quoted text such as \"Order*\" (Segment reads anything \
                           else as ends-with of its text minus the first character)";
            return Err(self.token_error(v, TriggerErrorKind::UnsupportedMatchPattern, message, None));
        }
        let pattern = v.text.get(1..v.text.len().saturating_sub(1)).unwrap_or_default();
        let stars = pattern.matches('*').count();
        let prefix = stars == 1 && pattern.ends_with('*');
        let suffix = stars == 1 && pattern.starts_with('*');
        if prefix || suffix {
            return Ok(());
        }
        let field = path.text.as_str();
        let (message, help) = if pattern.is_empty() {
            (
                "an empty match() pattern matches any text in Segment; write \"*\" to say so".to_owned(),
                Some(format!("{bang}match({field}, \"*\")")),
            )
        } else if stars == 0 {
            (
                format!(
                    "a match() pattern without `*` is not an exact match in Segment: \"{pattern}\" matches any text ending \
                     in \"{}\"; compare with `=` instead",
                    pattern.chars().skip(1).collect::<String>()
                ),
                Some(format!("{field} {} \"{pattern}\"", if negated { "!=" } else { "=" })),
            )
        } else if stars == 2 && pattern.len() > 2 && pattern.starts_with('*') && pattern.ends_with('*') {
            let inner = &pattern[1..pattern.len() - 1];
            (
                format!(
                    "match() supports one `*`, at the start or the end: Segment reads \"{pattern}\" as starts-with \"{}\"; \
                     use contains() for text anywhere",
                    &pattern[..pattern.len() - 1]
                ),
                Some(format!("{bang}contains({field}, \"{inner}\")")),
            )
        } else if stars == 1 {
            let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
            (
                format!(
                    "match() supports `*` only at the start or the end: Segment reads \"{pattern}\" as ends-with \"{}\"; \
                     test the start and the end separately",
                    pattern.chars().skip(1).collect::<String>()
                ),
                (!negated).then(|| format!("match({field}, \"{head}*\") and match({field}, \"*{tail}\")")),
            )
        } else {
            (
                format!("match() supports a single `*`, at the start or the end; Segment misreads \"{pattern}\""),
                None,
            )
        };
        let help = help.map(|h| replace(self.src, start, end, &h));
        Err(self.token_error(v, TriggerErrorKind::UnsupportedMatchPattern, message, help))
    }

    /// The exact opposite of a comparison, where `!=` is exactly "not `=`" in Segment.
    fn condition_negation(&self, root: &str, path: &Token, op: &Token, value: &Token) -> Option<String> {
        let flipped = match op.text.as_str() {
            "=" => "!=",
            "!=" => "=",
            _ => return None,
        };
        let boolean = value.kind == Kind::Ident && (value.text == "true" || value.text == "false");
        let exact = match root {
            "type" | "event" | "name" => true,
            // `userId = true` tests for the boolean, `userId != true` compares text.
            "userId" => !boolean,
            // Under properties/traits/context, `= 5` and `!= 5` are both false for text.
            _ => !boolean && value.kind != Kind::Number,
        };
        exact.then(|| {
            format!(
                "{} {flipped} {}",
                self.text(path.start, path.end),
                self.text(value.start, value.end)
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn condition_warnings(
        &mut self,
        root: &str,
        path: &Token,
        op: &Token,
        value: &Token,
        leaf: &Leaf,
        start: usize,
        end: usize,
    ) {
        let top = TOP_FIELDS.contains(&root);
        let eq_ne = op.text == "=" || op.text == "!=";
        let is_null = value.text == "null" && matches!(value.kind, Kind::Null | Kind::Ident);
        let boolean = value.kind == Kind::Ident && (value.text == "true" || value.text == "false");
        let vtext = self.text(value.start, value.end);
        let js = JsVal::of(value);
        if eq_ne && is_null && (root == "type" || root == "event") {
            let message = if op.text == "=" {
                format!(
                    "Segment compares `{root}` with the text \"null\" here: this matches only the string \"null\", never a missing `{root}`"
                )
            } else {
                format!(
                    "Segment compares `{root}` with the text \"null\" here: this holds for every event whose `{root}` is not \
                     the string \"null\", including events without `{root}`"
                )
            };
            self.warn(start, end, message);
        }
        if eq_ne && top && value.kind == Kind::Number {
            let text = js.to_js_string();
            self.warn(
                start,
                end,
                format!(
                    "Segment compares `{root}` as text here: `{} {vtext}` tests the string \"{text}\", never a number",
                    op.text
                ),
            );
        }
        if eq_ne && boolean && matches!(root, "type" | "event" | "name") {
            self.warn(
                start,
                end,
                format!("Segment compares `{root}` with the text \"{vtext}\" here, not with a boolean"),
            );
        }
        if op.text == "!=" && boolean && !matches!(root, "type" | "event" | "name") {
            self.warn(
                start,
                end,
                format!(
                    "`!= {vtext}` compares text in Segment: it holds for the boolean {vtext} too (only the string \
                     \"{vtext}\" fails it)"
                ),
            );
        }
        if op.text == "!=" && !top && value.kind == Kind::Number {
            self.warn(start, end, format!("`!= {vtext}` is false when the value is missing or not a number (Segment compares numbers only here)"));
        }
        if !eq_ne {
            let number = if top {
                JsVal::Str(js.to_js_string()).to_number()
            } else {
                js.to_number()
            };
            if number.is_nan() {
                self.warn(
                    start,
                    end,
                    format!("this never matches: Segment compares numbers only, and `{vtext}` is not a number"),
                );
            } else if boolean || is_null {
                self.warn(
                    start,
                    end,
                    format!(
                        "Segment compares with the number {} here",
                        crate::js::f64_to_string(number)
                    ),
                );
            }
        }
        self.bareword_warning(value);
        self.path_warnings(root, path, leaf);
    }

    #[allow(clippy::too_many_arguments)]
    fn call_warnings(
        &mut self,
        name: &str,
        negated: bool,
        path: &Token,
        value: &Token,
        leaf: &Leaf,
        start: usize,
        end: usize,
    ) {
        if negated {
            self.warn(
                start,
                end,
                format!(
                    "`!{name}(…)` is false when `{}` is missing or not text (Segment tests text only)",
                    path.text
                ),
            );
        }
        if value.kind == Kind::Number {
            let text = JsVal::of(value).to_js_string();
            self.warn(
                value.start,
                value.end,
                format!("{name}() compares text: Segment reads this as \"{text}\", and only text values can match"),
            );
        }
        self.bareword_warning(value);
        let root = condition_root(&path.text).unwrap_or_default();
        self.path_warnings(root, path, leaf);
    }

    /// A word where a value goes is text, even when it looks like a field.
    fn bareword_warning(&mut self, value: &Token) {
        if value.kind == Kind::Ident && (value.text.contains('.') || ROOTS.contains(&value.text.as_str())) {
            self.warn(
                value.start,
                value.end,
                format!(
                    "`{}` here is the text \"{}\", not a field: FQL compares with constants only",
                    value.text, value.text
                ),
            );
        }
    }

    fn path_warnings(&mut self, root: &str, path: &Token, leaf: &Leaf) {
        let (start, end) = (path.start, path.end);
        if !TOP_FIELDS.contains(&root) && path.text == root {
            self.warn(
                start,
                end,
                format!("Segment looks up `{root}.{root}` here: a root alone is read inside itself"),
            );
        }
        let written = self.text(start, end);
        if written.contains("\\.") || written.contains("\\[") || written.contains("\\]") {
            let name = name_under(&path.text, root);
            self.warn(
                start,
                end,
                format!("Segment splits keys at `.`, `[` and `]` even when escaped: `{name}` is read as several keys"),
            );
        }
        if let Field::Under(_, Path::Keys(keys)) = &leaf.field {
            for key in keys.iter().filter(|k| k.is_object_builtin()) {
                let message = format!(
                    "where the event has no `{}` member, Segment (JavaScript) finds the built-in \
                     `{}` and counts it as present",
                    key.name(),
                    key.name()
                );
                self.warn(start, end, message);
            }
        }
    }
}

/// Our reading and Segment's differ (see [`super::segment`]): say why.
pub(crate) fn explain_mismatch(src: &str, parsed: &Parsed) -> TriggerError {
    if let Some(err) = misplaced_call(src, parsed, &parsed.root) {
        return err;
    }
    error(
        TriggerErrorKind::SegmentMismatch,
        0,
        src.len(),
        "Segment reads this expression differently from how it is written; simplify it (fewer parentheses or calls)",
        None,
    )
}

/// A call inside parentheses followed by other terms: Segment ends the group at the
/// call's `)` and reads the rest of the group at the level above.
fn misplaced_call(src: &str, parsed: &Parsed, node: &Node) -> Option<TriggerError> {
    let Node::Group { or, children, paren } = node else {
        return None;
    };
    if *paren {
        let first_closing = children.iter().position(|(child, term)| {
            term.paren || matches!(child, Node::Condition(i) if parsed.conditions.get(*i).is_some_and(|c| c.call))
        });
        if let Some(k) = first_closing.filter(|k| *k + 1 < children.len() && !children[*k].1.paren) {
            let (_, term) = children[k];
            let is_call = |(child, _): &&(Node, Term)| matches!(child, Node::Condition(i) if parsed.conditions.get(*i).is_some_and(|c| c.call));
            let calls = children.iter().filter(is_call).count();
            let message = "Segment ends a parenthesized group at the first `)`, here the one of this call, and reads the \
                           rest of the group outside it; put the call last in its group";
            let help = (calls == 1).then(|| {
                let text = |t: &Term| src.get(t.start..t.end).unwrap_or_default();
                let mut parts: Vec<&str> = children.iter().filter(|c| !is_call(c)).map(|(_, t)| text(t)).collect();
                parts.push(text(&term));
                let (start, end) = (
                    children.first().map_or(0, |c| c.1.start),
                    children.last().map_or(0, |c| c.1.end),
                );
                replace(src, start, end, &parts.join(if *or { " or " } else { " and " }))
            });
            return Some(error(
                TriggerErrorKind::MisplacedCall,
                term.start,
                term.end - term.start,
                message,
                help,
            ));
        }
    }
    children
        .iter()
        .find_map(|(child, _)| misplaced_call(src, parsed, child))
}
