//! `@liquid`: templates in the Liquid language, as liquidjs renders them.
//!
//! (Work in progress: only text without tags or outputs is accepted so far.)

use super::value::Js;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Liquid {
    src: Box<str>,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LiquidError {
    /// liquidjs fails on it at every render (a syntax error, a disabled tag).
    Fails(String),
    /// liquidjs accepts it but we do not support it: rejected when the mapping loads.
    Unsupported(String),
}

impl Liquid {
    pub(crate) fn parse(src: &str) -> Result<Liquid, LiquidError> {
        if src.contains("{{") || src.contains("{%") {
            return Err(LiquidError::Unsupported(
                "Liquid tags and outputs are not supported yet".to_owned(),
            ));
        }
        Ok(Liquid { src: src.into() })
    }

    pub(crate) fn source(&self) -> &str {
        &self.src
    }

    pub(crate) fn render(&self, _payload: &Js<'_>) -> Result<String, String> {
        Ok(self.src.to_string())
    }
}
