//! The user-deletion request (Segment's `onDelete`).
//!
//! `DELETE {api_url}/v1/people?people[0][userId]=<id>`, or
//! `people[0][segmentAnonymousId]=<id>` when the user ID is falsy in
//! JavaScript's sense (`""`, `0`, `null`); with neither, no request. Ids that
//! are not strings are printed as JavaScript would (`12345`).
//!
//! One deliberate difference: the reference interpolates the id unencoded, so
//! an id containing `&`, `=`, `+`, `?`, `/`, `@` or `#` changes the query (or is
//! cut at `#`), and tabs and newlines are dropped by the HTTP client. We
//! percent-encode every byte outside RFC 3986's unreserved characters.

use serde_json::Value;

use super::{PlannedRequest, Settings};
use crate::js;

/// The user-deletion requests: by `userId`, else by `anonymousId`; none when neither is set.
pub fn plan_delete(user_id: Option<&Value>, anonymous_id: Option<&Value>, settings: &Settings) -> Vec<PlannedRequest> {
    let (user_id, anonymous_id) = (
        user_id.filter(|v| js::is_truthy(v)),
        anonymous_id.filter(|v| js::is_truthy(v)),
    );
    let (key, id) = match (user_id, anonymous_id) {
        (Some(id), _) => ("userId", id),
        (None, Some(id)) => ("segmentAnonymousId", id),
        (None, None) => return Vec::new(),
    };
    let id = match id {
        Value::String(s) => percent_encode(s),
        other => percent_encode(&js::to_string(other)),
    };
    let url = settings.api(&format!("/v1/people?people[0][{key}]={id}"));
    vec![PlannedRequest::new("DELETE", url, settings, None)]
}

/// Percent-encodes the UTF-8 bytes of `s`, keeping only `A-Z a-z 0-9 - . _ ~`.
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls() {
        let base = "https://api.encharge.io/v1/people?people[0]";
        for (user_id, anonymous_id, want) in [
            (Some(json!("user-1")), Some(json!("anon-1")), Some("[userId]=user-1")),
            (None, Some(json!("anon-1")), Some("[segmentAnonymousId]=anon-1")),
            (Some(json!("")), Some(json!("a")), Some("[segmentAnonymousId]=a")),
            (Some(json!(0)), Some(json!(42)), Some("[segmentAnonymousId]=42")),
            (Some(json!(null)), Some(json!("")), None),
            (None, None, None),
            (Some(json!(12345)), None, Some("[userId]=12345")),
            (Some(json!("a&b=c")), None, Some("[userId]=a%26b%3Dc")),
            (
                Some(json!("usr+plus/slash?q#f")),
                None,
                Some("[userId]=usr%2Bplus%2Fslash%3Fq%23f"),
            ),
            (
                Some(json!("tab\tand newline\n")),
                None,
                Some("[userId]=tab%09and%20newline%0A"),
            ),
            (Some(json!("ü-ユ")), None, Some("[userId]=%C3%BC-%E3%83%A6")),
            (Some(json!("A.z_0~")), None, Some("[userId]=A.z_0~")),
        ] {
            let requests = plan_delete(user_id.as_ref(), anonymous_id.as_ref(), &Settings::new("k"));
            let got: Vec<_> = requests
                .iter()
                .map(|r| (r.method, r.url.clone(), r.body.is_some()))
                .collect();
            let want: Vec<_> = want
                .map(|w| ("DELETE", format!("{base}{w}"), false))
                .into_iter()
                .collect();
            assert_eq!(got, want, "{user_id:?} {anonymous_id:?}");
        }
    }
}
