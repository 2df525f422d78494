//! `@template`: `{{path}}` placeholders, as mapping-kit's `render` fills them.
//!
//! The reference runs two regular-expression replacements in a row: first
//! `{{{x}}}`, then `{{x}}` over the result of the first. So both spellings print
//! the same (no HTML escaping), a value put in by a triple placeholder is scanned
//! again by the second pass, and a placeholder cannot contain `}`
//! (`{{{{event}}}}` prints `}`). The path inside is trimmed and read with `get`
//! (no `$.` removal, so `{{$.event}}` is empty); `null` and missing values print
//! nothing, other values print as `String(value)` does.

use serde_json::{Map, Value};

use super::path::Path;
use super::value::{Mapped, js_trim};

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    src: Box<str>,
    segs: Box<[Seg]>,
    /// The template has `{{{…}}}` placeholders, so the `{{…}}` pass runs at render
    /// time over the first pass's output (which depends on the event).
    second_pass: bool,
}

#[derive(Debug, Clone)]
enum Seg {
    Lit(Box<str>),
    Var(Path),
}

impl Template {
    pub(crate) fn parse(src: &str) -> Template {
        let triple = scan(src, 3);
        if triple.iter().any(|s| matches!(s, Seg::Var(_))) {
            Template {
                src: src.into(),
                segs: triple.into_boxed_slice(),
                second_pass: true,
            }
        } else {
            Template {
                src: src.into(),
                segs: scan(src, 2).into_boxed_slice(),
                second_pass: false,
            }
        }
    }

    pub(crate) fn source(&self) -> &str {
        &self.src
    }

    pub(crate) fn render(&self, payload: &Mapped<'_>) -> String {
        let first = render_segs(&self.segs, payload);
        if self.second_pass {
            render_segs(&scan(&first, 2), payload)
        } else {
            first
        }
    }
}

fn render_segs(segs: &[Seg], payload: &Mapped<'_>) -> String {
    // `render(template, data = {})`: an undefined payload is an empty object.
    let empty = Mapped::Val(Value::Object(Map::new()));
    let payload = if payload.is_undefined() { &empty } else { payload };
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Lit(s) => out.push_str(s),
            Seg::Var(path) => {
                let v = path.get(payload);
                if !v.is_nullish() {
                    v.write_string(&mut out);
                }
            }
        }
    }
    out
}

/// Splits `src` on the placeholders with `n` braces (`\{{n}([^}]+)\}{n}`).
fn scan(src: &str, n: usize) -> Vec<Seg> {
    let bytes = src.as_bytes();
    let mut segs = Vec::new();
    let (mut lit_start, mut i) = (0, 0);
    while i + 2 * n < bytes.len() + 1 {
        if bytes[i..i + n].iter().all(|b| *b == b'{') {
            let body = i + n;
            if let Some(close) = bytes[body..].iter().position(|b| *b == b'}').map(|p| body + p) {
                let end = close + n;
                if close > body && end <= bytes.len() && bytes[close..end].iter().all(|b| *b == b'}') {
                    if lit_start < i {
                        segs.push(Seg::Lit(src[lit_start..i].into()));
                    }
                    segs.push(Seg::Var(Path::parse(js_trim(&src[body..close]))));
                    i = end;
                    lit_start = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    if lit_start < src.len() {
        segs.push(Seg::Lit(src[lit_start..].into()));
    }
    segs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_as_mapping_kit() {
        let event = json!({
            "event": "E", "n": 59.9, "z": 0, "f": false, "nul": null, "o": {"a": 1},
            "l": ["a", null, 2], "html": "<b>", "t": "{{event}}", "k k": "spaced", "}": "brace"
        });
        let root = Mapped::Ref(&event);
        let cases = [
            ("Hello {{event}}!", "Hello E!"),
            ("{{ event }}|{{event }}|{{  event}}", "E|E|E"),
            ("{{{html}}} {{html}}", "<b> <b>"),
            ("[{{missing}}][{{nul}}]", "[][]"),
            ("{{n}}/{{z}}/{{f}}", "59.9/0/false"),
            ("{{o}} {{l}}", "[object Object] a,,2"),
            ("{{$.event}}", ""),
            ("{{{{event}}}}", "}"),
            ("{{t}}", "{{event}}"),
            ("{{{t}}}", "E"),
            ("{{k k}}", "spaced"),
            ("{{}}", "{{}}"),
            ("{{ }}", "[object Object]"),
            ("{{event", "{{event"),
            ("", ""),
            ("{{l.length}}{{event[0]}}", "3E"),
            ("é{{event}}é", "éEé"),
        ];
        for (src, want) in cases {
            assert_eq!(Template::parse(src).render(&root), want, "{src}");
        }
    }

    #[test]
    fn undefined_payload_is_an_empty_object() {
        assert_eq!(
            Template::parse("{{.}}|{{x}}").render(&Mapped::Undef),
            "[object Object]|"
        );
    }
}
