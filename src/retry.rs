//! Retries with full-jitter exponential backoff and a bound on the total time.
//!
//! Each attempt says whether its failure can succeed on a second try by returning
//! [`Attempt::Retry`] or [`Attempt::Fail`]; error types say it once, through [`Transient`], and
//! [`classify`] turns that into an [`Attempt`]. Used where the AWS SDK's own retries do not
//! fit: STS web identity (each try needs a fresh OIDC token) and plain HTTP calls.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long and how often to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// No new attempt starts if its wait would end after this much time since the first.
    pub budget: Duration,
}

impl Backoff {
    /// Network calls that a person is waiting for: about a minute at most.
    pub const STANDARD: Backoff = Backoff {
        max_attempts: 6,
        base: Duration::from_millis(400),
        cap: Duration::from_secs(10),
        budget: Duration::from_secs(60),
    };

    /// A random wait in `[0, min(cap, base * 2^retry)]` ("full jitter").
    fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.cap);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// What one attempt's failure means.
#[derive(Debug)]
pub enum Attempt<E> {
    /// Throttling, 5xx, a reset connection: may succeed if tried again.
    Retry(E),
    /// May succeed if tried again, but not before this wait: the server said when
    /// (`Retry-After`, a rate limit's reset time). A wait that would end after the budget fails
    /// at once, rather than sleeping through the time the caller has left.
    RetryAfter(E, Duration),
    /// Will fail the same way every time.
    Fail(E),
}

/// Whether a failure may pass if the same request is sent again: throttling, a 5xx, a reset
/// connection, a timeout. A refused connection, an unknown host, a refused certificate, a 4xx
/// other than 429 or corrupt content fail the same way every time.
pub trait Transient {
    fn is_transient(&self) -> bool;

    /// How long the server asked to wait before another try (`Retry-After`), when it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// The longest wait a server's word is taken as: longer than any budget, so a wait asked
/// beyond it still fails at once, and small enough that no time computed from it overflows.
pub const MOST_ASKED: Duration = Duration::from_secs(24 * 60 * 60);

/// A `Retry-After` value: whole seconds, or an HTTP date (a date past is no wait); at most
/// [`MOST_ASKED`].
pub fn retry_after_header(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MOST_ASKED));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or_default().min(MOST_ASKED))
}

/// The attempt's outcome for `e`: retried only when it is transient, and then not before the
/// wait the server asked for.
pub fn classify<E: Transient>(e: E) -> Attempt<E> {
    match (e.is_transient(), e.retry_after()) {
        (true, Some(wait)) => Attempt::RetryAfter(e, wait),
        (true, None) => Attempt::Retry(e),
        (false, _) => Attempt::Fail(e),
    }
}

/// An HTTP status worth another try: 429 (throttled) or a server error.
pub fn is_transient_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// Runs `op` until it succeeds, fails for good, or the attempts or time budget run out; then
/// returns the last error. `on_retry` is told of each failure that will be retried.
pub async fn retry<T, E, F, Fut>(
    policy: Backoff,
    mut op: F,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let (e, wait) = match op().await {
            Ok(value) => return Ok(value),
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry(e)) => (e, policy.delay(attempt - 1)),
            // The server's word is the least wait; jitter on top keeps clients that were told
            // the same time from coming back together.
            Err(Attempt::RetryAfter(e, asked)) => (e, after(asked, policy.budget, policy.delay(0))),
        };
        if attempt >= policy.max_attempts || started.elapsed().saturating_add(wait) > policy.budget
        {
            return Err(e);
        }
        on_retry(&e, wait);
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// The wait before another try when the server asked for `asked`: its word, clamped to just
/// past the budget before any arithmetic (a wait beyond the budget fails at once all the same),
/// plus `jitter`.
fn after(asked: Duration, budget: Duration, jitter: Duration) -> Duration {
    asked
        .min(budget.saturating_add(Duration::from_millis(1)))
        .saturating_add(jitter)
}

/// A time budget for retries shared by every request that goes through it: an outage (a
/// registry's brownout) is counted from the first failure of any of them, and ends when any
/// request succeeds. Requests keep trying, each at its own backoff, until the outage has lasted
/// the budget; so a 30-second brownout is ridden out whatever the number of requests in flight,
/// and a longer one fails every request within the budget, not at the first request that has
/// used up a count of tries.
#[derive(Debug, Clone)]
pub struct Outage {
    budget: Duration,
    since: std::sync::Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

impl Outage {
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            since: Default::default(),
        }
    }

    fn since(&self) -> std::sync::MutexGuard<'_, Option<tokio::time::Instant>> {
        self.since.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request failed now: when the outage began.
    fn failed(&self) -> tokio::time::Instant {
        *self.since().get_or_insert_with(tokio::time::Instant::now)
    }

    /// A request succeeded: the outage, if any, is over.
    fn passed(&self) {
        *self.since() = None;
    }
}

/// [`retry`], with the tries of every request bounded by the shared `outage` instead of a count
/// and a budget of their own; `policy` gives the backoff between tries.
pub async fn retry_through<T, E, F, Fut>(
    outage: &Outage,
    policy: Backoff,
    mut op: F,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let mut retries = 0;
    loop {
        let (e, wait) = match op().await {
            Ok(value) => {
                outage.passed();
                return Ok(value);
            }
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry(e)) => (e, policy.delay(retries.min(16))),
            Err(Attempt::RetryAfter(e, asked)) => (e, after(asked, outage.budget, policy.delay(0))),
        };
        let began = outage.failed();
        let waited = tokio::time::Instant::now().saturating_duration_since(began);
        if waited.saturating_add(wait) > outage.budget {
            return Err(e);
        }
        on_retry(&e, wait);
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const FAST: Backoff = Backoff {
        max_attempts: 4,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        budget: Duration::from_secs(5),
    };

    #[tokio::test]
    async fn retries_retryable_failures_until_success() {
        let calls = Cell::new(0);
        let result: Result<u32, &str> = retry(
            FAST,
            || async {
                calls.set(calls.get() + 1);
                if calls.get() < 3 {
                    Err(Attempt::Retry("throttled"))
                } else {
                    Ok(7)
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn stops_at_once_on_a_final_failure() {
        let calls = Cell::new(0);
        let result: Result<(), &str> = retry(
            FAST,
            || async {
                calls.set(calls.get() + 1);
                Err(Attempt::Fail("denied"))
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Err("denied"));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempt_bound() {
        let calls = Cell::new(0);
        let retries = Cell::new(0);
        let result: Result<(), &str> = retry(
            FAST,
            || async {
                calls.set(calls.get() + 1);
                Err(Attempt::Retry("503"))
            },
            |_, _| retries.set(retries.get() + 1),
        )
        .await;
        assert_eq!(result, Err("503"));
        assert_eq!(calls.get(), 4);
        assert_eq!(retries.get(), 3);
    }

    #[tokio::test]
    async fn gives_up_when_the_time_budget_is_spent() {
        let policy = Backoff {
            max_attempts: 100,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(20),
            budget: Duration::from_millis(50),
        };
        let started = Instant::now();
        let _: Result<(), &str> =
            retry(policy, || async { Err(Attempt::Retry("x")) }, |_, _| {}).await;
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn waits_at_least_what_the_server_asks() {
        let calls = Cell::new(0);
        let started = Instant::now();
        let result: Result<u32, &str> = retry(
            FAST,
            || async {
                calls.set(calls.get() + 1);
                if calls.get() == 1 {
                    Err(Attempt::RetryAfter("429", Duration::from_millis(300)))
                } else {
                    Ok(1)
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Ok(1));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn fails_at_once_when_the_asked_wait_passes_the_budget() {
        let calls = Cell::new(0);
        let started = Instant::now();
        let result: Result<(), &str> = retry(
            FAST,
            || async {
                calls.set(calls.get() + 1);
                Err(Attempt::RetryAfter("429", Duration::from_secs(6)))
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Err("429"));
        assert_eq!(calls.get(), 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    struct Failure(bool);

    impl Transient for Failure {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn classify_retries_only_transient_failures() {
        assert!(matches!(classify(Failure(true)), Attempt::Retry(_)));
        assert!(matches!(classify(Failure(false)), Attempt::Fail(_)));
    }

    #[test]
    fn only_throttling_and_server_errors_are_transient_statuses() {
        for status in [429, 500, 502, 503, 504, 599] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 409, 428, 430, 600] {
            assert!(!is_transient_status(status), "{status}");
        }
    }

    #[test]
    fn delays_grow_but_stay_under_the_cap() {
        let policy = Backoff {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
            budget: Duration::from_secs(10),
        };
        for retry in 0..10 {
            assert!(policy.delay(retry) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(retry_after_header(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after_header(&later, now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after_header(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after_header("soon", now), None);
    }

    #[test]
    fn a_server_s_wait_is_clamped_however_large() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let most = Some(MOST_ASKED);
        assert_eq!(retry_after_header(&u64::MAX.to_string(), now), most);
        assert_eq!(
            retry_after_header("Fri, 31 Dec 9999 23:59:59 GMT", now),
            most
        );
        assert_eq!(retry_after_header(&"9".repeat(40), now), None);
        let budget = Duration::from_secs(5);
        let jitter = Duration::from_secs(10);
        assert!(after(Duration::MAX, budget, jitter) > budget);
        assert!(after(Duration::MAX, Duration::MAX, Duration::MAX) == Duration::MAX);
    }

    #[tokio::test]
    async fn the_largest_wait_a_server_can_ask_fails_at_once_without_overflow() {
        let result: Result<(), _> = retry(
            FAST,
            || async { Err(Attempt::RetryAfter("429", Duration::MAX)) },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Err("429"));
        let outage = Outage::new(Duration::from_secs(1));
        let result: Result<(), _> = retry_through(
            &outage,
            FAST,
            || async { Err(Attempt::RetryAfter("429", Duration::MAX)) },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Err("429"));
    }

    #[test]
    fn a_transient_failure_with_a_retry_after_waits_it_out() {
        struct Busy(Option<Duration>, bool);
        impl Transient for Busy {
            fn is_transient(&self) -> bool {
                self.1
            }
            fn retry_after(&self) -> Option<Duration> {
                self.0
            }
        }
        let asked = Some(Duration::from_secs(3));
        assert!(
            matches!(classify(Busy(asked, true)), Attempt::RetryAfter(_, d) if d == Duration::from_secs(3))
        );
        assert!(matches!(classify(Busy(None, true)), Attempt::Retry(_)));
        assert!(matches!(classify(Busy(asked, false)), Attempt::Fail(_)));
    }

    const OUTAGE_POLICY: Backoff = Backoff {
        max_attempts: 6,
        base: Duration::from_millis(400),
        cap: Duration::from_secs(10),
        budget: Duration::from_secs(60),
    };

    /// A request that fails while the clock is before `until`.
    async fn through(outage: &Outage, until: tokio::time::Instant) -> Result<(), &'static str> {
        retry_through(
            outage,
            OUTAGE_POLICY,
            || async {
                if tokio::time::Instant::now() < until {
                    Err(Attempt::Retry("503"))
                } else {
                    Ok(())
                }
            },
            |_, _| {},
        )
        .await
    }

    /// Six requests in flight through one 120-second budget, during an outage of `seconds`;
    /// their outcomes and when the outage began.
    async fn six_requests(seconds: u64) -> (Vec<Result<(), &'static str>>, tokio::time::Instant) {
        let outage = Outage::new(Duration::from_secs(120));
        let start = tokio::time::Instant::now();
        let until = start + Duration::from_secs(seconds);
        let all = futures_util::future::join_all((0..6).map(|_| through(&outage, until))).await;
        (all, start)
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_shorter_than_the_budget_is_ridden_out_by_every_request() {
        // Far more tries than a count would allow.
        let (all, start) = six_requests(30).await;
        assert!(all.iter().all(Result::is_ok), "{all:?}");
        assert!(tokio::time::Instant::now() >= start + Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_longer_outage_fails_every_request_within_the_budget() {
        let (all, start) = six_requests(150).await;
        assert!(all.iter().all(Result::is_err), "{all:?}");
        let took = tokio::time::Instant::now() - start;
        assert!(took <= Duration::from_secs(120), "{took:?}");
        assert!(took >= Duration::from_secs(100), "gave up early: {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_ends_the_outage_and_the_next_one_has_the_whole_budget() {
        let outage = Outage::new(Duration::from_secs(60));
        let first = tokio::time::Instant::now() + Duration::from_secs(50);
        assert!(through(&outage, first).await.is_ok());
        let second = tokio::time::Instant::now() + Duration::from_secs(50);
        assert!(through(&outage, second).await.is_ok());
    }
}
