//! The rate limiter shared by every instance (`PHONEBOOK_REDIS_URL`): the same GCRA as the
//! in-process limiter, its state (one "theoretical arrival time" per user) kept in Redis and
//! updated by one Lua script per request, atomically and with Redis's clock, so that instances
//! spend one budget between them whatever their own clocks say.
//!
//! - One multiplexed connection per process (`redis`'s `ConnectionManager`), made on the first
//!   request: concurrent requests share it and are pipelined on it; no request opens a connection.
//!   The script runs by `EVALSHA` (loaded on first use and again after a Redis restart).
//! - Redis unreachable (or too slow: [`TIMEOUT`]): the request is served without a decision (no
//!   `X-RateLimit-*` headers), one warning is logged for the outage, and until Redis answers a
//!   probe ([`PROBE_EVERY`]) requests do not wait for it; then limiting resumes by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Decision, RateInfo};

/// The longest a request waits for Redis before it is served without a decision.
pub const TIMEOUT: Duration = Duration::from_millis(250);

/// How often an unreachable Redis is asked whether it is back.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The GCRA of `rate_limit`'s in-process limiter, in microseconds of Redis's clock: a burst of
/// `limit` requests, one more every `3600 s / limit`. KEYS[1] holds the user's theoretical arrival
/// time (TAT), expiring once the bucket is full again. Returns {allowed, remaining,
/// reset (Unix seconds, rounded up), retry-after (whole seconds, at least 1; 0 when allowed)}.
const GCRA: &str = r"
local limit = tonumber(ARGV[1])
local period = 3600000000
local interval = period / limit
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead > period + 0.5 then
  local wait = ahead - period
  return {0, 0, math.ceil(tat / 1000000), math.max(1, math.ceil(wait / 1000000))}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
local remaining = math.floor((period - ahead) / interval + 0.000001)
return {1, remaining, math.ceil(new_tat / 1000000), 0}
";

/// A per-user limiter of `limit` requests per hour whose state is in Redis.
pub struct SharedLimiter {
    client: redis::Client,
    connection: OnceLock<ConnectionManager>,
    script: redis::Script,
    limit: u32,
    prefix: String,
    /// Whether Redis is unreachable (set by a failed request, cleared by a probe that succeeds).
    outage: Arc<AtomicBool>,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("limit", &self.limit)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedLimiter {
    /// A limiter on the Redis at `url` (checked here, connected on first use), with its keys
    /// under `prefix`; `None` when `per_hour` is 0 (rate limiting off).
    pub fn new(url: &str, prefix: &str, per_hour: u32) -> Result<Option<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok((per_hour > 0).then(|| SharedLimiter {
            client,
            connection: OnceLock::new(),
            script: redis::Script::new(GCRA),
            limit: per_hour,
            prefix: prefix.to_owned(),
            outage: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// The configured requests per hour.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Counts one request of `user_id`; `None` when Redis cannot say (the request is served).
    pub async fn check(&self, user_id: i64) -> Option<Decision> {
        if self.outage.load(Ordering::Relaxed) {
            return None;
        }
        let mut connection = self.connection()?;
        let key = format!("{}ratelimit:{user_id}", self.prefix);
        let mut invocation = self.script.key(key);
        invocation.arg(self.limit);
        let answer = actix_web::rt::time::timeout(
            TIMEOUT,
            invocation.invoke_async::<(i64, i64, i64, i64)>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(answer)) => Some(self.decision(answer)),
            Ok(Err(error)) => self.unreachable(connection, &error.to_string()),
            Err(_) => self.unreachable(connection, "no answer within 250 ms"),
        }
    }

    fn decision(&self, (allowed, remaining, reset, retry_after): (i64, i64, i64, i64)) -> Decision {
        let info = RateInfo {
            limit: self.limit,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(0).min(self.limit),
            reset_unix: u64::try_from(reset).unwrap_or(0),
        };
        if allowed == 1 {
            Decision::Allowed(info)
        } else {
            Decision::Limited {
                info,
                retry_after_secs: u64::try_from(retry_after).unwrap_or(1).max(1),
            }
        }
    }

    /// The connection, made on first use in the runtime of the request that needs it.
    fn connection(&self) -> Option<ConnectionManager> {
        if let Some(connection) = self.connection.get() {
            return Some(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        match ConnectionManager::new_lazy_with_config(self.client.clone(), config) {
            Ok(connection) => Some(self.connection.get_or_init(|| connection).clone()),
            // Only a configuration the service never makes fails here; it is said once, and
            // requests are served without a decision from then on.
            Err(error) => {
                if !self.outage.swap(true, Ordering::Relaxed) {
                    log::warn!("the Redis rate limiter cannot connect: {error}");
                }
                None
            }
        }
    }

    /// Starts an outage (one warning) and the probe that ends it.
    fn unreachable(&self, connection: ConnectionManager, why: &str) -> Option<Decision> {
        if self.outage.swap(true, Ordering::Relaxed) {
            return None;
        }
        log::warn!(
            "Redis is unreachable ({why}): requests are served without rate limiting until it \
             answers again"
        );
        let outage = self.outage.clone();
        actix_web::rt::spawn(async move {
            let mut connection = connection;
            loop {
                actix_web::rt::time::sleep(PROBE_EVERY).await;
                let command = redis::cmd("PING");
                let ping = command.query_async::<String>(&mut connection);
                if let Ok(Ok(_)) = actix_web::rt::time::timeout(TIMEOUT, ping).await {
                    outage.store(false, Ordering::Relaxed);
                    log::info!("Redis answers again: rate limiting resumes");
                    return;
                }
            }
        });
        None
    }
}
