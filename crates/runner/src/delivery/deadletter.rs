//! The dead-letter file: one NDJSON line per request that could not be delivered
//! (a permanent answer, retries used up, a rejected API key, an interrupted run),
//! with all it takes to understand and replay it: the event, the subscription,
//! the request, the status and body of the last answer, the attempts and the time.
//!
//! The API key is never written: requests are stored without the token header
//! (replay adds the current key), and any text that could echo the key (an
//! answer's body, an error) has it replaced by `***` before it is written. When
//! the key changes while running (`serve` reloads its config), the old keys stay
//! masked too: an answer to a request sent before the change may still echo one.
//! The file is opened on the first dead letter (append mode), so a run that
//! delivers everything leaves no file behind; each line is flushed at once.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a request was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A permanent answer (a 4xx other than 401, 403, 408, 429).
    Rejected,
    /// Still failing when attempts or the retry window ran out.
    RetriesExhausted,
    /// Encharge rejected the API key (this request, or one before it: the run stopped).
    ApiKeyRejected,
    /// The run was stopped (Ctrl-C) before it was delivered.
    Interrupted,
}

impl Reason {
    /// How the summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::RetriesExhausted => "retries exhausted",
            Reason::ApiKeyRejected => "API key rejected",
            Reason::Interrupted => "interrupted",
        }
    }
}

/// A request as stored: without the API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// `POST`, `DELETE`, ...
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Headers other than the API key (which replay sets from the config).
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The JSON body, if any.
    #[serde(default)]
    pub body: Option<Value>,
}

/// One line of the dead-letter file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was given up, RFC 3339 UTC.
    pub time: String,
    /// Why.
    pub reason: Reason,
    /// The subscription that planned the request.
    pub subscription: String,
    /// Its action, e.g. `trackEvent`.
    pub action: String,
    /// The input file of the event (`-` for stdin), if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line (or array element) of the event in that input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The order key (`u:<userId>`, `a:<anonymousId>`, `e:<email>`): replay keeps per-user order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Status of the last answer; none when no answer came.
    pub status: Option<u16>,
    /// Body of the last answer (at most 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Why the last attempt got no answer (timeout, connection dropped, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts made (0: never sent).
    pub attempts: u32,
    /// The request, without the API key.
    pub request: StoredRequest,
    /// The event it was planned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
}

/// Longest answer body kept in a dead letter.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The dead-letter file of a run, opened on the first write.
pub struct DeadLetters {
    path: PathBuf,
    file: Mutex<Option<BufWriter<File>>>,
    written: AtomicU64,
    failed: AtomicU64,
    /// Every API key used so far, the longest first (a key that holds another is masked whole).
    secrets: RwLock<Vec<String>>,
}

impl DeadLetters {
    /// Dead letters go to `path` (appended to); `secret` (the API key) is scrubbed from every line.
    pub fn new(path: impl Into<PathBuf>, secret: &str) -> DeadLetters {
        DeadLetters {
            path: path.into(),
            file: Mutex::new(None),
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            secrets: RwLock::new(vec![secret.to_owned()]),
        }
    }

    /// Scrubs `secret` (a new API key) from every line too, besides the keys before it.
    pub fn add_secret(&self, secret: &str) {
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_owned());
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Dead letters that could not be written to the file (they went to stderr instead).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The line as written: JSON, the API keys scrubbed.
    pub fn line(&self, letter: &DeadLetter) -> String {
        let line = serde_json::to_string(letter).unwrap_or_default();
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        secrets.iter().fold(line, |line, secret| scrub(line, secret))
    }

    /// Appends one dead letter and flushes it. When the file cannot be written, the
    /// line goes to stderr so it is not lost without a trace, and the error is returned.
    pub fn write(&self, letter: &DeadLetter) -> io::Result<()> {
        let line = self.line(letter);
        let result = self.append(&line);
        match &result {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(path = %self.path.display(), error = %e, "Cannot write the dead-letter file; the dead letter follows on stderr.");
                let _ = writeln!(io::stderr(), "{line}");
            }
        }
        result
    }

    fn append(&self, line: &str) -> io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if file.is_none() {
            let opened = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            *file = Some(BufWriter::new(opened));
        }
        let Some(w) = file.as_mut() else {
            return Err(io::Error::other("the dead-letter file is not open"));
        };
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        w.flush()
    }
}

/// Replaces every occurrence of `secret` in `text` with `***`. Keys shorter than
/// 8 characters are not scrubbed: such a string would match ordinary text.
pub fn scrub(text: String, secret: &str) -> String {
    if secret.len() < 8 || !text.contains(secret) {
        return text;
    }
    text.replace(secret, "***")
}

/// Cuts an answer body to [`MAX_RESPONSE_BYTES`] (on a character boundary) as text.
pub fn response_text(body: &[u8]) -> String {
    let cut = body.len().min(MAX_RESPONSE_BYTES);
    let mut text = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > cut {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing() {
        assert_eq!(scrub("a KEY-123456 b".into(), "KEY-123456"), "a *** b");
        assert_eq!(scrub("short k".into(), "k"), "short k");
        assert_eq!(response_text(b"ok"), "ok");
        assert_eq!(
            response_text(&vec![b'x'; MAX_RESPONSE_BYTES + 5]).chars().count(),
            MAX_RESPONSE_BYTES + 1
        );
    }

    #[test]
    fn a_line_round_trips_without_the_key() {
        let dir = std::env::temp_dir().join(format!("encharge-dl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dead.ndjson");
        let _ = std::fs::remove_file(&path);
        let letters = DeadLetters::new(&path, "secret-key-42");
        assert!(!path.exists(), "opened before the first dead letter");
        let letter = DeadLetter {
            time: now_rfc3339(),
            reason: Reason::Rejected,
            subscription: "Track Event".into(),
            action: "trackEvent".into(),
            file: Some("events.ndjson".into()),
            line: Some(3),
            user: Some("u:1".into()),
            status: Some(400),
            response: Some("bad token secret-key-42".into()),
            error: None,
            attempts: 1,
            request: StoredRequest {
                method: "POST".into(),
                url: "http://127.0.0.1:1/v1".into(),
                headers: Map::new(),
                body: Some(serde_json::json!({"type": "track"})),
            },
            event: Some(serde_json::json!({"type": "track", "userId": "1"})),
        };
        letters.write(&letter).unwrap();
        letters.write(&letter).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret-key-42"), "{text}");
        assert_eq!(text.lines().count(), 2);
        let back: DeadLetter = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(back.response.as_deref(), Some("bad token ***"));
        assert_eq!(back.request, letter.request);
        assert_eq!(letters.written(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn old_and_new_keys_are_both_masked() {
        let letters = DeadLetters::new("unused.ndjson", "old-key-1234");
        letters.add_secret("old-key-1234-and-more");
        letters.add_secret("new-key-5678");
        let letter = DeadLetter {
            time: now_rfc3339(),
            reason: Reason::ApiKeyRejected,
            subscription: "Track Event".into(),
            action: "trackEvent".into(),
            file: None,
            line: None,
            user: None,
            status: Some(401),
            response: Some("old-key-1234 then old-key-1234-and-more then new-key-5678".into()),
            error: None,
            attempts: 1,
            request: StoredRequest {
                method: "POST".into(),
                url: "http://127.0.0.1:1/v1".into(),
                headers: Map::new(),
                body: None,
            },
            event: None,
        };
        let line = letters.line(&letter);
        let back: DeadLetter = serde_json::from_str(&line).unwrap();
        assert_eq!(back.response.as_deref(), Some("*** then *** then ***"), "{line}");
    }
}
