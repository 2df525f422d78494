//! Whether to try a request again ([`RetryLogic`]) and how long to wait first
//! ([`Backoff`]), kept apart so each can be read and tested alone.
//!
//! Retried: 408 and 429 (Encharge asks us to slow down), every 5xx (its side
//! failed; the same request may well pass), and answers that never came
//! (connection refused or dropped, timeouts). Any other 4xx will fail again
//! the same way, so it is permanent and goes to the dead-letter file at once.
//! 401 and 403 are apart: the API key is wrong for every request, so the run
//! stops instead of failing each event one by one.

use std::time::{Duration, SystemTime};

/// What one attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// An answer with this status, and its `Retry-After`, if any and readable.
    Answer {
        /// The HTTP status.
        status: u16,
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
    },
    /// No answer: connection error, dropped connection or timeout.
    NoAnswer,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Delivered.
    Done,
    /// Try again; after the server's `Retry-After` when it gave one.
    Retry {
        /// The server's wish, which overrides the backoff.
        after: Option<Duration>,
    },
    /// It will never pass: dead-letter it.
    Permanent,
    /// The API key is rejected: stop the run.
    ApiKeyRejected,
}

/// Decides whether an attempt is retried.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryLogic;

impl RetryLogic {
    /// The action for an attempt's result.
    pub fn decide(&self, result: AttemptResult) -> RetryAction {
        match result {
            AttemptResult::NoAnswer => RetryAction::Retry { after: None },
            AttemptResult::Answer { status, .. } if (200..300).contains(&status) => RetryAction::Done,
            AttemptResult::Answer { status: 401 | 403, .. } => RetryAction::ApiKeyRejected,
            AttemptResult::Answer {
                status: 408 | 429,
                retry_after,
            } => RetryAction::Retry { after: retry_after },
            AttemptResult::Answer { status, retry_after } if status >= 500 => RetryAction::Retry { after: retry_after },
            // Other 4xx (and the odd 1xx/3xx that reqwest does not follow): the same
            // request would get the same answer.
            AttemptResult::Answer { .. } => RetryAction::Permanent,
        }
    }
}

/// Exponential backoff with jitter: the n-th retry waits a random time between
/// half and all of `initial × 2^(n-1)`, capped at `max`. The jitter spreads out
/// the retries of many requests that failed together; the lower half bound keeps
/// a retry from coming right back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry (upper bound).
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(30));
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(rng.f64())
    }

    /// The wait after a `Retry-After`: at least what the server asked, plus up to a
    /// tenth more (at most 1 s) so that requests told the same time do not all come back together.
    pub fn after_retry_after(&self, after: Duration, rng: &mut fastrand::Rng) -> Duration {
        after + (after / 10).min(Duration::from_secs(1)).mul_f64(rng.f64())
    }
}

/// How hard to try one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// No retry starts later than this after the first attempt.
    pub window: Duration,
    /// Waits between attempts.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            window: Duration::from_secs(300),
            backoff: Backoff::default(),
        }
    }
}

/// Reads `Retry-After`: seconds (`120`) or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`).
/// A date in the past means now.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let answer = |status| AttemptResult::Answer {
            status,
            retry_after: None,
        };
        let logic = RetryLogic;
        for (status, want) in [
            (200, RetryAction::Done),
            (201, RetryAction::Done),
            (204, RetryAction::Done),
            (400, RetryAction::Permanent),
            (404, RetryAction::Permanent),
            (422, RetryAction::Permanent),
            (401, RetryAction::ApiKeyRejected),
            (403, RetryAction::ApiKeyRejected),
            (408, RetryAction::Retry { after: None }),
            (429, RetryAction::Retry { after: None }),
            (500, RetryAction::Retry { after: None }),
            (502, RetryAction::Retry { after: None }),
            (503, RetryAction::Retry { after: None }),
            (599, RetryAction::Retry { after: None }),
            (302, RetryAction::Permanent),
        ] {
            assert_eq!(logic.decide(answer(status)), want, "{status}");
        }
        assert_eq!(
            logic.decide(AttemptResult::NoAnswer),
            RetryAction::Retry { after: None }
        );
        let two = Some(Duration::from_secs(2));
        assert_eq!(
            logic.decide(AttemptResult::Answer {
                status: 429,
                retry_after: two
            }),
            RetryAction::Retry { after: two }
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_capped() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..200 {
            let first = backoff.delay(1, &mut rng);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = backoff.delay(3, &mut rng);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let late = backoff.delay(40, &mut rng);
            assert!(
                late >= Duration::from_secs(1) && late <= Duration::from_secs(2),
                "{late:?}"
            );
        }
        let delays: Vec<Duration> = (0..20).map(|_| backoff.delay(2, &mut rng)).collect();
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "no jitter: {delays:?}");
    }

    #[test]
    fn retry_after_is_never_shortened() {
        let backoff = Backoff::default();
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..100 {
            let d = backoff.after_retry_after(Duration::from_secs(2), &mut rng);
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2200), "{d:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
