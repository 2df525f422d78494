//! `{"@jmespath": "expr"}`: our extension, a JMESPath expression evaluated
//! against the payload (the event; an item inside `@arrayPath`; the applied
//! payload inside `@transform`).
//!
//! The expression is compiled when the mapping is. JMESPath cannot tell a missing
//! field from a `null` one, so a `null` result is undefined: the field is left out,
//! like a `@path` to a missing field. JMESPath objects have sorted keys, so an
//! object result lists its keys in alphabetical order.

use jmespath::{Rcvar, Variable};
use serde_json::{Map, Value};

use super::value::{MAX_DATA_DEPTH, Mapped, TooDeep};

/// Longest expression we compile, and deepest bracket nesting in it: the parser
/// recurses, and a fuzzer-made expression must not overflow the stack.
const MAX_LEN: usize = 4096;
const MAX_NESTING: usize = 64;

/// A compiled JMESPath expression.
pub(crate) struct Jmes {
    expr: jmespath::Expression<'static>,
}

impl std::fmt::Debug for Jmes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jmes({:?})", self.expr.as_str())
    }
}

impl Clone for Jmes {
    fn clone(&self) -> Self {
        Jmes {
            expr: self.expr.clone(),
        }
    }
}

/// A syntax error: where in the expression (a byte offset) and why.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

impl Jmes {
    pub(crate) fn compile(src: &str) -> Result<Jmes, SyntaxError> {
        if src.chars().count() > MAX_LEN {
            return Err(SyntaxError {
                offset: src.char_indices().nth(MAX_LEN).map_or(src.len(), |(i, _)| i),
                reason: format!("expressions are limited to {MAX_LEN} characters"),
            });
        }
        let mut depth = 0usize;
        for (offset, c) in src.char_indices() {
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(SyntaxError {
                            offset,
                            reason: format!("brackets are nested more than {MAX_NESTING} deep"),
                        });
                    }
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        jmespath::compile(src)
            .map(|expr| Jmes { expr })
            .map_err(|e| SyntaxError {
                offset: e.offset,
                reason: match e.reason {
                    jmespath::ErrorReason::Parse(msg) => msg,
                    other => other.to_string(),
                },
            })
    }

    pub(crate) fn as_str(&self) -> &str {
        self.expr.as_str()
    }

    /// Evaluates against `data`; `null` is undefined.
    pub(crate) fn search(&self, data: Rcvar) -> Result<Mapped<'static>, String> {
        let result = self.expr.search(data).map_err(|e| match e.reason {
            jmespath::ErrorReason::Runtime(r) => format!("@jmespath {:?}: {r}", self.expr.as_str()),
            other => format!("@jmespath {:?}: {other}", self.expr.as_str()),
        })?;
        Ok(match to_value(&result, 0) {
            Some(Value::Null) | None => Mapped::Undef,
            Some(v) => Mapped::Val(v),
        })
    }
}

/// The payload as a JMESPath variable (directly, not through JSON text).
/// `undefined` members are left out and `undefined` elements are `null`.
pub(crate) fn to_variable(v: &Mapped<'_>) -> Result<Rcvar, TooDeep> {
    js_to_variable(v, 0)
}

fn js_to_variable(v: &Mapped<'_>, depth: usize) -> Result<Rcvar, TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    Ok(match v {
        Mapped::Undef => Rcvar::new(Variable::Null),
        Mapped::Ref(v) => value_to_variable(v, depth)?,
        Mapped::Val(v) => value_to_variable(v, depth)?,
        Mapped::Arr(items) => Rcvar::new(Variable::Array(
            items
                .iter()
                .map(|item| js_to_variable(item, depth + 1))
                .collect::<Result<_, _>>()?,
        )),
        Mapped::Obj(members) => Rcvar::new(Variable::Object(
            members
                .iter()
                .filter(|(_, v)| !v.is_undefined())
                .map(|(k, v)| Ok((k.to_string(), js_to_variable(v, depth + 1)?)))
                .collect::<Result<_, _>>()?,
        )),
    })
}

fn value_to_variable(v: &Value, depth: usize) -> Result<Rcvar, TooDeep> {
    if depth > MAX_DATA_DEPTH {
        return Err(TooDeep);
    }
    Ok(Rcvar::new(match v {
        Value::Null => Variable::Null,
        Value::Bool(b) => Variable::Bool(*b),
        Value::Number(n) => Variable::Number(n.clone()),
        Value::String(s) => Variable::String(s.clone()),
        Value::Array(items) => Variable::Array(
            items
                .iter()
                .map(|item| value_to_variable(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Variable::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), value_to_variable(v, depth + 1)?)))
                .collect::<Result<_, _>>()?,
        ),
    }))
}

/// A JMESPath result as JSON; `None` for an expression reference (`&foo`), which has none.
fn to_value(v: &Variable, depth: usize) -> Option<Value> {
    if depth > MAX_DATA_DEPTH {
        return None;
    }
    Some(match v {
        Variable::Null => Value::Null,
        Variable::Bool(b) => Value::Bool(*b),
        Variable::Number(n) => Value::Number(n.clone()),
        Variable::String(s) => Value::String(s.clone()),
        Variable::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| to_value(item, depth + 1).unwrap_or(Value::Null))
                .collect(),
        ),
        Variable::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                if let Some(v) = to_value(v, depth + 1) {
                    out.insert(k.clone(), v);
                }
            }
            Value::Object(out)
        }
        Variable::Expref(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(expr: &str, event: &Value) -> Option<Value> {
        let jmes = Jmes::compile(expr).ok()?;
        let data = to_variable(&Mapped::Ref(event)).ok()?;
        jmes.search(data).ok()?.into_value()
    }

    #[test]
    fn evaluates_against_the_event() {
        let event = json!({"traits": {"email": null}, "context": {"traits": {"email": "a@example.com"}},
                           "properties": {"items": [{"sku": "a", "n": 2}, {"sku": "b", "n": 1}]}});
        let cases = [
            ("traits.email || context.traits.email", Some(json!("a@example.com"))),
            ("traits.email", None),
            ("missing", None),
            ("properties.items[].sku", Some(json!(["a", "b"]))),
            ("length(properties.items)", Some(json!(2))),
            ("properties.items[?n > `1`].sku | [0]", Some(json!("a"))),
            ("{b: `1`, a: `2`}", Some(json!({"a": 2, "b": 1}))),
            ("`null`", None),
        ];
        for (expr, want) in cases {
            assert_eq!(run(expr, &event), want, "{expr}");
        }
    }

    #[test]
    fn syntax_errors_carry_the_offset() {
        for (expr, offset) in [("a.[", 3), ("foo bar", 4)] {
            let err = Jmes::compile(expr).err();
            assert_eq!(err.map(|e| e.offset), Some(offset), "{expr}");
        }
        let deep = "(".repeat(100);
        assert!(Jmes::compile(&deep).is_err());
    }
}
