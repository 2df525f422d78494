//! `@liquid`: a subset of the Liquid language that renders exactly as liquidjs
//! 10.31 does with Segment's settings.
//!
//! Segment renders `@liquid` with liquidjs, with the tags `case`, `for`,
//! `include`, `layout`, `render` and `tablerow` and twenty filters disabled.
//! We implement a small subset by hand rather than use the `liquid` crate: that
//! crate follows Shopify's Ruby Liquid, whose output differs from liquidjs's
//! (JavaScript number printing, `undefined`, `[object Object]`, `divided_by` on
//! integers, `default` on empty strings, property lookup through `size`/`first`/
//! `last`), it knows nothing of Segment's disabled tags and filters, and it is a
//! heavy dependency for templates limited to 1000 characters. Whatever this
//! module accepts renders as liquidjs would; whatever it does not support is
//! rejected when the mapping loads ([`LiquidError::Unsupported`]), and what liquidjs
//! itself fails on for every event (a syntax error, a disabled or unknown tag)
//! fails every event here too ([`LiquidError::Fails`]).
//!
//! The subset: text; `{{ expression | filter: args }}`; the tags `if` / `elsif`
//! / `else`, `unless`, `assign`, `capture` and `comment`; whitespace control
//! with `-`; literals (`'…'`, `"…"` without backslashes, numbers, `true`,
//! `false`, `nil`, `null`, `empty`, `blank`); variables with `.name`, `[0]`,
//! `["key"]` and `[variable]`; the operators `==`, `!=`, `<`, `>`, `<=`, `>=`,
//! `contains`, `and`, `or`; and the filters listed in `filters.rs`. Filters
//! liquidjs does not know pass the value through, as liquidjs does.

mod eval;
mod filters;

use self::filters::FilterKind;
use super::value::Mapped;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Liquid {
    src: Box<str>,
    body: Vec<Stmt>,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LiquidError {
    /// liquidjs fails on it at every render (a syntax error, a disabled tag).
    Fails(String),
    /// liquidjs may accept it but we do not support it: rejected when the mapping loads.
    Unsupported(String),
}

#[derive(Debug, Clone)]
enum Stmt {
    Text(Box<str>),
    Output(Filtered),
    /// `if` / `unless` with its `elsif` branches and `else`.
    If {
        unless: bool,
        branches: Vec<(Filtered, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    Assign {
        name: Box<str>,
        value: Filtered,
    },
    Capture {
        name: Box<str>,
        body: Vec<Stmt>,
    },
}

/// An expression followed by filters.
#[derive(Debug, Clone)]
struct Filtered {
    expr: Expr,
    filters: Vec<Filter>,
}

#[derive(Debug, Clone)]
enum Expr {
    Operand(Operand),
    /// Operators group to the right, comparisons bind tighter than `and`/`or`.
    Binary(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
    And,
    Or,
}

impl Op {
    fn precedence(self) -> u8 {
        match self {
            Op::And | Op::Or => 0,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone)]
enum Operand {
    Str(Box<str>),
    Num(f64),
    Bool(bool),
    Nil,
    Empty,
    Blank,
    Var(Var),
}

/// A variable: its first key and the keys after it.
#[derive(Debug, Clone)]
struct Var {
    head: Key,
    rest: Vec<Key>,
}

#[derive(Debug, Clone)]
enum Key {
    Name(Box<str>),
    Num(f64),
    Dyn(Box<Operand>),
}

#[derive(Debug, Clone)]
struct Filter {
    kind: FilterKind,
    args: Vec<Operand>,
    /// `default`'s `allow_false: value`.
    allow_false: Option<Operand>,
    /// Where the output or tag starts, for error messages.
    at: (usize, usize),
}

/// A token of the template.
#[derive(Debug)]
enum Token<'s> {
    Text {
        text: &'s str,
    },
    Output {
        content: &'s str,
        at: (usize, usize),
    },
    Tag {
        name: &'s str,
        args: &'s str,
        at: (usize, usize),
        begin: usize,
    },
}

/// liquidjs's BLANK characters (whitespace control and trimming of token contents).
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{180e}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// liquidjs's word characters: identifiers are made of them (`-` and `?` included).
fn is_word(c: char) -> bool {
    if (c as u32) < 128 {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '?')
    } else {
        !is_blank(c) && c != '\u{201c}' && c != '\u{201d}'
    }
}

/// Line and column (1-based) of a byte offset, as liquidjs reports them.
fn position(src: &str, at: usize) -> (usize, usize) {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn fails(message: impl std::fmt::Display, at: (usize, usize)) -> LiquidError {
    LiquidError::Fails(format!("{message}, line:{}, col:{}", at.0, at.1))
}

fn unsupported(message: impl Into<String>) -> LiquidError {
    LiquidError::Unsupported(message.into())
}

/// The tags of liquidjs that Segment disables.
const DISABLED_TAGS: &[&str] = &["case", "for", "include", "layout", "render", "tablerow"];
/// The other tags liquidjs has, which we do not support.
const UNSUPPORTED_TAGS: &[&str] = &[
    "decrement",
    "increment",
    "cycle",
    "block",
    "raw",
    "break",
    "continue",
    "echo",
    "liquid",
    "#",
];

impl Liquid {
    pub(crate) fn parse(src: &str) -> Result<Liquid, LiquidError> {
        let tokens = tokenize(src)?;
        let mut parser = Parser { src, tokens, i: 0 };
        let body = parser.block(&[])?.0;
        Ok(Liquid { src: src.into(), body })
    }

    pub(crate) fn source(&self) -> &str {
        &self.src
    }

    /// Renders against the payload (liquidjs's environment).
    pub(crate) fn render(&self, payload: &Mapped<'_>) -> Result<String, String> {
        eval::render(&self.body, payload)
    }
}

/// Splits the template into text, outputs and tags, then applies whitespace control.
fn tokenize(src: &str) -> Result<Vec<Token<'_>>, LiquidError> {
    let bytes = src.as_bytes();
    let n = bytes.len();
    // (token, trim the text before, trim the text after)
    let mut raw: Vec<(Token<'_>, bool, bool)> = Vec::new();
    let mut p = 0;
    while p < n {
        let at = || position(src, p);
        if src[p..].starts_with("{%") {
            // The first `%}` after `{` ends the tag, quotes or not.
            let Some(close) = src[p + 1..].find("%}").map(|i| p + 1 + i) else {
                return Err(fails(format!("tag {:?} not closed", snippet(&src[p..])), at()));
            };
            let end = close + 2;
            if close < p + 2 {
                return Err(unsupported("`{%}` is not a tag"));
            }
            let (content, tl, tr) = delimited(&src[p + 2..close]);
            let name_len = if content.starts_with('#') {
                1
            } else {
                content
                    .char_indices()
                    .find(|(_, c)| !is_word(*c))
                    .map_or(content.len(), |(i, _)| i)
            };
            if name_len == 0 {
                return Err(fails("illegal tag syntax, tag name expected", at()));
            }
            let (name, args) = content.split_at(name_len);
            raw.push((
                Token::Tag {
                    name,
                    args: args.trim_start_matches(is_blank),
                    at: at(),
                    begin: p,
                },
                tl,
                tr,
            ));
            p = end;
        } else if src[p..].starts_with("{{") {
            let Some(end) = output_end(bytes, p) else {
                return Err(fails(format!("output {:?} not closed", snippet(&src[p..])), at()));
            };
            let (content, tl, tr) = delimited(&src[p + 2..end - 2]);
            raw.push((Token::Output { content, at: at() }, tl, tr));
            p = end;
        } else {
            let next = [src[p..].find("{%"), src[p..].find("{{")]
                .into_iter()
                .flatten()
                .min()
                .map_or(n, |i| p + i);
            raw.push((Token::Text { text: &src[p..next] }, false, false));
            p = next;
        }
    }
    // Whitespace control (liquidjs's default is greedy: every blank, newlines too).
    let trims: Vec<(bool, bool)> = raw.iter().map(|(_, l, r)| (*l, *r)).collect();
    let mut tokens: Vec<Token<'_>> = raw.into_iter().map(|(t, _, _)| t).collect();
    for i in 0..tokens.len() {
        let trim_end = trims.get(i + 1).is_some_and(|t| t.0);
        let trim_start = i > 0 && trims[i - 1].1;
        if let Token::Text { text } = &mut tokens[i] {
            if trim_end {
                *text = text.trim_end_matches(is_blank);
            }
            if trim_start {
                *text = text.trim_start_matches(is_blank);
            }
        }
    }
    Ok(tokens)
}

/// The end (after `}}`) of the output that starts at `p`: the first `}}` outside quotes.
fn output_end(bytes: &[u8], p: usize) -> Option<usize> {
    let mut q = p;
    while q < bytes.len() {
        if bytes[q] == b'"' || bytes[q] == b'\'' {
            let quote = bytes[q];
            let mut escaped = false;
            q += 1;
            while q < bytes.len() {
                q += 1;
                let c = bytes[q - 1];
                if c == quote && !escaped {
                    break;
                }
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                }
            }
            continue;
        }
        q += 1;
        if q >= 2 && q - 2 >= p && &bytes[q - 2..q] == b"}}" {
            return Some(q);
        }
    }
    None
}

/// The content of `{{ … }}` / `{% … %}`: without the `-` markers and blanks; and the markers.
fn delimited(inner: &str) -> (&str, bool, bool) {
    let tl = inner.starts_with('-');
    let tr = inner.len() > usize::from(tl) && inner.ends_with('-');
    let mut s = inner;
    if tl {
        s = &s[1..];
    }
    if tr {
        s = &s[..s.len() - 1];
    }
    (s.trim_matches(is_blank), tl, tr)
}

fn snippet(s: &str) -> String {
    if s.chars().count() > 32 {
        format!("{}...", s.chars().take(29).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The tag that ended a block: name, arguments, position.
type EndTag<'s> = (&'s str, &'s str, (usize, usize));

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token<'s>>,
    i: usize,
}

impl<'s> Parser<'s> {
    /// Statements up to one of the `ends` tags (returned with its arguments), or to
    /// the end of the template when `ends` is empty.
    fn block(&mut self, ends: &[&str]) -> Result<(Vec<Stmt>, Option<EndTag<'s>>), LiquidError> {
        let mut body = Vec::new();
        while self.i < self.tokens.len() {
            let i = self.i;
            self.i += 1;
            match self.tokens[i] {
                Token::Text { text } => {
                    if !text.is_empty() {
                        body.push(Stmt::Text(text.into()));
                    }
                }
                Token::Output { content, at } => body.push(Stmt::Output(filtered(content, at)?)),
                Token::Tag { name, args, at, begin } => {
                    if ends.contains(&name) {
                        return Ok((body, Some((name, args, at))));
                    }
                    body.push(self.tag(name, args, at, begin)?);
                }
            }
        }
        Ok((body, None))
    }

    fn tag(&mut self, name: &'s str, args: &'s str, at: (usize, usize), begin: usize) -> Result<Stmt, LiquidError> {
        let not_closed = |src: &str| fails(format!("tag {:?} not closed", snippet(&src[begin..])), at);
        match name {
            "if" | "unless" => {
                let end = if name == "if" { "endif" } else { "endunless" };
                let mut branches = vec![(filtered(args, at)?, Vec::new())];
                let mut otherwise: Option<Vec<Stmt>> = None;
                loop {
                    let (body, stop) = self.block(&["elsif", "else", end])?;
                    match &mut otherwise {
                        Some(o) => *o = body,
                        None => {
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                        }
                    }
                    match stop {
                        None => return Err(not_closed(self.src)),
                        Some(("elsif", args, at)) => {
                            if otherwise.is_some() {
                                return Err(fails("unexpected elsif after else", at));
                            }
                            branches.push((filtered(args, at)?, Vec::new()));
                        }
                        Some(("else", args, at)) => {
                            if !args.is_empty() {
                                return Err(fails(format!("unexpected {args:?}"), at));
                            }
                            if otherwise.is_some() {
                                return Err(fails("duplicated else", at));
                            }
                            otherwise = Some(Vec::new());
                        }
                        Some((_, args, at)) => {
                            if !args.is_empty() {
                                return Err(fails(format!("unexpected {args:?}"), at));
                            }
                            break;
                        }
                    }
                }
                Ok(Stmt::If {
                    unless: name == "unless",
                    branches,
                    otherwise,
                })
            }
            "assign" => {
                let mut lx = Lexer::new(args, at);
                let var = lx.word();
                if var.is_empty() {
                    return Err(fails("expected variable name", at));
                }
                lx.blanks();
                if !lx.eat("=") {
                    return Err(fails("expected \"=\"", at));
                }
                let value = lx.filtered()?;
                Ok(Stmt::Assign {
                    name: var.into(),
                    value,
                })
            }
            "capture" => {
                let mut lx = Lexer::new(args, at);
                let var = lx.word();
                lx.blanks();
                if var.is_empty() || !lx.done() {
                    return Err(unsupported("`capture` takes one plain variable name here"));
                }
                let (body, stop) = self.block(&["endcapture"])?;
                if stop.is_none() {
                    return Err(not_closed(self.src));
                }
                Ok(Stmt::Capture { name: var.into(), body })
            }
            "comment" => {
                // Tokens inside are skipped, tags included, up to the first `endcomment`.
                while self.i < self.tokens.len() {
                    let i = self.i;
                    self.i += 1;
                    if let Token::Tag { name: "endcomment", .. } = self.tokens[i] {
                        return Ok(Stmt::Text("".into()));
                    }
                }
                Err(not_closed(self.src))
            }
            name if DISABLED_TAGS.contains(&name) => Err(fails(format!("tag {name:?} is disabled"), at)),
            name if UNSUPPORTED_TAGS.contains(&name) => {
                Err(unsupported(format!("the Liquid tag `{name}` is not supported")))
            }
            name => Err(fails(format!("tag {name:?} not found"), at)),
        }
    }
}

/// Parses a whole filtered expression (an output's content, a tag's arguments).
fn filtered(src: &str, at: (usize, usize)) -> Result<Filtered, LiquidError> {
    Lexer::new(src, at).filtered()
}

/// A strict reader of expressions: anything outside the subset is `Unsupported`.
struct Lexer<'s> {
    src: &'s str,
    p: usize,
    at: (usize, usize),
}

fn too_complex(src: &str) -> LiquidError {
    unsupported(format!(
        "the Liquid expression {src:?} is not supported (only literals, variables, comparisons and the listed filters are)"
    ))
}

impl<'s> Lexer<'s> {
    fn new(src: &'s str, at: (usize, usize)) -> Lexer<'s> {
        Lexer { src, p: 0, at }
    }

    fn rest(&self) -> &'s str {
        &self.src[self.p..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn blanks(&mut self) {
        let rest = self.rest();
        self.p += rest.len() - rest.trim_start_matches(is_blank).len();
    }

    fn done(&self) -> bool {
        self.p >= self.src.len()
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.p += s.len();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &'s str {
        self.blanks();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !is_word(*c))
            .map_or(rest.len(), |(i, _)| i);
        self.p += len;
        &rest[..len]
    }

    fn err(&self) -> LiquidError {
        too_complex(self.src)
    }

    fn filtered(&mut self) -> Result<Filtered, LiquidError> {
        let expr = self.expr()?;
        let mut filters = Vec::new();
        loop {
            self.blanks();
            if self.done() {
                break;
            }
            if !self.eat("|") {
                return Err(self.err());
            }
            let name = self.word();
            if name.is_empty() {
                return Err(self.err());
            }
            let mut args = Vec::new();
            let mut allow_false = None;
            self.blanks();
            if self.eat(":") {
                loop {
                    self.blanks();
                    let save = self.p;
                    let key = self.word();
                    self.blanks();
                    if key == "allow_false" && self.eat(":") {
                        allow_false = Some(self.operand()?);
                    } else {
                        self.p = save;
                        args.push(self.operand()?);
                    }
                    self.blanks();
                    if !self.eat(",") {
                        break;
                    }
                }
            }
            let kind = FilterKind::resolve(name, args.len(), allow_false.is_some())?;
            if kind == FilterKind::Truncate && !matches!(args.first(), Some(Operand::Num(n)) if n.fract() == 0.0) {
                return Err(unsupported("`truncate` takes a whole-number literal length here"));
            }
            filters.push(Filter {
                kind,
                args,
                allow_false,
                at: self.at,
            });
        }
        Ok(Filtered { expr, filters })
    }

    /// `operand (op operand)*`, grouped to the right by precedence as liquidjs does.
    fn expr(&mut self) -> Result<Expr, LiquidError> {
        let mut operands = vec![Expr::Operand(self.operand()?)];
        let mut ops = Vec::new();
        loop {
            self.blanks();
            let Some(op) = self.op() else { break };
            ops.push(op);
            operands.push(Expr::Operand(self.operand()?));
        }
        Ok(group(operands, ops))
    }

    fn op(&mut self) -> Option<Op> {
        let rest = self.rest();
        for (text, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if rest.starts_with(text) {
                self.p += text.len();
                return Some(op);
            }
        }
        let save = self.p;
        let op = match self.word() {
            "contains" => Some(Op::Contains),
            "and" => Some(Op::And),
            "or" => Some(Op::Or),
            _ => None,
        };
        if op.is_none() {
            self.p = save;
        }
        op
    }

    fn operand(&mut self) -> Result<Operand, LiquidError> {
        self.blanks();
        let Some(c) = self.peek() else { return Err(self.err()) };
        if c == '"' || c == '\'' {
            let body = &self.rest()[1..];
            let Some(end) = body.find(c) else {
                return Err(self.err());
            };
            let s = &body[..end];
            if s.contains('\\') {
                return Err(unsupported("backslashes in Liquid strings are not supported"));
            }
            self.p += end + 2;
            return self.no_props(Operand::Str(s.into()));
        }
        if c == '[' {
            let head = self.bracket()?;
            return self.var(head);
        }
        if c.is_ascii_digit() || ((c == '-' || c == '+') && self.rest()[1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            let rest = self.rest();
            let mut len = 1;
            let b = rest.as_bytes();
            while len < b.len() && b[len].is_ascii_digit() {
                len += 1;
            }
            if len < b.len() && b[len] == b'.' && b.get(len + 1).is_some_and(u8::is_ascii_digit) {
                len += 1;
                while len < b.len() && b[len].is_ascii_digit() {
                    len += 1;
                }
            }
            if rest[len..].starts_with(|ch: char| is_word(ch) || ch == '.') {
                return Err(self.err());
            }
            let n: f64 = rest[..len].parse().map_err(|_| self.err())?;
            self.p += len;
            return Ok(Operand::Num(n));
        }
        let word = self.word();
        let lit = match word {
            "" => return Err(self.err()),
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            "nil" | "null" => Operand::Nil,
            "empty" => Operand::Empty,
            "blank" => Operand::Blank,
            "contains" | "and" | "or" | "not" => return Err(self.err()),
            w if w.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
                && w.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-') =>
            {
                return self.var(Key::Name(w.into()));
            }
            _ => return Err(self.err()),
        };
        self.no_props(lit)
    }

    /// Literals take no properties here (`'abc'.size` is liquidjs-only).
    fn no_props(&mut self, lit: Operand) -> Result<Operand, LiquidError> {
        if matches!(self.peek(), Some('.' | '[')) {
            Err(self.err())
        } else {
            Ok(lit)
        }
    }

    fn var(&mut self, head: Key) -> Result<Operand, LiquidError> {
        let mut rest = Vec::new();
        loop {
            match self.peek() {
                Some('[') => rest.push(self.bracket()?),
                Some('.') => {
                    self.p += 1;
                    let name = self.word_here();
                    if name.is_empty() {
                        return Err(self.err());
                    }
                    rest.push(Key::Name(name.into()));
                }
                _ => break,
            }
        }
        Ok(Operand::Var(Var { head, rest }))
    }

    /// An identifier right here (no blanks skipped).
    fn word_here(&mut self) -> &'s str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !is_word(*c))
            .map_or(rest.len(), |(i, _)| i);
        self.p += len;
        &rest[..len]
    }

    /// `[0]`, `["key"]` or `[variable]`.
    fn bracket(&mut self) -> Result<Key, LiquidError> {
        self.p += 1;
        let key = match self.operand()? {
            Operand::Str(s) => Key::Name(s),
            Operand::Num(n) => Key::Num(n),
            var @ Operand::Var(_) => Key::Dyn(Box::new(var)),
            _ => return Err(self.err()),
        };
        self.blanks();
        if !self.eat("]") {
            return Err(self.err());
        }
        Ok(key)
    }
}

/// Builds the tree liquidjs's shunting-yard makes: operators of equal precedence
/// group to the right, `and`/`or` bind loosest.
fn group(mut operands: Vec<Expr>, mut ops: Vec<Op>) -> Expr {
    // Split at the first loosest operator: what is left of it binds tighter, and
    // everything right of it groups to the right.
    if ops.is_empty() {
        return operands.pop().unwrap_or(Expr::Operand(Operand::Nil));
    }
    let loosest = ops.iter().map(|op| op.precedence()).min().unwrap_or(0);
    let split = ops.iter().position(|op| op.precedence() == loosest).unwrap_or(0);
    let right_operands = operands.split_off(split + 1);
    let right_ops = ops.split_off(split + 1);
    let op = ops.pop().unwrap_or(Op::And);
    Expr::Binary(
        Box::new(group(operands, ops)),
        op,
        Box::new(group(right_operands, right_ops)),
    )
}

#[cfg(test)]
mod tests;
