//! The webhook delivery worker, a task inside `phonebook serve`: it claims due deliveries from the
//! queue (`models::webhook`), POSTs each change to its webhook, signed as the Standard Webhooks
//! specification says, and records the outcome (delivered, due again after the next delay of the
//! retry schedule, or failed after the last attempt).
//!
//! Each attempt runs as a task of its own, so a slow or hanging receiver delays only its own
//! deliveries (at most [`TIMEOUT`] each), never the queue. Outcomes are recorded by one task, all
//! those that ended meanwhile in one transaction. The queue lives in the database, so
//! pending deliveries survive a restart or a crash (a crashed instance's leases run out after
//! [`LEASE`]); on shutdown the worker stops claiming, lets the attempts in flight finish for up to
//! [`GRACE`], and hands back the leases of those still running.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::db::{self, DbError};
use crate::jsonapi::document::LinkBase;
use crate::models::webhook::{Attempt, Finished, Outcome};
use crate::resources::served::FeedEntry;
use crate::resources::view::View;
use crate::state::AppState;

/// How long a receiver has to answer one attempt.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed attempt stays with the instance that claimed it: longer than an attempt can
/// take, so only a dead instance's leases run out.
pub const LEASE: Duration = Duration::from_secs(30);
/// Most attempts in flight at once, per instance.
const IN_FLIGHT: usize = 256;
/// How long the worker waits before looking at an empty queue again.
const IDLE: Duration = Duration::from_millis(100);
/// How long it waits when [`IN_FLIGHT`] attempts are running, for some to end.
const FULL: Duration = Duration::from_millis(5);
/// Most outcomes recorded in one transaction.
const RECORD_BATCH: usize = 256;
/// How long a stopping worker lets its attempts in flight run on before it hands their leases
/// back: a receiver that answers within it is not sent the same change again.
pub const GRACE: Duration = Duration::from_secs(5);

/// The `webhook-signature` of one attempt: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of `secret` after `whsec_`.
/// `None` for a secret that is not of that form.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = BASE64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// The worker of one instance.
pub struct Worker {
    state: web::Data<AppState>,
    client: reqwest::Client,
    base: LinkBase,
    /// The deliveries this instance has claimed and not finished.
    in_flight: Mutex<HashSet<i64>>,
    stopped: AtomicBool,
    /// Whether the claim loop still runs: a claim it is making may yet add to `in_flight`.
    claiming: AtomicBool,
    /// To the task that records outcomes (`record`).
    finished: mpsc::UnboundedSender<Finished>,
}

impl Worker {
    /// Starts the worker on the current actix runtime. Links in the bodies it sends start at
    /// `PHONEBOOK_PUBLIC_URL`, else at the address `serve` listens on.
    pub fn start(state: web::Data<AppState>) -> Result<Arc<Worker>, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("phonebook/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let origin = (state.config.public_url.clone())
            .unwrap_or_else(|| format!("http://{}", state.config.bind));
        let (finished, outcomes) = mpsc::unbounded_channel();
        let worker = Arc::new(Worker {
            base: LinkBase::new(format!("{origin}/api/v2")),
            client,
            state,
            in_flight: Mutex::new(HashSet::new()),
            stopped: AtomicBool::new(false),
            claiming: AtomicBool::new(true),
            finished,
        });
        actix_web::rt::spawn(worker.clone().record(outcomes));
        actix_web::rt::spawn(worker.clone().run());
        Ok(worker)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops claiming, waits (at most [`GRACE`]) for the attempts in flight to finish, and hands
    /// back the leases of those still running, so that any instance may make them at once (at
    /// least once: such an attempt may still reach its receiver).
    pub async fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + GRACE;
        while (self.claiming.load(Ordering::SeqCst) || !self.in_flight().is_empty())
            && Instant::now() < deadline
        {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let ids: Vec<i64> = self.in_flight().drain().collect();
        if ids.is_empty() {
            return;
        }
        let count = ids.len();
        let released = db::run(&self.state.pool, move |conn| {
            Attempt::release(conn, &ids).map_err(|error| DbError::Interrupted(error.to_string()))
        })
        .await;
        if let Err(error) = released {
            log::warn!("webhook deliveries: could not release {count} leases: {error}");
        }
    }

    async fn run(self: Arc<Self>) {
        while !self.stopped.load(Ordering::SeqCst) {
            let free = IN_FLIGHT.saturating_sub(self.in_flight().len());
            let claimed = match free {
                0 => Ok(Vec::new()),
                free => self.claim(free as i64).await,
            };
            let attempts = claimed.unwrap_or_else(|error| {
                log::warn!("webhook deliveries: cannot claim: {error}");
                Vec::new()
            });
            if attempts.is_empty() {
                actix_web::rt::time::sleep(if free == 0 { FULL } else { IDLE }).await;
                continue;
            }
            for attempt in attempts {
                self.in_flight().insert(attempt.delivery_id);
                actix_web::rt::spawn(self.clone().attempt(attempt));
            }
        }
        self.claiming.store(false, Ordering::SeqCst);
    }

    async fn claim(&self, limit: i64) -> Result<Vec<Attempt>, DbError> {
        let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
        db::run(&self.state.pool, move |conn| {
            Attempt::claim(conn, limit.min(64), lease)
                .map_err(|error| DbError::Interrupted(error.to_string()))
        })
        .await
    }

    /// The body of a delivery: the change as `GET /changes/{id}` shows it.
    fn body(&self, attempt: &Attempt) -> String {
        let entry = FeedEntry::new(attempt.change.clone(), &self.state.feed_cursors);
        let view = View::plain(&self.base);
        view.change(&entry.change, entry.cursor.clone())
            .delivery_document()
    }

    /// One POST and its outcome.
    async fn send(&self, attempt: &Attempt) -> Outcome {
        let body = self.body(attempt);
        let id = attempt.change.id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let Some(signature) = sign(&attempt.webhook.secret, &id, timestamp, body.as_bytes()) else {
            log::error!(
                "webhook {}: its secret is not a whsec_ key",
                attempt.webhook.id
            );
            return Outcome {
                status: None,
                delivered: false,
            };
        };
        let sent = (self.client.post(&attempt.webhook.url))
            .header("content-type", crate::jsonapi::media::JSONAPI)
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                // The answer's body is not read: the status is all that counts.
                Outcome {
                    status: Some(status.as_u16()),
                    delivered: status.is_success(),
                }
            }
            Err(_) => Outcome {
                status: None,
                delivered: false,
            },
        }
    }

    async fn attempt(self: Arc<Self>, attempt: Attempt) {
        let outcome = self.send(&attempt).await;
        let schedule = &self.state.config.webhook_retry_schedule;
        let retry_after = (schedule.get(attempt.attempts as usize))
            .and_then(|delay| chrono::Duration::from_std(*delay).ok());
        if !self.in_flight().contains(&attempt.delivery_id) {
            // Released by `stop`: another attempt will be made.
            return;
        }
        // The recorder ends only with the worker.
        let _ = self.finished.send(Finished {
            delivery_id: attempt.delivery_id,
            webhook_id: attempt.webhook.id,
            attempts: attempt.attempts,
            outcome,
            retry_after,
            at: crate::clock::now(),
        });
    }

    /// Records outcomes as attempts end: each transaction takes every outcome that arrived while
    /// the previous one ran (at most [`RECORD_BATCH`]). An attempt stays in flight until its
    /// outcome is recorded; one that cannot be recorded is made again once its lease runs out.
    async fn record(self: Arc<Self>, mut outcomes: mpsc::UnboundedReceiver<Finished>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let ids: Vec<i64> = batch.iter().map(|attempt| attempt.delivery_id).collect();
            let finished = std::mem::take(&mut batch);
            let recorded = db::run(&self.state.pool, move |conn| {
                Attempt::record(conn, &finished)
                    .map_err(|error| DbError::Interrupted(error.to_string()))
            })
            .await;
            if let Err(error) = recorded {
                log::warn!(
                    "webhook deliveries: {} outcomes not recorded: {error}",
                    ids.len()
                );
            }
            let mut in_flight = self.in_flight();
            for id in ids {
                in_flight.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn secrets_that_are_not_whsec_keys_sign_nothing() {
        assert_eq!(
            sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "1", 0, b"{}"),
            None
        );
        assert_eq!(sign("whsec_not base64!", "1", 0, b"{}"), None);
    }
}
