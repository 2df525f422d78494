//! `{"@jmespath": "expr"}`: our extension, a JMESPath expression evaluated
//! against the payload (the event; an item inside `@arrayPath`; the applied
//! payload inside `@transform`).
//!
//! The expression is compiled when the mapping is. JMESPath cannot tell a missing
//! field from a `null` one, so a `null` result is undefined: the field is left out,
//! like a `@path` to a missing field. JMESPath objects have sorted keys, so an
//! object result lists its keys in alphabetical order.
//!
//! Numbers follow JavaScript (jmespath.js, and every other directive), which has
//! one number type: the jmespath crate computes `sum`, `avg`, `abs`, `ceil`,
//! `floor` and `to_number` in `f64` and would send `sum([1, 2])` as `3.0`, and its
//! `to_string` prints through serde_json (`"3.0"`, `"1e21"`). Our runtime wraps the
//! first so that whole results are integers, and replaces `to_string` with
//! `JSON.stringify`.

use std::sync::LazyLock;

use jmespath::functions::{ArgumentType, Function, Signature};
use jmespath::{Context, ErrorReason, JmespathError, Rcvar, Runtime, SearchResult, Variable};
use serde_json::{Map, Number, Value};

use super::value::{self, MAX_DATA_DEPTH, Mapped, TooDeep};
use crate::js;

/// The builtin functions that compute a number in `f64`.
const COMPUTING: [&str; 6] = ["abs", "avg", "ceil", "floor", "sum", "to_number"];

/// The functions every expression compiles against: the builtins, with JavaScript's numbers.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let mut runtime = Runtime::new();
    runtime.register_builtin_functions();
    for name in COMPUTING {
        if let Some(builtin) = runtime.deregister_function(name) {
            runtime.register_function(name, Box::new(WholeNumbers(builtin)));
        }
    }
    runtime.register_function("to_string", Box::new(JsToString::new()));
    runtime
});

/// A builtin whose whole-number results become integers, as JavaScript prints them.
struct WholeNumbers(Box<dyn Function>);

impl Function for WholeNumbers {
    fn evaluate(&self, args: &[Rcvar], ctx: &mut Context<'_>) -> SearchResult {
        let result = self.0.evaluate(args, ctx)?;
        Ok(match &*result {
            Variable::Number(n) if n.is_f64() => match js::exact_integer(js::as_f64(n)) {
                Some(i) => Rcvar::new(Variable::Number(Number::from(i))),
                None => result,
            },
            _ => result,
        })
    }
}

/// jmespath.js's `to_string`: a string as it is, anything else through `JSON.stringify`.
struct JsToString {
    signature: Signature,
}

impl JsToString {
    fn new() -> JsToString {
        use ArgumentType as T;
        // The builtin's signature, so that type errors read the same.
        let any_value = T::Union(vec![T::Object, T::Array, T::Bool, T::Number, T::String, T::Null]);
        JsToString {
            signature: Signature::new(vec![any_value], None),
        }
    }
}

impl Function for JsToString {
    fn evaluate(&self, args: &[Rcvar], ctx: &mut Context<'_>) -> SearchResult {
        self.signature.validate(args, ctx)?;
        let Some(arg) = args.first() else {
            return Ok(Rcvar::new(Variable::Null));
        };
        if let Variable::String(_) = &**arg {
            return Ok(arg.clone());
        }
        let text = to_value(arg, 0)
            .and_then(|v| value::stringify(&Mapped::Val(v)).ok().flatten())
            .ok_or_else(|| {
                let reason = format!("to_string: the value is nested more than {MAX_DATA_DEPTH} levels deep");
                JmespathError::from_ctx(ctx, ErrorReason::Parse(reason))
            })?;
        Ok(Rcvar::new(Variable::String(text)))
    }
}

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
        RUNTIME.compile(src).map(|expr| Jmes { expr }).map_err(|e| SyntaxError {
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

    /// What jmespath.js gives (JavaScript numbers), for the functions that compute
    /// numbers and for `to_string`.
    #[test]
    fn numbers_as_javascript() {
        let event = json!({"qty": [1, 2], "price": 2.5, "f": [0.1, 0.2], "n": 3, "big": 9007199254740993u64});
        let cases = [
            ("sum(qty)", json!(3)),
            ("ceil(price)", json!(3)),
            ("floor(price)", json!(2)),
            ("abs(`-3`)", json!(3)),
            ("avg(qty)", json!(1.5)),
            ("avg(`[2, 4]`)", json!(3)),
            ("to_number('3.0')", json!(3)),
            ("sum(f)", json!(0.30000000000000004)),
            ("sum(`[]`)", json!(0)),
            ("map(&abs(@), `[-1, -2]`)", json!([1, 2])),
            ("to_string(sum(qty))", json!("3")),
            ("join(' ', ['seats', to_string(sum(qty))])", json!("seats 3")),
            ("to_string(sum(f))", json!("0.30000000000000004")),
            ("to_string(`1e21`)", json!("1e+21")),
            ("to_string(`1e20`)", json!("100000000000000000000")),
            ("to_string(`[1.0, 0.000001, 1e-7, -0.0]`)", json!("[1,0.000001,1e-7,0]")),
            ("to_string(n)", json!("3")),
            ("to_string(big)", json!("9007199254740993")),
            ("to_string('s')", json!("s")),
            ("to_string(`true`)", json!("true")),
            (
                "to_string(`{\"a\": 1.0, \"b\": \"x\"}`)",
                json!("{\"a\":1,\"b\":\"x\"}"),
            ),
            ("map(&to_string(@), qty)", json!(["1", "2"])),
        ];
        for (expr, want) in cases {
            let got = run(expr, &event);
            assert_eq!(got, Some(want.clone()), "{expr}");
            // Integers, not floats that compare equal: the wire text is what matters.
            assert_eq!(got.map(|v| v.to_string()), Some(want.to_string()), "{expr}");
        }
        // The builtin's type check stays.
        let jmes = Jmes::compile("to_string(&a)").ok();
        let data = to_variable(&Mapped::Ref(&event)).ok();
        let err = jmes.zip(data).and_then(|(j, d)| j.search(d).err()).unwrap_or_default();
        assert!(err.contains("expects type"), "{err}");
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
