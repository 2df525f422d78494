//! What Segment's tracking API does to a request before an event is queued:
//! the write key, the body (size limits, gzip, JSON), and each event's checks and
//! the fields Segment's servers fill in (`messageId`, `receivedAt`, a `timestamp`
//! corrected for the client's clock).

use std::io::Read;

use serde_json::{Map, Value};

/// Segment's limit for one event.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Segment's limit for a request (a batch).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// 9999-12-31T23:59:59.999Z in Unix milliseconds: the last time an event can have.
const LAST_MS: i64 = 253_402_300_799_999;

/// The event types the tracking API takes.
pub const TYPES: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

/// A refused request: the status and the message of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// The reason for metrics.
    pub reason: &'static str,
    /// What the client is told.
    pub message: String,
}

impl Refusal {
    fn new(status: u16, reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The write key of `Authorization: Basic base64(key:)`; `None` if there is no such header.
pub fn basic_auth_user(header: &str) -> Option<String> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Some(match text.split_once(':') {
        Some((user, _)) => user.to_owned(),
        None => text,
    })
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Undoes `Content-Encoding` (none, `identity` or `gzip`), never producing more
/// than [`MAX_BATCH_BYTES`] (a small body that inflates to gigabytes is refused
/// as too large, not held in memory).
pub fn decode(encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::new();
            let limit = (MAX_BATCH_BYTES + 1) as u64;
            flate2::read::MultiGzDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| Refusal::new(400, "bad_gzip", format!("the body is not valid gzip: {e}")))?;
            if out.len() > MAX_BATCH_BYTES {
                return Err(too_large(out.len()));
            }
            Ok(out)
        }
        Some(other) => Err(Refusal::new(
            415,
            "bad_encoding",
            format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
        )),
    }
}

/// The 413 for a body over the batch limit.
pub fn too_large(size: usize) -> Refusal {
    Refusal::new(
        413,
        "too_large",
        format!("the request is larger than 500 KB ({size} bytes or more); send smaller batches"),
    )
}

/// Whether a `Content-Type` may carry JSON (Segment's libraries send
/// `application/json`; browsers' beacons `text/plain`).
pub fn json_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || mime == "text/plain" || mime.is_empty()
}

/// An event refused inside an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// Its index in the batch (0 for single-event endpoints).
    pub index: usize,
    /// Why.
    pub message: String,
}

/// The events of a request, checked and filled in.
#[derive(Debug, Default)]
pub struct Events {
    /// Each good event's type and its line for the queue (compact JSON and `\n`).
    pub lines: Vec<u8>,
    /// Types of the good events, in order.
    pub types: Vec<&'static str>,
    /// The refused ones.
    pub errors: Vec<EventError>,
}

/// A request body read as JSON, not yet checked event by event.
#[derive(Debug)]
pub struct Body {
    root: Map<String, Value>,
    /// Its size in bytes.
    len: usize,
    /// The write key found in the body, if any.
    pub write_key: Option<String>,
}

/// The events of a batch, once the batch's `context` is copied into each, may take
/// this many bytes at most: a 500 KB batch of tiny events and a large context would
/// otherwise make hundreds of megabytes.
pub const MAX_EXPANDED_BYTES: usize = 10 * MAX_BATCH_BYTES;

/// Reads a body as a JSON object. A lone UTF-16 surrogate in a string escape
/// (`"\ud800"`, what JavaScript gives for half an emoji) becomes U+FFFD, as in
/// Segment's servers, rather than failing the whole request.
pub fn parse(body: &[u8]) -> Result<Body, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .or_else(|e| match repair_lone_surrogates(body) {
            Some(repaired) => serde_json::from_slice(&repaired).map_err(|_| e),
            None => Err(e),
        })
        .map_err(|e| Refusal::new(400, "bad_json", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut root) = value else {
        return Err(Refusal::new(400, "bad_json", "the body must be a JSON object"));
    };
    let write_key = match root.remove("writeKey") {
        Some(Value::String(k)) => Some(k),
        _ => None,
    };
    Ok(Body {
        root,
        len: body.len(),
        write_key,
    })
}

/// `body` with each `\uXXXX` escape of a lone surrogate replaced by `\ufffd`, or
/// `None` when it has none.
fn repair_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    let escape_at = |i: usize| -> Option<u16> {
        let hex = body.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut changed, mut i) = (false, false, 0);
    while i < body.len() {
        let b = body[i];
        if !in_string {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = false,
            b'\\' => {
                let unit = escape_at(i);
                let lone = match unit {
                    Some(0xD800..=0xDBFF) => !matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)),
                    Some(0xDC00..=0xDFFF) => true,
                    _ => false,
                };
                let len = match (unit, lone) {
                    (_, true) => {
                        out.extend_from_slice(b"\\ufffd");
                        changed = true;
                        i += 6;
                        continue;
                    }
                    // A pair is kept whole, so its second half is not taken for a lone one.
                    (Some(0xD800..=0xDBFF), false) => 12,
                    (Some(_), false) => 6,
                    (None, false) => 2,
                };
                let end = (i + len).min(body.len());
                out.extend_from_slice(&body[i..end]);
                i = end;
                continue;
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// Checks and fills in the events of a parsed body for `path` (`/v1/batch`, or
/// `/v1/<type>` whose type the event takes); `now_ms` is the receive time (Unix ms).
pub fn events(path_type: Option<&'static str>, body: Body, now_ms: i64) -> Result<Events, Refusal> {
    let Body { mut root, len, .. } = body;
    let mut out = Events::default();
    let received_at = format_ms(now_ms);
    match path_type {
        Some(kind) => {
            if len > MAX_EVENT_BYTES {
                return Err(Refusal::new(
                    413,
                    "too_large",
                    format!("the event is larger than 32 KB ({len} bytes)"),
                ));
            }
            root.insert("type".to_owned(), Value::String(kind.to_owned()));
            let sent_at = root.get("sentAt").and_then(Value::as_str).map(str::to_owned);
            match fill(root, sent_at.as_deref(), &received_at, now_ms) {
                Ok((kind, line)) => {
                    out.types.push(kind);
                    out.lines.extend_from_slice(&line);
                }
                Err(message) => out.errors.push(EventError { index: 0, message }),
            }
        }
        None => {
            let Some(Value::Array(batch)) = root.remove("batch") else {
                return Err(Refusal::new(400, "bad_json", "the body has no \"batch\" array"));
            };
            let sent_at = root.get("sentAt").and_then(Value::as_str).map(str::to_owned);
            let context = match root.remove("context") {
                Some(Value::Object(c)) => Some(c),
                _ => None,
            };
            let integrations = root.remove("integrations");
            for (index, event) in batch.into_iter().enumerate() {
                let Value::Object(mut event) = event else {
                    out.errors.push(EventError {
                        index,
                        message: "an event must be a JSON object".to_owned(),
                    });
                    continue;
                };
                // The batch's context and integrations apply to each event that does
                // not set its own (Segment's batch endpoint).
                if let Some(context) = &context {
                    match event.get_mut("context") {
                        Some(Value::Object(own)) => {
                            for (k, v) in context {
                                if !own.contains_key(k) {
                                    own.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        None => {
                            event.insert("context".to_owned(), Value::Object(context.clone()));
                        }
                        Some(_) => {}
                    }
                }
                if let Some(integrations) = &integrations
                    && !event.contains_key("integrations")
                {
                    event.insert("integrations".to_owned(), integrations.clone());
                }
                let own_sent_at = event.get("sentAt").and_then(Value::as_str).map(str::to_owned);
                match fill(
                    event,
                    own_sent_at.as_deref().or(sent_at.as_deref()),
                    &received_at,
                    now_ms,
                ) {
                    Ok((kind, line)) => {
                        out.types.push(kind);
                        out.lines.extend_from_slice(&line);
                    }
                    Err(message) => out.errors.push(EventError { index, message }),
                }
                if out.lines.len() > MAX_EXPANDED_BYTES {
                    return Err(Refusal::new(
                        413,
                        "too_large",
                        format!(
                            "the batch's events, each with the batch's context, make more than {} MB; \
                             send smaller batches or a smaller context",
                            MAX_EXPANDED_BYTES / 1_000_000
                        ),
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn id_present(event: &Map<String, Value>, key: &str) -> bool {
    match event.get(key) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

/// Checks one event and fills in what Segment's servers do; its type and queue line.
fn fill(
    mut event: Map<String, Value>,
    sent_at: Option<&str>,
    received_at: &str,
    now_ms: i64,
) -> Result<(&'static str, Vec<u8>), String> {
    let kind = match event.get("type") {
        Some(Value::String(t)) => TYPES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(t))
            .copied()
            .ok_or_else(|| format!("unknown type {t:?}; expected one of {}", TYPES.join(", ")))?,
        _ => return Err("the event has no \"type\"".to_owned()),
    };
    event.insert("type".to_owned(), Value::String(kind.to_owned()));
    if !id_present(&event, "userId") && !id_present(&event, "anonymousId") {
        return Err("the event has neither \"userId\" nor \"anonymousId\"".to_owned());
    }
    match kind {
        "track" if !matches!(event.get("event"), Some(Value::String(s)) if !s.is_empty()) => {
            return Err("a track event needs an \"event\" name".to_owned());
        }
        "alias" if !id_present(&event, "previousId") => {
            return Err("an alias event needs a \"previousId\"".to_owned());
        }
        "group" if !id_present(&event, "groupId") => {
            return Err("a group event needs a \"groupId\"".to_owned());
        }
        _ => {}
    }
    if !id_present(&event, "messageId") {
        event.insert("messageId".to_owned(), Value::String(message_id()));
    }
    event.insert("receivedAt".to_owned(), Value::String(received_at.to_owned()));
    // Segment's clock-skew correction: the client's clock may be off, but the gap
    // between an event's `timestamp` and the batch's `sentAt` was measured on that
    // one clock, so the event happened that long before it was received.
    // A time that cannot be read, or a correction that lands outside years 1970 to
    // 9999 (a client clock centuries off), gives the time of receipt instead; what
    // the client sent is kept as `originalTimestamp` either way.
    let original = event.remove("timestamp").filter(|t| !t.is_null());
    let client_ms = original.as_ref().and_then(Value::as_str).and_then(parse_ms);
    match (client_ms, sent_at.and_then(parse_ms)) {
        (Some(_), None) => {
            if let Some(original) = original {
                event.insert("timestamp".to_owned(), original);
            }
        }
        (Some(ts), Some(sent)) if (0..=LAST_MS).contains(&(now_ms - (sent - ts))) => {
            event.insert("timestamp".to_owned(), Value::String(format_ms(now_ms - (sent - ts))));
            event.insert("originalTimestamp".to_owned(), original.unwrap_or(Value::Null));
        }
        _ => {
            event.insert("timestamp".to_owned(), Value::String(received_at.to_owned()));
            if let Some(original) = original {
                event.insert("originalTimestamp".to_owned(), original);
            }
        }
    }
    if let Some(sent_at) = sent_at {
        event
            .entry("sentAt")
            .or_insert_with(|| Value::String(sent_at.to_owned()));
    }
    let mut line = serde_json::to_vec(&event).map_err(|e| format!("cannot serialize the event: {e}"))?;
    if line.len() > MAX_EVENT_BYTES {
        return Err(format!("the event is larger than 32 KB ({} bytes)", line.len()));
    }
    line.push(b'\n');
    Ok((kind, line))
}

fn message_id() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    // A version 4 UUID, as Segment's libraries make.
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Unix milliseconds as RFC 3339 in UTC with milliseconds, as Segment writes `receivedAt`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// An RFC 3339 date-time (`Z` or an offset, any fraction) as Unix milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &s[start..i.min(start + 3)];
        frac_ms = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((((days * 24 + h) * 60 + mi - offset_min) * 60 + sec) * 1000 + frac_ms)
}

// Howard Hinnant's civil-date algorithms (public domain descriptions).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_round_trip_and_offsets_count() {
        let ms = parse_ms("2024-03-01T12:34:56.789Z").unwrap();
        assert_eq!(format_ms(ms), "2024-03-01T12:34:56.789Z");
        assert_eq!(parse_ms("2024-03-01T14:34:56.789+02:00"), Some(ms));
        assert_eq!(parse_ms("2024-03-01T12:34:56.789123+00:00"), Some(ms));
        assert_eq!(parse_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_ms("yesterday"), None);
        assert_eq!(parse_ms("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn basic_auth_takes_the_user_name() {
        // base64("wk_123:")
        assert_eq!(basic_auth_user("Basic d2tfMTIzOg=="), Some("wk_123".to_owned()));
        assert_eq!(basic_auth_user("Bearer x"), None);
    }

    #[test]
    fn a_batch_keeps_good_events_and_names_the_bad_ones() {
        let now = parse_ms("2024-03-01T12:00:10.000Z").unwrap();
        let body = json!({
            "batch": [
                {"type": "track", "event": "A", "userId": "u1", "timestamp": "2024-03-01T11:00:00.000Z"},
                {"type": "track", "userId": "u1"},
                "nope",
                {"type": "identify", "anonymousId": "a1", "messageId": "m1"}
            ],
            "sentAt": "2024-03-01T11:00:05.000Z",
            "context": {"library": {"name": "x"}},
            "writeKey": "wk"
        });
        let body = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(body.write_key.as_deref(), Some("wk"));
        let events = events(None, body, now).unwrap();
        assert_eq!(events.types, ["track", "identify"]);
        assert_eq!(events.errors.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 2]);
        let lines: Vec<Value> = events
            .lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        // Sent 5 s after it happened by the client's clock: 5 s before it was received.
        assert_eq!(lines[0]["timestamp"], "2024-03-01T12:00:05.000Z");
        assert_eq!(lines[0]["originalTimestamp"], "2024-03-01T11:00:00.000Z");
        assert_eq!(lines[0]["receivedAt"], "2024-03-01T12:00:10.000Z");
        assert_eq!(lines[0]["context"]["library"]["name"], "x");
        assert_eq!(lines[0]["messageId"].as_str().unwrap().len(), 36);
        assert_eq!(lines[1]["messageId"], "m1");
        assert_eq!(lines[1]["timestamp"], "2024-03-01T12:00:10.000Z");
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"{").unwrap_err().status, 400);
        assert_eq!(parse(b"[]").unwrap_err().status, 400);
        let big = format!(
            r#"{{"userId":"u","event":"e","properties":{{"x":"{}"}}}}"#,
            "a".repeat(40_000)
        );
        let big = parse(big.as_bytes()).unwrap();
        assert_eq!(events(Some("track"), big, 0).unwrap_err().status, 413);
        assert_eq!(decode(Some("gzip"), b"not gzip").unwrap_err().status, 400);
        assert_eq!(decode(Some("br"), b"x").unwrap_err().status, 415);
        assert!(json_content_type(Some("application/json; charset=utf-8")));
        assert!(!json_content_type(Some("application/x-www-form-urlencoded")));
    }

    #[test]
    fn a_lone_surrogate_becomes_the_replacement_character() {
        let body = br#"{"event": "a\ud800b", "pair": "\ud83d\ude00", "low": "\udc00", "text": "\\ud800"}"#;
        let parsed = parse(body).unwrap();
        assert_eq!(parsed.root["event"], "a\u{fffd}b");
        assert_eq!(parsed.root["pair"], "\u{1f600}");
        assert_eq!(parsed.root["low"], "\u{fffd}");
        // An escaped backslash before `ud800` is text, not an escape.
        assert_eq!(parsed.root["text"], "\\ud800");
        assert_eq!(repair_lone_surrogates(br#"{"ok": "\ud83d\ude00"}"#), None);
    }

    #[test]
    fn a_batch_context_copied_into_many_events_is_capped() {
        let event = json!({"type": "identify", "userId": "u"});
        let batch = json!({"batch": vec![event; 2000], "context": {"x": "a".repeat(3000)}});
        let body = batch.to_string();
        assert!(body.len() < MAX_BATCH_BYTES);
        let refusal = events(None, parse(body.as_bytes()).unwrap(), 0).unwrap_err();
        assert_eq!(refusal.status, 413);
        assert!(refusal.message.contains("smaller batches"), "{}", refusal.message);
        let batch =
            json!({"batch": vec![json!({"type": "identify", "userId": "u"}); 200], "context": {"x": "a".repeat(3000)}});
        let events = events(None, parse(batch.to_string().as_bytes()).unwrap(), 0).unwrap();
        assert_eq!(events.types.len(), 200);
    }

    #[test]
    fn a_time_that_cannot_be_used_becomes_the_time_of_receipt() {
        let now = parse_ms("2024-03-01T12:00:10.000Z").unwrap();
        let one = |event: Value| -> Value {
            let body = json!({"batch": [event], "sentAt": "9999-01-01T00:00:00.000Z"});
            let events = events(None, parse(body.to_string().as_bytes()).unwrap(), now).unwrap();
            serde_json::from_slice(events.lines.strip_suffix(b"\n").unwrap()).unwrap()
        };
        // A client clock centuries ahead: no year -5950.
        let e = one(json!({"type": "track", "event": "A", "userId": "u", "timestamp": "2024-03-01T11:00:00.000Z"}));
        assert_eq!(e["timestamp"], "2024-03-01T12:00:10.000Z");
        assert_eq!(e["originalTimestamp"], "2024-03-01T11:00:00.000Z");
        // Not a date: kept as sent, beside the time of receipt.
        let e = one(json!({"type": "track", "event": "A", "userId": "u", "timestamp": "last tuesday"}));
        assert_eq!(e["timestamp"], "2024-03-01T12:00:10.000Z");
        assert_eq!(e["originalTimestamp"], "last tuesday");
        // None at all: the time of receipt, and nothing made up.
        let e = one(json!({"type": "track", "event": "A", "userId": "u"}));
        assert_eq!(e["timestamp"], "2024-03-01T12:00:10.000Z");
        assert!(e.get("originalTimestamp").is_none());
    }
}
