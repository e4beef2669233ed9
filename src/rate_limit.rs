//! Per-user rate limiting (API.md sections 5, 9 and 12): [`Limiter`] is the one the service
//! uses, either [`RateLimiter`], in this process and built on `governor`'s keyed GCRA limiter, or
//! with `PHONEBOOK_REDIS_URL` the [`shared::SharedLimiter`], the same GCRA with its state in Redis,
//! so that all instances spend one budget.
//!
//! Quota: `PHONEBOOK_RATE_LIMIT` requests per hour per user (all of a user's tokens together),
//! with a burst of the same size: a user may spend the whole hour's budget at once, and it
//! refills continuously, one request every `3600 s / limit`. A limit of 0 turns the limiter
//! off ([`RateLimiter::new`] returns `None`), and then no `X-RateLimit-*` header is sent.
//!
//! Every [`RateLimiter::check`] returns what the `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` headers need ([`RateInfo`]), and on refusal the whole seconds for
//! `Retry-After`. Only authenticated requests are to be checked (401s are not counted).
//!
//! Memory: the limiter keeps one small entry per user id seen. Every
//! [`RETAIN_RECENT_EVERY`] checks it drops the entries of users whose budget is full again
//! (`governor`'s `retain_recent`, which cannot change any decision since a missing entry
//! and a full bucket are the same state), so memory is bounded by the users active within the
//! last hour.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;

pub mod shared;

/// The rate limiter of the service.
#[derive(Debug)]
pub enum Limiter {
    /// This process counts for itself.
    Local(RateLimiter),
    /// Every instance counts in Redis.
    Shared(shared::SharedLimiter),
}

impl Limiter {
    /// The limiter `PHONEBOOK_RATE_LIMIT` and `PHONEBOOK_REDIS_URL` ask for, or `None` when rate
    /// limiting is off. The Redis URL is checked here (and was when the configuration was read).
    pub fn new(
        per_hour: u32,
        redis_url: Option<&str>,
        prefix: &str,
    ) -> Result<Option<Self>, redis::RedisError> {
        Ok(match redis_url {
            Some(url) => shared::SharedLimiter::new(url, prefix, per_hour)?.map(Limiter::Shared),
            None => RateLimiter::new(per_hour).map(Limiter::Local),
        })
    }

    /// Counts one request of `user_id`. `None`: no decision (the shared limiter's Redis is
    /// unreachable), the request is served without `X-RateLimit-*` headers.
    pub async fn check(&self, user_id: i64) -> Option<Decision> {
        match self {
            Limiter::Local(limiter) => Some(limiter.check(user_id)),
            Limiter::Shared(limiter) => limiter.check(user_id).await,
        }
    }
}

/// How many [`RateLimiter::check`] calls pass between two sweeps of stale per-user entries.
pub const RETAIN_RECENT_EVERY: u64 = 1024;

type Keyed<C> =
    governor::RateLimiter<i64, DefaultKeyedStateStore<i64>, C, StateInformationMiddleware>;

/// The state of a user's budget, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    /// `X-RateLimit-Limit`: requests per hour (also the burst size).
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests the user may still make right now, after this one.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix time (seconds, rounded up) when `remaining` is back at `limit`.
    pub reset_unix: u64,
}

impl RateInfo {
    /// The response headers that tell the client its limit.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset_unix.to_string()),
        ]
    }
}

/// The answer of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may go on; the headers carry `info`.
    Allowed(RateInfo),
    /// 429 `rateLimitExceeded`.
    Limited {
        /// The headers (`remaining` is 0).
        info: RateInfo,
        /// `Retry-After`: whole seconds (rounded up, at least 1) until one request is allowed.
        retry_after_secs: u64,
    },
}

impl Decision {
    /// The header values, whatever the decision.
    pub fn info(&self) -> RateInfo {
        match *self {
            Decision::Allowed(info) | Decision::Limited { info, .. } => info,
        }
    }

    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// A per-user limiter of `limit` requests per hour with a burst of `limit`.
///
/// Shared across workers (it is `Send + Sync`; wrap it in an `Arc` or `web::Data`). The clock
/// parameter exists for tests ([`RateLimiter::with_clock`]); the service uses the default.
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Keyed<C>,
    limit: u32,
    /// Cells one request costs (see [`cells_per_request`]).
    cells: NonZeroU32,
    /// Time in which one cell comes back.
    cell_interval: Duration,
    checks: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("cells_per_request", &self.cells)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter of `per_hour` requests per hour per user, or `None` when `per_hour` is 0
    /// (rate limiting off).
    pub fn new(per_hour: u32) -> Option<Self> {
        Self::with_clock(per_hour, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// Like [`RateLimiter::new`], with a given clock (e.g. `governor`'s `FakeRelativeClock`).
    pub fn with_clock(per_hour: u32, clock: C) -> Option<Self> {
        let cells = cells_per_request(NonZeroU32::new(per_hour)?);
        let burst = NonZeroU32::new(per_hour * cells.get())?;
        let quota = Quota::per_hour(burst);
        Some(RateLimiter {
            limiter: governor::RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock),
            limit: per_hour,
            cells,
            cell_interval: quota.replenish_interval(),
            checks: AtomicU64::new(0),
        })
    }

    /// The configured requests per hour (`X-RateLimit-Limit`).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// How many users the limiter currently keeps state for (may be approximate while other
    /// threads check).
    pub fn tracked_users(&self) -> usize {
        self.limiter.len()
    }

    /// Counts one request of `user_id` and says whether it may go on.
    pub fn check(&self, user_id: i64) -> Decision {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_RECENT_EVERY
            == RETAIN_RECENT_EVERY - 1
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let capacity = self.limit * self.cells.get();
        match self.limiter.check_key_n(&user_id, self.cells) {
            Ok(Ok(snapshot)) => {
                // Cells left after this request; the bucket is full once the missing ones are
                // back, one per `cell_interval` (exact to within one cell).
                let left = snapshot.remaining_burst_capacity().min(capacity);
                Decision::Allowed(RateInfo {
                    limit: self.limit,
                    remaining: left / self.cells.get(),
                    reset_unix: ceil_secs(now_unix + self.cell_interval * (capacity - left)),
                })
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                // `wait` is when one request's cells are back; the other `limit - 1`
                // requests' worth follow at the steady rate.
                let until_full = wait + self.cell_interval * ((self.limit - 1) * self.cells.get());
                Decision::Limited {
                    info: RateInfo {
                        limit: self.limit,
                        remaining: 0,
                        reset_unix: ceil_secs(now_unix + until_full),
                    },
                    retry_after_secs: ceil_secs(wait).max(1),
                }
            }
            // A request costs at most the whole burst, so this cannot happen; refuse safely.
            Err(_) => Decision::Limited {
                info: RateInfo {
                    limit: self.limit,
                    remaining: 0,
                    reset_unix: ceil_secs(now_unix + Duration::from_secs(3600)),
                },
                retry_after_secs: 3600,
            },
        }
    }
}

/// How many `governor` cells one request costs. `governor` reports the remaining burst only in
/// whole cells; were a cell a whole request, `X-RateLimit-Reset` could be late by up to one
/// replenish interval (20 minutes at 3 requests per hour) after an idle stretch. Splitting a
/// request into up to 1000 cells makes it exact to within a thousandth of that interval, while
/// `limit × cells` stays within `u32`.
fn cells_per_request(limit: NonZeroU32) -> NonZeroU32 {
    NonZeroU32::new((u32::MAX / limit.get()).clamp(1, 1000)).unwrap_or(NonZeroU32::MIN)
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn unix_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn fake(per_hour: u32) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            RateLimiter::with_clock(per_hour, clock.clone()).unwrap(),
            clock,
        )
    }

    /// The headers and `Retry-After` of a check that must be limited.
    fn limited<C: Clock>(rl: &RateLimiter<C>, user: i64) -> (RateInfo, u64) {
        match rl.check(user) {
            Decision::Limited {
                info,
                retry_after_secs,
            } => (info, retry_after_secs),
            Decision::Allowed(info) => panic!("expected Limited, got {info:?}"),
        }
    }

    #[test]
    fn zero_is_off() {
        assert!(RateLimiter::new(0).is_none());
        assert_eq!(RateLimiter::new(10_000).unwrap().limit(), 10_000);
    }

    #[test]
    fn exhausts_after_limit_calls() {
        let rl = RateLimiter::new(3).unwrap();
        for expected_remaining in [2, 1, 0] {
            match rl.check(7) {
                Decision::Allowed(info) => {
                    assert_eq!(info.limit, 3);
                    assert_eq!(info.remaining, expected_remaining);
                }
                other => panic!("expected Allowed, got {other:?}"),
            }
        }
        match rl.check(7) {
            Decision::Limited {
                info,
                retry_after_secs,
            } => {
                assert_eq!(info.remaining, 0);
                assert_eq!(info.limit, 3);
                // One request comes back every 20 minutes.
                assert!((1..=1200).contains(&retry_after_secs), "{retry_after_secs}");
                assert!(retry_after_secs >= 1199, "{retry_after_secs}");
                let now = unix_now();
                assert!(info.reset_unix > now);
                assert!(info.reset_unix <= now + 3600 + 2, "{info:?}");
            }
            other => panic!("expected Limited, got {other:?}"),
        }
        assert!(!rl.check(7).is_allowed());
    }

    #[test]
    fn users_are_independent() {
        let rl = RateLimiter::new(2).unwrap();
        assert!(rl.check(1).is_allowed());
        assert!(rl.check(1).is_allowed());
        assert!(!rl.check(1).is_allowed());
        let other = rl.check(2);
        assert!(other.is_allowed());
        assert_eq!(other.info().remaining, 1);
        assert!(rl.check(-5).is_allowed());
    }

    #[test]
    fn remaining_decreases_and_reset_matches_it() {
        let (rl, _clock) = fake(10);
        // 10/hour: one request back every 360 s.
        let start = unix_now();
        for used in 1..=10u32 {
            let info = rl.check(1).info();
            assert_eq!(info.remaining, 10 - used);
            let now = unix_now();
            let expected = u64::from(used) * 360;
            assert!(info.reset_unix > now, "{info:?}");
            assert!(info.reset_unix >= start + expected, "{used}: {info:?}");
            assert!(info.reset_unix <= now + expected + 1, "{used}: {info:?}");
        }
    }

    #[test]
    fn refills_continuously() {
        let (rl, clock) = fake(3);
        for _ in 0..3 {
            assert!(rl.check(1).is_allowed());
        }
        assert_eq!(limited(&rl, 1).1, 1200);
        clock.advance(Duration::from_secs(600));
        let (info, retry_after_secs) = limited(&rl, 1);
        assert_eq!(retry_after_secs, 600);
        // Full again 600 s (first request back) + 2 × 1200 s later.
        let now = unix_now();
        assert!(info.reset_unix >= now + 3000 && info.reset_unix <= now + 3001 + 1);
        clock.advance(Duration::from_secs(600));
        let info = rl.check(1).info();
        assert_eq!(info.remaining, 0);
        clock.advance(Duration::from_secs(3600));
        let info = rl.check(1).info();
        assert_eq!(info.remaining, 2);
    }

    /// Seconds from now until `info.reset_unix`.
    fn secs_to_reset(info: &RateInfo) -> u64 {
        info.reset_unix.saturating_sub(unix_now())
    }

    #[test]
    fn reset_stays_exact_after_an_idle_stretch() {
        // 3/hour: one request back every 1200 s.
        let (rl, clock) = fake(3);
        assert!(rl.check(1).is_allowed());
        clock.advance(Duration::from_secs(600));
        // Half a request came back while idle: the bucket (2.5 left before this request, 1.5
        // after) is full again 1800 s from now, not 2400 s.
        let info = rl.check(1).info();
        assert_eq!(info.remaining, 1);
        let to_reset = secs_to_reset(&info);
        assert!((1799..=1801).contains(&to_reset), "{to_reset}");
        // Just before Reset the budget is not yet full...
        clock.advance(Duration::from_secs(to_reset - 5));
        assert_eq!(rl.check(1).info().remaining, 1);
    }

    #[test]
    fn waiting_until_reset_restores_the_whole_budget() {
        for limit in [1, 3, 7, 10_000] {
            let (rl, clock) = fake(limit);
            let mut info = rl.check(42).info();
            for _ in 1..limit.min(50) {
                clock.advance(Duration::from_millis(1_234));
                info = rl.check(42).info();
            }
            assert!(info.remaining < limit, "{limit}: {info:?}");
            // ... and at Reset it is: the next request sees limit - 1 remaining.
            clock.advance(Duration::from_secs(secs_to_reset(&info)));
            assert_eq!(rl.check(42).info().remaining, limit - 1, "limit {limit}");
        }
    }

    #[test]
    fn limited_reset_is_retry_after_plus_the_rest_of_the_budget() {
        let (rl, clock) = fake(4);
        for _ in 0..4 {
            assert!(rl.check(5).is_allowed());
        }
        clock.advance(Duration::from_secs(100));
        let (info, retry_after_secs) = limited(&rl, 5);
        // 900 s per request: the first is back 800 s from now, the bucket full 3 × 900 s later.
        assert_eq!(retry_after_secs, 800);
        let to_reset = secs_to_reset(&info);
        assert!((3499..=3501).contains(&to_reset), "{to_reset}");
        clock.advance(Duration::from_secs(retry_after_secs));
        assert!(rl.check(5).is_allowed());
    }

    #[test]
    fn cells_fit_in_u32() {
        for limit in [1, 3, 10_000, 4_294_967, 4_294_968, u32::MAX / 2, u32::MAX] {
            let cells = cells_per_request(NonZeroU32::new(limit).unwrap()).get();
            assert!((1..=1000).contains(&cells));
            assert!(limit.checked_mul(cells).is_some(), "{limit}");
            let rl = RateLimiter::new(limit).unwrap();
            assert_eq!(rl.check(1).info().remaining, limit - 1);
        }
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        // 36 000/hour: one request back every 100 ms, which still rounds up to 1 s.
        let (rl, _clock) = fake(36_000);
        for _ in 0..=36_000 {
            if let Decision::Limited {
                retry_after_secs, ..
            } = rl.check(9)
            {
                assert_eq!(retry_after_secs, 1);
                return;
            }
        }
        panic!("never limited");
    }

    #[test]
    fn stale_users_are_dropped() {
        let (rl, clock) = fake(5);
        for user in 0..100 {
            rl.check(user);
        }
        assert_eq!(rl.tracked_users(), 100);
        clock.advance(Duration::from_secs(2 * 3600));
        for _ in 0..RETAIN_RECENT_EVERY {
            rl.check(1_000);
        }
        assert!(rl.tracked_users() <= 1, "{}", rl.tracked_users());
        // A dropped user starts again with a full budget.
        assert_eq!(rl.check(3).info().remaining, 4);
    }

    #[test]
    fn ceil_secs_rounds_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(5)), 5);
        assert_eq!(ceil_secs(Duration::from_millis(5001)), 6);
    }
}
