//! How Segment's own parser reads a token list (`parseFql` of
//! `@segment/destination-subscriptions` 3.37.0), reproduced to judge our reading.
//!
//! Segment's parser is a loop that shifts tokens and skips what it does not know:
//! each group takes the *last* `and`/`or` it saw, a `(` collects tokens up to the
//! first `)` (so nested groups fail, and a `contains(...)` inside a group ends it),
//! unknown words and `not` are skipped, and a condition takes whatever two tokens
//! follow its field. [`crate::trigger::Trigger::parse`] accepts an expression only
//! when this reading and ours build the same tree (or Segment fails on nested
//! parentheses, which we read correctly), so what we accept behaves as in Segment.

use std::collections::VecDeque;

use super::eval::{Leaf, condition_leaf, condition_root, function_leaf};
use super::lex::{Kind, Token};

/// A node of Segment's condition tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SegNode {
    /// A condition; `at` is the index of its field token (of the function name for
    /// `contains`/`match`), which identifies it across the two readings.
    Leaf { at: usize, leaf: Leaf },
    /// `or: false` is `and`. `None` children are the `undefined` an empty group leaves.
    Group { or: bool, children: Vec<Option<SegNode>> },
}

/// Why Segment's parser failed (what JavaScript would throw).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegError(pub String);

/// Merges `word . word` into one word, as Segment's `normalize` does before parsing.
pub(crate) fn normalize(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut it = tokens.into_iter().peekable();
    while let Some(current) = it.next() {
        let last_is_word = out.last().is_some_and(|t| t.kind == Kind::Ident);
        let next_is_word = it.peek().is_some_and(|t| t.kind == Kind::Ident);
        if last_is_word && current.kind == Kind::Dot && next_is_word {
            if let (Some(last), Some(next)) = (out.last_mut(), it.next()) {
                last.text.push('.');
                last.text.push_str(&next.text);
                last.end = next.end;
                last.truncated = last.truncated.or(next.truncated);
            }
        } else {
            out.push(current);
        }
    }
    out
}

/// Segment's `parseFql` on normalized tokens (which end with the end token).
pub(crate) fn parse(tokens: &[Token]) -> Result<SegNode, SegError> {
    let mut list: VecDeque<usize> = (0..tokens.len()).collect();
    let eos = tokens.len().saturating_sub(1);
    match parse_list(tokens, &mut list, eos)? {
        None => Err(SegError(
            "TypeError: Cannot read properties of undefined (reading 'type')".to_owned(),
        )),
        Some(group @ SegNode::Group { .. }) => Ok(group),
        Some(leaf) => Ok(SegNode::Group {
            or: false,
            children: vec![Some(leaf)],
        }),
    }
}

fn is_function(token: Option<&Token>) -> bool {
    token.is_some_and(|t| t.kind == Kind::Ident && (t.text == "contains" || t.text == "match"))
}

fn parse_list(tokens: &[Token], list: &mut VecDeque<usize>, eos: usize) -> Result<Option<SegNode>, SegError> {
    let type_error = || SegError("TypeError: Cannot read properties of undefined (reading 'type')".to_owned());
    let mut nodes: Vec<Option<SegNode>> = Vec::new();
    let mut or = false;
    while let Some(at) = list.pop_front() {
        let Some(token) = tokens.get(at) else { break };
        if token.kind == Kind::Eos {
            break;
        }
        match token.kind {
            Kind::Ident => {
                if condition_root(&token.text).is_some() {
                    let op = list.pop_front().and_then(|i| tokens.get(i));
                    let op = op.ok_or_else(|| SegError("Operator token is missing".to_owned()))?;
                    let value = list.pop_front().and_then(|i| tokens.get(i));
                    let value = value.ok_or_else(|| SegError("Value token is missing".to_owned()))?;
                    if let Some(leaf) = condition_leaf(&token.text, op, value) {
                        nodes.push(Some(SegNode::Leaf { at, leaf }));
                    }
                }
                if is_function(Some(token)) {
                    function(tokens, list, at, false, &mut nodes)?;
                }
            }
            Kind::Operator if token.text == "!" => {
                let next = list.front().copied();
                if let Some(name) = next.filter(|i| is_function(tokens.get(*i))) {
                    list.pop_front();
                    function(tokens, list, name, true, &mut nodes)?;
                } else if next.is_none() {
                    // `isFqlFunction(undefined)` reads `.type` of undefined.
                    return Err(type_error());
                }
            }
            Kind::ParenLeft => {
                let mut group = VecDeque::new();
                loop {
                    let i = list.pop_front().ok_or_else(type_error)?;
                    if tokens.get(i).is_some_and(|t| t.kind == Kind::ParenRight) {
                        break;
                    }
                    group.push_back(i);
                }
                group.push_back(eos);
                nodes.push(parse_list(tokens, &mut group, eos)?);
            }
            Kind::Conditional => or = token.text == "or",
            _ => {}
        }
    }
    if nodes.len() > 1 {
        return Ok(Some(SegNode::Group { or, children: nodes }));
    }
    Ok(nodes.into_iter().next().flatten())
}

/// `parseFqlFunction`: shifts `(`, the field, `,`, the value and `)` without looking at them.
fn function(
    tokens: &[Token],
    list: &mut VecDeque<usize>,
    at: usize,
    negate: bool,
    nodes: &mut Vec<Option<SegNode>>,
) -> Result<(), SegError> {
    let name = tokens.get(at).map_or("", |t| t.text.as_str());
    list.pop_front();
    let field = list.pop_front().and_then(|i| tokens.get(i));
    let field = field.ok_or_else(|| SegError(format!("{name}() is missing a 1st argument")))?;
    list.pop_front();
    let value = list.pop_front().and_then(|i| tokens.get(i));
    let value = value.ok_or_else(|| SegError(format!("{name}() is missing a 2nd argument")))?;
    list.pop_front();
    if let Some(leaf) = function_leaf(name, negate, &field.text, value) {
        nodes.push(Some(SegNode::Leaf { at, leaf }));
    }
    Ok(())
}

#[cfg(test)]
/// Segment's `validate`: `Err` where it throws (an empty group reached, a `null`
/// event, a path of separators only).
pub(crate) fn validate(node: &SegNode, event: &serde_json::Value) -> Result<bool, super::eval::Crash> {
    match node {
        SegNode::Leaf { leaf, .. } => leaf.eval(event),
        SegNode::Group { or, children } => {
            for child in children {
                let hit = validate(child.as_ref().ok_or(super::eval::Crash)?, event)?;
                if hit == *or {
                    return Ok(hit);
                }
            }
            Ok(!*or)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;
    use serde_json::json;

    fn run(src: &str, event: serde_json::Value) -> Result<bool, String> {
        let tokens = normalize(lex(src).map_err(|e| e.message)?);
        let tree = parse(&tokens).map_err(|e| e.0)?;
        validate(&tree, &event).map_err(|_| "crash".to_owned())
    }

    /// Cases whose answers come from the reference (`node oracle.mjs`).
    #[test]
    fn reads_like_segment() {
        let table: &[(&str, serde_json::Value, Result<bool, &str>)] = &[
            ("type = \"track\"", json!({"type": "track"}), Ok(true)),
            (
                "a and b",
                json!({}),
                Err("TypeError: Cannot read properties of undefined (reading 'type')"),
            ),
            (
                "type = \"identify\" and userId = \"u1\" or event = \"X\"",
                json!({"event": "X"}),
                Ok(true),
            ),
            ("!(type = \"track\")", json!({"type": "track"}), Ok(true)),
            (
                "((type = \"track\"))",
                json!({"type": "track"}),
                Err("TypeError: Cannot read properties of undefined (reading 'type')"),
            ),
            (
                "(contains(event, \"x\") or type = \"y\") and userId = \"u\"",
                json!({"event": "x", "userId": "u"}),
                Ok(false),
            ),
            ("contains(", json!({}), Err("contains() is missing a 2nd argument")),
            ("properties", json!({}), Err("Value token is missing")),
            ("properties.or = 1", json!({"properties": {"or": 1}}), Ok(false)),
            ("properties.total = .5", json!({"properties": {"total": "."}}), Ok(true)),
            ("event = ax", json!({"event": "a"}), Ok(true)),
            (
                "properties.name.length = 3",
                json!({"properties": {"name": "abc"}}),
                Ok(true),
            ),
            ("type = \"track\" and ()", json!({"type": "track"}), Err("crash")),
            ("type = \"track\" and ()", json!({"type": "page"}), Ok(false)),
        ];
        for (src, event, want) in table {
            let want = want.map_err(str::to_owned);
            assert_eq!(run(src, event.clone()), want, "{src}");
        }
    }

    #[test]
    fn normalize_merges_words_around_dots() {
        let tokens = normalize(lex("properties.a.b = x.y and properties.or").unwrap());
        let texts: Vec<_> = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            ["properties.a.b", "=", "x.y", "and", "properties", ".", "or", "eos"]
        );
        assert_eq!((tokens[0].start, tokens[0].end), (0, 14));
    }
}
