//! The one retry policy: exponential backoff with jitter, and the `Retry-After` header.
//!
//! Used by the Loki source (reconnects, 429 and 5xx from Loki) and by the alert outboxes
//! (429 and 5xx from Slack, Alertmanager, webhooks), so both wait the same way.

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Exponential backoff: `base * 2^attempt`, capped at `max`, jittered to 50–100 % so that
/// many clients failing together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// The longest wait (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first), never shorter than what
    /// the server asked for in `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let capped = self.base.saturating_mul(1 << attempt.min(20)).min(self.max);
        let jittered = capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// A [`Backoff`] that counts its own attempts, for a loop that retries until it succeeds.
#[derive(Debug, Clone)]
pub struct Retries {
    /// How the waits grow.
    backoff: Backoff,
    /// Failures since the last success.
    attempt: u32,
}

impl Retries {
    /// Starts with no failure counted.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            attempt: 0,
        }
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// After a failure: the wait before the next try (see [`Backoff::delay`]).
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let wait = self.backoff.delay(self.attempt, retry_after);
        self.attempt = self.attempt.saturating_add(1);
        wait
    }
}

/// `Retry-After` in seconds. The HTTP-date form is ignored: neither Loki, Slack nor
/// Alertmanager sends it.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_jitters_and_honours_retry_after() {
        let mut b = Retries::new(Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        });
        let waits: Vec<Duration> = (0..8).map(|_| b.next(None)).collect();
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(1)));
        assert!(waits[7] >= Duration::from_millis(500));
        assert_eq!(b.next(Some(Duration::from_secs(3))), Duration::from_secs(3));
        b.reset();
        assert!(b.next(None) <= Duration::from_millis(100));
    }

    #[test]
    fn a_huge_attempt_saturates_at_max() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let d = b.delay(u32::MAX, None);
        assert!(
            d >= Duration::from_secs(30) && d <= Duration::from_secs(60),
            "{d:?}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_ignores_dates_and_garbage() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "-1".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
