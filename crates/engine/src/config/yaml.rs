//! Reading YAML into JSON values while remembering where every node came from.
//!
//! serde-saphyr parses the text once into a tree whose nodes carry their
//! line and column ([`serde_saphyr::Spanned`]). We turn that tree into a
//! `serde_json::Value` and an index from JSON Pointer to position, so any later
//! error (a schema violation, a bad FQL expression, an unknown mapping field)
//! can name the line and column it refers to.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

/// Where a node and, for a mapping member, its key start.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePos {
    /// Start of the value.
    pub value: Pos,
    /// Start of the key that holds the value, for mapping members.
    pub key: Option<Pos>,
    /// How many characters the key spans in the file, quotes included.
    pub key_len: usize,
}

/// JSON Pointer -> position, for every node of a document.
#[derive(Debug, Clone, Default)]
pub struct PosIndex {
    nodes: HashMap<String, NodePos>,
}

impl PosIndex {
    /// The position of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn find(&self, pointer: &str) -> NodePos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.nodes.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => {
                    return NodePos {
                        value: Pos { line: 1, column: 1 },
                        key: None,
                        key_len: 0,
                    };
                }
            }
        }
    }

    /// Whether the document has a node at exactly `pointer`.
    pub fn contains(&self, pointer: &str) -> bool {
        self.nodes.contains_key(pointer)
    }
}

/// A YAML syntax error (or a document we refuse, such as one with non-string keys).
#[derive(Debug, Clone)]
pub struct YamlError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's message.
    pub message: String,
}

/// Parses one YAML document into a JSON value and the position of each of its nodes.
///
/// An empty document is `null`. Aliases are expanded within serde-saphyr's budget,
/// so "billion laughs" documents fail instead of exhausting memory; duplicate keys
/// are errors.
pub fn parse(text: &str) -> Result<(Value, PosIndex), YamlError> {
    let read = || -> Result<Option<Spanned<Node>>, YamlError> {
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
        // YAML 1.2 booleans only. With YAML 1.1's, `y`, `n`, `yes`, `no`, `on` and `off` are
        // booleans: a mapping field `y:` would be sent as "true", `country: NO` as false.
        options.strict_booleans = true;
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let pos = e.location().map(pos_of).unwrap_or(Pos { line: 1, column: 1 });
            YamlError {
                pos,
                message: message_of(&e),
            }
        })
    };
    // The parser recurses once per level of nesting, with large frames in a debug
    // build: on a thread of its own with room for the deepest document the budget
    // lets through, so that the caller's stack (2 MiB on a worker thread) does not
    // decide whether a deep config is an error or a crash.
    let root = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml".to_owned())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, read)
            .map_err(|e| YamlError {
                pos: Pos { line: 1, column: 1 },
                message: format!("cannot start the YAML parser: {e}"),
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(YamlError {
                    pos: Pos { line: 1, column: 1 },
                    message: "the YAML parser failed on this document".to_owned(),
                })
            })
    })?;
    let mut index = PosIndex::default();
    let value = match root {
        None => Value::Null,
        Some(root) => {
            let mut pointer = String::new();
            let pos = pos_of(root.referenced);
            index.nodes.insert(
                String::new(),
                NodePos {
                    value: pos,
                    key: None,
                    key_len: 0,
                },
            );
            into_value(root.value, &mut pointer, &mut index)?
        }
    };
    Ok((value, index))
}

fn pos_of(loc: serde_saphyr::Location) -> Pos {
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX).max(1);
    Pos {
        line: clamp(loc.line()),
        column: clamp(loc.column()),
    }
}

/// Stack of the parser's thread.
const PARSER_STACK: usize = 64 * 1024 * 1024;

const TOO_DEEP: &str = "the document is nested too deeply (lists and mappings more than 64 levels inside each other)";

/// The parser's error in words for someone editing a config (serde-saphyr's are for the
/// programmer calling it: "set DuplicateKeyPolicy in Options", "budget breached: Nodes").
fn message_of(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    match e.without_snippet() {
        E::DuplicateMappingKey { key: Some(key), .. } => format!("the key `{key}` is written twice in this mapping"),
        E::DuplicateMappingKey { key: None, .. } => "a key is written twice in this mapping".to_owned(),
        E::MultipleDocuments { .. } => {
            "the file holds several YAML documents (`---`); a config file holds one".to_owned()
        }
        E::UnknownAnchor { .. } => "this alias (`*name`) names no anchor (`&name`) defined before it".to_owned(),
        E::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Depth { .. },
            ..
        } => TOO_DEEP.to_owned(),
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayStackDepthExceeded { .. } => {
            "the document is too large or too deeply nested once its aliases are expanded".to_owned()
        }
        other => {
            let message = tidy_message(&other.to_string());
            // A breach met while aliases are replayed comes back as a plain message.
            if message.starts_with("budget breached") {
                "the document is too large or too deeply nested once its aliases are expanded".to_owned()
            } else if message.starts_with("recursion limit exceeded") {
                TOO_DEEP.to_owned()
            } else if message.starts_with("tabs disallowed") {
                format!("{message}: YAML indents with spaces only")
            } else {
                message
            }
        }
    }
}

/// serde-saphyr appends " at line L column C" to some messages; we print positions ourselves.
/// Its budget errors name internals; say what happened instead.
fn tidy_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    if first.starts_with("budget breached") {
        return "the document is too large once its aliases are expanded: aliases (`*a`) that repeat \
                anchors (`&a`) many times over, as in a \"billion laughs\" attack"
            .to_owned();
    }
    match first.find(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}

/// The tree serde-saphyr fills in: every child keeps its position.
enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

/// Deeper documents are refused: the tree is walked recursively.
const MAX_DEPTH: usize = 128;

fn into_value(node: Node, pointer: &mut String, index: &mut PosIndex) -> Result<Value, YamlError> {
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(n) => Value::Number(n),
        Node::String(s) => Value::String(s),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                index.nodes.insert(
                    pointer.clone(),
                    NodePos {
                        value: pos_of(item.referenced),
                        key: None,
                        key_len: 0,
                    },
                );
                out.push(nested(item, pointer, index)?);
                pointer.truncate(len);
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key_pos = pos_of(key.referenced);
                let name = match key.value {
                    Node::String(s) => s,
                    Node::Number(n) => n.to_string(),
                    Node::Bool(b) => b.to_string(),
                    Node::Null => "null".to_owned(),
                    Node::Seq(_) | Node::Map(_) => {
                        return Err(YamlError {
                            pos: key_pos,
                            message: "a mapping key must be a plain value, not a list or a mapping".to_owned(),
                        });
                    }
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                let value_pos = pos_of(value.referenced);
                index.nodes.insert(
                    pointer.clone(),
                    NodePos {
                        value: value_pos,
                        key: Some(key_pos),
                        key_len: usize::try_from(key.referenced.span().len()).unwrap_or(1).max(1),
                    },
                );
                let v = nested(value, pointer, index)?;
                pointer.truncate(len);
                out.insert(name, v);
            }
            Value::Object(out)
        }
    })
}

fn nested(node: Spanned<Node>, pointer: &mut String, index: &mut PosIndex) -> Result<Value, YamlError> {
    if pointer.matches('/').count() > MAX_DEPTH {
        return Err(YamlError {
            pos: pos_of(node.referenced),
            message: format!("the document is nested more than {MAX_DEPTH} levels deep"),
        });
    }
    into_value(node.value, pointer, index)
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_i128<E: de::Error>(self, n: i128) -> Result<Node, E> {
        i64::try_from(n)
            .map(Number::from)
            .or_else(|_| u64::try_from(n).map(Number::from))
            .map(Node::Number)
            .map_err(|_| E::custom(format!("the number {n} is too large")))
    }
    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Node, E> {
        u64::try_from(n)
            .map(|n| Node::Number(n.into()))
            .map_err(|_| E::custom(format!("the number {n} is too large")))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Node, E> {
        Number::from_f64(x)
            .map(Node::Number)
            .ok_or_else(|| E::custom("numbers must be finite (JSON has no NaN or infinity)"))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Node, E> {
        Ok(Node::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Node, E> {
        Ok(Node::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<Node>, Spanned<Node>>()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_by_pointer() {
        let text = "version: 1\nsubscriptions:\n  - name: A\n    trigger: 'type = \"track\"'\n";
        let (value, index) = parse(text).unwrap();
        assert_eq!(value["subscriptions"][0]["name"], "A");
        let name = index.find("/subscriptions/0/name");
        assert_eq!(name.value, Pos { line: 3, column: 11 });
        assert_eq!(name.key, Some(Pos { line: 3, column: 5 }));
        assert_eq!(
            index.find("/subscriptions/0/trigger").value,
            Pos { line: 4, column: 14 }
        );
        // A pointer below a scalar falls back to the scalar.
        assert_eq!(index.find("/subscriptions/0/name/x").value, Pos { line: 3, column: 11 });
    }

    #[test]
    fn rejects_bad_yaml_with_a_position() {
        for (text, line) in [
            ("a: 1\na: 2\n", 2),
            ("a:\n\t- 1\n", 2),
            ("a: 'unclosed\n", 1),
            ("a: [1, 2\n", 1),
        ] {
            let err = parse(text).err().unwrap_or_else(|| panic!("{text:?} parsed"));
            assert!(err.pos.line >= line, "{text:?}: {err:?}");
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn deep_nesting_is_said_in_words() {
        let flow = format!("x: {}{}\n", "[".repeat(200), "]".repeat(200));
        let mut block = String::from("x:\n");
        for depth in 1..80 {
            block.push_str(&format!("{}a:\n", "  ".repeat(depth)));
        }
        for text in [flow, block] {
            let err = parse(&text).err().unwrap();
            assert_eq!(err.message, TOO_DEEP, "{err:?}");
        }
    }

    #[test]
    fn anchors_expand_within_budget() {
        let (v, _) = parse("a: &x {k: 1}\nb: *x\n").unwrap();
        assert_eq!(v["b"]["k"], 1);
        let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..12 {
            let p = i - 1;
            laughs.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&laughs).err().unwrap();
        assert!(
            err.message
                .starts_with("the document is too large once its aliases are expanded"),
            "{err:?}"
        );
        assert_eq!(err.pos.line, 6);
    }

    #[test]
    fn only_true_and_false_are_booleans() {
        let (v, _) = parse("y: 1\nn: NO\non: off\nyes: [y, n, True, false]\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"y": 1, "n": "NO", "on": "off", "yes": ["y", "n", true, false]})
        );
    }

    #[test]
    fn messages_speak_to_the_config_author() {
        let message = |text: &str| parse(text).err().unwrap().message;
        assert_eq!(message("a: 1\na: 2\n"), "the key `a` is written twice in this mapping");
        assert_eq!(
            message("a: *nowhere\n"),
            "this alias (`*name`) names no anchor (`&name`) defined before it"
        );
        assert!(message("a:\n\t- 1\n").ends_with("YAML indents with spaces only"));
        assert_eq!(
            message("a: 1\n---\nb: 2\n"),
            "the file holds several YAML documents (`---`); a config file holds one"
        );
    }

    #[test]
    fn numbers_and_nulls() {
        let (v, _) = parse("big: 9007199254740993\nf: 1.5\nn: ~\ne:\n").unwrap();
        assert_eq!(v["big"].as_u64(), Some(9007199254740993));
        assert_eq!(v["f"].as_f64(), Some(1.5));
        assert!(v["n"].is_null() && v["e"].is_null());
        assert!(parse("").unwrap().0.is_null());
    }
}
