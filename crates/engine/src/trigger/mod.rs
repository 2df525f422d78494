//! Segment FQL triggers: `type = "track" and properties.total > 100`.
//!
//! A [`Trigger`] is compiled once from its text and then tested against many events
//! without allocating. What it accepts behaves exactly as Segment's
//! `@segment/destination-subscriptions` 3.37.0 (on `@segment/fql-ts` 1.10.1): the
//! lexer is theirs token for token (`lex.rs`), each condition means what their parser
//! makes of it (`eval.rs`), and before accepting we run their parser's reading
//! (`segment.rs`) and require the same tree as ours (`parse.rs`). Where Segment
//! silently does something the user did not mean and a correct spelling exists
//! (`and`/`or` mixed without parentheses, `not`, single quotes, unsupported fields or
//! `match()` patterns...), parsing fails with the position, the reason and the fix.
//! Where no other spelling exists (`event = null` compares with the text `"null"`),
//! the trigger is accepted and [`Trigger::warnings`] says so. Nested parentheses,
//! which Segment cannot parse, are read correctly.

mod eval;
mod lex;
mod parse;
mod segment;

use std::fmt;

use serde_json::Value;

use self::eval::Leaf;
use self::parse::{Node, Parsed};
use self::segment::SegNode;

/// A compiled FQL trigger.
///
/// ```
/// use encharge_engine::trigger::Trigger;
/// use serde_json::json;
///
/// let trigger = Trigger::parse(r#"type = "track" and properties.total > 100"#).unwrap();
/// assert!(trigger.matches(&json!({"type": "track", "properties": {"total": 150}})));
/// assert!(!trigger.matches(&json!({"type": "track", "properties": {"total": "150"}})));
/// ```
#[derive(Debug, Clone)]
pub struct Trigger {
    src: Box<str>,
    expr: Expr,
    conditions: Box<[Condition]>,
    warnings: Box<[TriggerWarning]>,
}

/// The and/or tree, with conditions by index into [`Trigger::conditions`].
#[derive(Debug, Clone)]
enum Expr {
    Condition(usize),
    All(Box<[Expr]>),
    Any(Box<[Expr]>),
}

#[derive(Debug, Clone)]
struct Condition {
    /// Byte range of the condition in the source.
    start: usize,
    end: usize,
    leaf: Leaf,
}

/// Why an FQL expression was rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerError {
    /// Byte offset in the expression where the problem is.
    pub offset: usize,
    /// Length in bytes of the text at fault (0 at the end of the expression).
    pub len: usize,
    /// What went wrong.
    pub kind: TriggerErrorKind,
    /// The reason, in words a user understands.
    pub message: String,
    /// The corrected spelling, usually the whole expression rewritten, when there is one.
    pub help: Option<String>,
}

/// What kind of problem a [`TriggerError`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggerErrorKind {
    /// Nothing to test: `` (empty or blank).
    Empty,
    /// A character FQL does not have outside quotes: `type = "a" && event = "b"`, a `\r`.
    InvalidCharacter,
    /// A string without its closing quote: `type = "track`.
    UnterminatedString,
    /// An operator that needs a space around it in Segment's lexer: `userId !="x"`,
    /// `total>5`, `total <=10` (always false in Segment), `a and(b)`.
    OperatorSpacing,
    /// A number Segment misreads: `1e3` (read as 1), `.5` (never matches), `1.`, `-`.
    NumberFormat,
    /// A string, name or number of 100,000 characters or more.
    TooLong,
    /// `and` and `or` at one level without parentheses: `a = 1 and b = 2 or c = 3`
    /// (Segment applies the last one to all three).
    MixedAndOr,
    /// A negation Segment ignores: `not type = "a"`, `!(type = "a")`, `!type = "a"`.
    Negation,
    /// A single-quoted literal, compared with its quotes in Segment: `type = 'track'`.
    SingleQuoted,
    /// A `match()` pattern other than `"X*"` or `"*X"`: `match(event, "*Order*")`.
    UnsupportedMatchPattern,
    /// A condition on a field FQL drops: `anonymousId = "x"`, `event.name = "x"`,
    /// `contains(type, "tr")`.
    UnsupportedField,
    /// A path segment Segment cannot read: `properties.or`, `properties.items.0`,
    /// `properties.items[0]`.
    PathSegment,
    /// A word whose end Segment's lexer drops at the end of the input: `event = ab`
    /// (read as `a`).
    TruncatedWord,
    /// A `contains()`/`match()` inside parentheses before other conditions of the
    /// group: `(contains(event, "a") or type = "b") and userId = "c"` (Segment ends
    /// the group at the call's `)`).
    MisplacedCall,
    /// Parentheses nested deeper than 64 levels: `((((…))))`.
    TooDeep,
    /// Any other malformed expression: `type == "track"`, `type = "track" and`,
    /// `(type = "track"`, `event = "x",`.
    Syntax,
    /// An expression Segment reads differently from how it is written, for a reason
    /// none of the other kinds describe.
    SegmentMismatch,
}

/// An accepted expression that does not do what it seems to, because of how Segment
/// evaluates it, and has no other spelling: `event != null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerWarning {
    /// Byte offset of the text concerned.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
    /// What Segment does, in words a user understands.
    pub message: String,
}

/// How one condition of a trigger fared on an event (see [`Trigger::explain`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionReport {
    /// The condition's text as written.
    pub source: String,
    /// Whether the condition holds for the event.
    pub matched: bool,
    /// The value at the condition's path, `None` when missing.
    pub seen: Option<Value>,
}

/// Parentheses may nest this deep; deeper fails, so huge inputs cannot exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 64;

impl Trigger {
    /// Compiles an FQL expression.
    pub fn parse(src: &str) -> Result<Trigger, TriggerError> {
        let tokens = lex::lex(src).map_err(|e| parse::lex_error(src, e))?;
        let tokens = segment::normalize(tokens);
        let parsed = parse::parse(src, &tokens)?;
        match segment::parse(&tokens) {
            Ok(tree) if same(&parsed.root, &parsed, &tree) => {}
            // Nested parentheses make Segment's parser throw; we read them as written.
            Err(_) if parsed.nested => {}
            _ => return Err(parse::explain_mismatch(src, &parsed)),
        }
        let Parsed {
            root,
            conditions,
            warnings,
            ..
        } = parsed;
        let conditions: Box<[Condition]> = conditions
            .into_iter()
            .map(|c| Condition {
                start: c.start,
                end: c.end,
                leaf: c.leaf,
            })
            .collect();
        Ok(Trigger {
            src: src.into(),
            expr: compile(&root),
            conditions,
            warnings: warnings.into(),
        })
    }

    /// Whether the event matches. A `null` event never does (Segment throws on it).
    pub fn matches(&self, event: &Value) -> bool {
        !event.is_null() && self.eval(&self.expr, event)
    }

    fn eval(&self, expr: &Expr, event: &Value) -> bool {
        match expr {
            Expr::Condition(i) => self.conditions.get(*i).is_some_and(|c| c.leaf.eval(event) == Ok(true)),
            Expr::All(children) => children.iter().all(|c| self.eval(c, event)),
            Expr::Any(children) => children.iter().any(|c| self.eval(c, event)),
        }
    }

    /// The accepted traps of this expression (see [`TriggerWarning`]), in source order.
    pub fn warnings(&self) -> &[TriggerWarning] {
        &self.warnings
    }

    /// One report per condition, in source order: whether it held and what it saw.
    /// Every condition is evaluated, also those `and`/`or` would skip.
    pub fn explain(&self, event: &Value) -> Vec<ConditionReport> {
        self.conditions
            .iter()
            .map(|c| {
                let seen = c.leaf.seen(event).ok();
                ConditionReport {
                    source: self.src.get(c.start..c.end).unwrap_or_default().to_owned(),
                    matched: c.leaf.eval(event) == Ok(true),
                    seen: seen.and_then(eval::Seen::to_value),
                }
            })
            .collect()
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.src
    }
}

fn compile(node: &Node) -> Expr {
    match node {
        Node::Condition(i) => Expr::Condition(*i),
        Node::Group { or, children, .. } => {
            let children = children.iter().map(|(child, _)| compile(child)).collect();
            if *or { Expr::Any(children) } else { Expr::All(children) }
        }
    }
}

/// Whether Segment's tree is ours: the same conditions (by their first token) in the
/// same groups with the same `and`/`or`. Groups of one are their child in both.
fn same(node: &Node, parsed: &Parsed, seg: &SegNode) -> bool {
    match (node, seg) {
        (_, SegNode::Group { children, .. }) if children.len() == 1 => children
            .first()
            .and_then(Option::as_ref)
            .is_some_and(|only| same(node, parsed, only)),
        (Node::Condition(i), SegNode::Leaf { at, .. }) => parsed.conditions.get(*i).is_some_and(|c| c.at == *at),
        (
            Node::Group { or, children, .. },
            SegNode::Group {
                or: seg_or,
                children: seg_children,
            },
        ) => {
            or == seg_or
                && children.len() == seg_children.len()
                && children
                    .iter()
                    .zip(seg_children)
                    .all(|((child, _), seg)| seg.as_ref().is_some_and(|seg| same(child, parsed, seg)))
        }
        _ => false,
    }
}

impl fmt::Display for TriggerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TriggerError {}

impl fmt::Display for TriggerWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests;
