//! One-line descriptions of compiled nodes, for `--explain`.

use std::fmt::Write as _;

use serde_json::Value;

use super::node::{ArrayRoot, CaseOp, JsonMode, Node, Test};

/// Longest raw value shown before it is cut with `…`.
const MAX_RAW: usize = 60;

impl Node {
    pub(crate) fn describe(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Node::Const(v) => {
                out.push_str("raw ");
                raw(v, out);
            }
            Node::Object(fields) => {
                out.push_str("object {");
                for (i, (k, _)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                }
                out.push('}');
            }
            Node::Array(items) => {
                let _ = write!(out, "array of {}", items.len());
            }
            Node::Path(p) => {
                let _ = write!(out, "@path {}", p.describe());
            }
            Node::DynPath { src, .. } => {
                out.push_str("@path from ");
                src.write(out);
            }
            Node::Template(t) => {
                out.push_str("@template ");
                raw(&Value::String(t.source().to_owned()), out);
            }
            Node::DynTemplate { src, .. } => {
                out.push_str("@template from ");
                src.write(out);
            }
            Node::Literal(inner) => {
                out.push_str("@literal ");
                inner.write(out);
            }
            Node::If {
                test,
                value,
                then,
                otherwise,
            } => {
                out.push_str(match test {
                    Test::Exists => "@if exists ",
                    Test::Blank => "@if not blank ",
                });
                value.write(out);
                if let Some(then) = then {
                    out.push_str(" then ");
                    then.write(out);
                }
                if let Some(otherwise) = otherwise {
                    out.push_str(" else ");
                    otherwise.write(out);
                }
            }
            Node::Case { op, value, .. } => {
                out.push_str(match op {
                    CaseOp::Lower => "@case lower",
                    CaseOp::Upper => "@case upper",
                    CaseOp::Other => "@case (bad operator)",
                });
                if let Some(value) = value {
                    out.push(' ');
                    value.write(out);
                }
            }
            Node::Replace { replace, value, .. } => {
                out.push_str("@replace");
                if let Some((Ok(rule), _)) = &replace.rules {
                    out.push(' ');
                    raw(&Value::String(rule.pattern().to_owned()), out);
                }
                if let Some(value) = value {
                    out.push_str(" in ");
                    value.write(out);
                }
            }
            Node::ArrayPath { root, shape } => {
                out.push_str("@arrayPath ");
                match root {
                    ArrayRoot::Path(p) => out.push_str(&p.describe()),
                    ArrayRoot::Node(n) => n.write(out),
                    ArrayRoot::Missing => out.push_str("(nothing)"),
                }
                if let Some(shape) = shape {
                    out.push_str(" each ");
                    shape.write(out);
                }
            }
            Node::Json { mode, value, .. } => {
                out.push_str(match mode {
                    JsonMode::Encode => "@json encode ",
                    JsonMode::Decode => "@json decode ",
                    JsonMode::Other => "@json (unknown mode) ",
                });
                value.write(out);
            }
            Node::Flatten { value, .. } => {
                out.push_str("@flatten");
                if let Some(value) = value {
                    out.push(' ');
                    value.write(out);
                }
            }
            Node::Merge { objects, .. } => {
                let _ = write!(out, "@merge of {} objects", objects.len());
            }
            Node::Transform { apply, mapping, .. } => {
                out.push_str("@transform apply ");
                apply.write(out);
                out.push_str(" then ");
                mapping.write(out);
            }
            Node::ExcludeWhenNull { value, .. } => {
                out.push_str("@excludeWhenNull ");
                value.write(out);
            }
            Node::Liquid { template, .. } => {
                out.push_str("@liquid ");
                raw(&Value::String(template.source().to_owned()), out);
            }
            Node::Jmes { expr, .. } => {
                let _ = write!(out, "@jmespath {}", expr.as_str());
            }
            Node::Fail { message, .. } => {
                let _ = write!(out, "fails: {message}");
            }
        }
    }
}

fn raw(v: &Value, out: &mut String) {
    let text = v.to_string();
    if text.chars().count() > MAX_RAW {
        out.extend(text.chars().take(MAX_RAW));
        out.push('…');
    } else {
        out.push_str(&text);
    }
}
