//! Webhook delivery: committed events POSTed to the endpoints admins registered,
//! signed, retried with backoff, held back by a breaker per endpoint.
//!
//! Every instance runs one worker. A pass writes the deliveries of newly committed
//! events (see `service::webhooks::fan_out`), then drains each endpoint that has
//! something due, one delivery at a time: lease it, POST it, record the attempt. Each
//! storage step runs in its own `Db::read` or `Db::write`. A pass runs when the
//! event relay publishes, when the next retry falls due, and every few seconds. On
//! shutdown the worker takes no new deliveries and finishes the ones in flight.
//!
//! Requests carry:
//! - `Coupons-Event-Id`: the event's id, the same for every attempt (de-duplicate on it);
//! - `Coupons-Event-Type`, `Coupons-Delivery-Id`;
//! - `Coupons-Timestamp`: Unix seconds when the attempt was signed;
//! - `Coupons-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the endpoint's
//!   secret, of the timestamp, a `.`, and the body's bytes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coupons_domain::delivery::{BreakerPolicy, RetryPolicy};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::events::{EventBus, event_json};
use crate::seal::{Sealer, WEBHOOK_SECRET};
use crate::service;
use crate::storage::webhooks as steps;
use crate::storage::{
    AfterAttempt, AttemptRecord, Db, StorageError, StoredDelivery, StoredEndpoint, StoredEvent,
    lease_for,
};

/// Header with the event's id.
pub const EVENT_ID_HEADER: &str = "coupons-event-id";
/// Header with the event's type.
pub const EVENT_TYPE_HEADER: &str = "coupons-event-type";
/// Header with the delivery's id.
pub const DELIVERY_ID_HEADER: &str = "coupons-delivery-id";
/// Header with the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "coupons-timestamp";
/// Header with the signature: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "coupons-signature";

/// How deliveries are made.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Longest wait for an endpoint's answer.
    pub timeout: Duration,
    /// When to try again.
    pub retry: RetryPolicy,
    /// When to leave a failing endpoint alone.
    pub breaker: BreakerPolicy,
    /// Longest time between passes.
    pub idle: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            idle: Duration::from_secs(5),
        }
    }
}

/// The signature of `body` signed at `timestamp` with `secret`: hex HMAC-SHA256 of
/// `"<timestamp>.<body>"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC accepts every key length")
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The running worker.
pub struct WebhookWorker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookWorker {
    /// Starts the worker of this instance.
    /// Endpoints' secrets are opened with `sealer` to sign.
    pub fn start(db: Db, bus: &EventBus, settings: WebhookSettings, sealer: Arc<Sealer>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(db, bus.clone(), settings, sealer, stopped));
        Self { stop, task }
    }

    /// Takes no new deliveries and waits for the ones in flight (each ends within the
    /// request timeout) to be sent and recorded.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "webhook worker ended abnormally");
        }
    }
}

/// Whether the worker is stopping: told to, or its handle is gone.
fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Shortest gap between passes started by events, so a burst of commits costs one
/// pass, not one per event.
const MIN_GAP: Duration = Duration::from_millis(20);

async fn run(
    db: Db,
    bus: EventBus,
    settings: WebhookSettings,
    sealer: Arc<Sealer>,
    mut stop: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("coupons/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; no webhooks");
            return;
        }
    };
    let mut events = bus.subscribe();
    let mut running: JoinSet<i64> = JoinSet::new();
    let mut busy: HashSet<i64> = HashSet::new();
    loop {
        let started = tokio::time::Instant::now();
        let passed = pass(
            &db,
            &client,
            settings,
            &sealer,
            &stop,
            &mut running,
            &mut busy,
        )
        .await;
        let wait = match passed {
            Ok(Some(due)) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(settings.idle),
            Ok(None) => settings.idle,
            Err(e) => {
                tracing::warn!(error = %e, "webhook pass failed; retrying");
                settings.idle
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            Some(done) = running.join_next() => {
                if let Ok(id) = done {
                    busy.remove(&id);
                } else {
                    // A panicked drain: forget every busy mark rather than stall.
                    busy.clear();
                }
            }
            received = events.recv() => {
                if matches!(received, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    tokio::time::sleep(wait).await;
                } else {
                    while events.try_recv().is_ok() {}
                    tokio::time::sleep_until(started + MIN_GAP).await;
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
        if stopping(&stop) {
            break;
        }
    }
    let in_flight = running.len();
    if in_flight > 0 {
        tracing::info!(in_flight, "finishing webhook deliveries in flight");
    }
    while running.join_next().await.is_some() {}
}

/// One pass: fan out, start a drain for each endpoint with something due; returns when
/// the next delivery of an idle endpoint falls due.
async fn pass(
    db: &Db,
    client: &reqwest::Client,
    settings: WebhookSettings,
    sealer: &Sealer,
    stop: &watch::Receiver<bool>,
    running: &mut JoinSet<i64>,
    busy: &mut HashSet<i64>,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let now = Utc::now();
    if service::webhooks::fan_out(db, now).await?.endpoints == 0 {
        return Ok(None);
    }
    let mut next = None;
    let due_endpoints = db
        .read(async move |mut c| steps::webhook_due(&mut c, now).await)
        .await?;
    for (endpoint_id, due) in due_endpoints {
        if busy.contains(&endpoint_id) {
            continue;
        }
        if due > now {
            next = Some(next.map_or(due, |n: DateTime<Utc>| n.min(due)));
            continue;
        }
        let found = db
            .read(async move |mut c| steps::webhook_endpoint(&mut c, endpoint_id).await)
            .await?;
        let Some(mut endpoint) = found else {
            continue;
        };
        endpoint.secret = match sealer.open(WEBHOOK_SECRET, &endpoint.secret) {
            Ok(secret) => secret,
            Err(e) => {
                // Its deliveries wait (nothing is sent unsigned) until the key is given.
                tracing::error!(error = %e, endpoint = endpoint_id, "cannot open the endpoint's signing secret");
                continue;
            }
        };
        busy.insert(endpoint_id);
        running.spawn(drain(
            db.clone(),
            client.clone(),
            settings,
            endpoint,
            stop.clone(),
        ));
    }
    Ok(next)
}

/// Deliveries leased per claim.
const BATCH: i64 = 100;
/// Longest time finished attempts wait to be recorded.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Delivers the endpoint's due deliveries in event order until none is due, one fails,
/// or the worker stops. Deliveries are leased a batch at a time and attempts recorded
/// a few at a time, so a burst of events costs few transactions; a lease is extended
/// before an attempt could outlive it. Returns the endpoint's id.
async fn drain(
    db: Db,
    client: reqwest::Client,
    settings: WebhookSettings,
    endpoint: StoredEndpoint,
    stop: watch::Receiver<bool>,
) -> i64 {
    if let Err(e) = drain_batches(&db, &client, settings, &endpoint, &stop).await {
        // Leases run out and the deliveries are tried again: at least once.
        tracing::warn!(error = %e, endpoint = endpoint.id, "webhook deliveries interrupted");
    }
    endpoint.id
}

async fn drain_batches(
    db: &Db,
    client: &reqwest::Client,
    settings: WebhookSettings,
    endpoint: &StoredEndpoint,
    stop: &watch::Receiver<bool>,
) -> Result<(), StorageError> {
    let lease = lease_for(settings.timeout);
    let margin =
        chrono::TimeDelta::from_std(settings.timeout + Duration::from_secs(1)).unwrap_or(lease);
    while !stopping(stop) {
        let now = Utc::now();
        let token = hex::encode(rand::rng().random::<[u8; 16]>());
        let mut lease_end = now + lease;
        let (endpoint_id, held) = (endpoint.id, token.as_str());
        let batch = db
            .write(async move |mut c| {
                steps::claim_webhook_deliveries(&mut c, endpoint_id, held, lease_end, now, BATCH)
                    .await
            })
            .await?;
        if batch.is_empty() {
            return Ok(());
        }
        let mut untried: Vec<i64> = batch.iter().map(|(d, _)| d.id).collect();
        let mut done = Vec::new();
        let record_done = async |done: &mut Vec<(StoredDelivery, AttemptRecord)>| {
            if done.is_empty() {
                return Ok(());
            }
            let (attempts, now) = (done.as_slice(), Utc::now());
            let recorded = db
                .write(async move |mut c| {
                    let breaker = settings.breaker;
                    steps::record_webhook_attempts(
                        &mut c,
                        endpoint_id,
                        attempts,
                        held,
                        breaker,
                        now,
                    )
                    .await
                })
                .await;
            done.clear();
            recorded
        };
        let mut flushed = Instant::now();
        let mut failed = false;
        for (delivery, event) in batch {
            if stopping(stop) {
                break;
            }
            if Utc::now() + margin > lease_end {
                record_done(&mut done).await?;
                lease_end = Utc::now() + lease;
                let ids = untried.as_slice();
                db.write(async move |mut c| {
                    steps::extend_webhook_leases(&mut c, ids, held, lease_end).await
                })
                .await?;
            }
            let record = attempt(client, settings, endpoint, &delivery, &event).await;
            untried.retain(|id| *id != delivery.id);
            if record.next != AfterAttempt::Delivered {
                tracing::info!(
                    endpoint = endpoint.id,
                    delivery = delivery.id,
                    event = event.id,
                    status = ?record.status_code,
                    error = ?record.error,
                    next = ?record.next,
                    "webhook attempt failed"
                );
                failed = true;
            }
            done.push((delivery, record));
            if failed {
                break;
            }
            if flushed.elapsed() >= FLUSH_EVERY {
                record_done(&mut done).await?;
                flushed = Instant::now();
            }
        }
        record_done(&mut done).await?;
        if !untried.is_empty() {
            let ids = untried.as_slice();
            db.write(async move |mut c| steps::release_webhook_leases(&mut c, ids, held).await)
                .await?;
        }
        if failed {
            return Ok(());
        }
    }
    Ok(())
}

/// POSTs one event to the endpoint and says what happens next.
async fn attempt(
    client: &reqwest::Client,
    settings: WebhookSettings,
    endpoint: &StoredEndpoint,
    delivery: &StoredDelivery,
    event: &StoredEvent,
) -> AttemptRecord {
    let body = event_json(event).to_string().into_bytes();
    let started_at = Utc::now();
    let timestamp = started_at.timestamp();
    let signature = sign(&endpoint.secret, timestamp, &body);
    let clock = Instant::now();
    let sent = client
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, event.id.to_string())
        .header(EVENT_TYPE_HEADER, event.event_type.as_str())
        .header(DELIVERY_ID_HEADER, delivery.id.to_string())
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, format!("v1={signature}"))
        .body(body)
        .send()
        .await;
    let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status_code, error) = match sent {
        Ok(response) => {
            let status = response.status();
            let error = (!status.is_success()).then(|| format!("HTTP {status}"));
            (Some(i64::from(status.as_u16())), error)
        }
        Err(e) => (None, Some(describe(&e, settings.timeout))),
    };
    let next = if error.is_none() {
        AfterAttempt::Delivered
    } else {
        let attempts = u32::try_from(delivery.attempts.saturating_add(1)).unwrap_or(u32::MAX);
        let draw: f64 = rand::rng().random();
        match settings.retry.next_attempt(attempts, Utc::now(), draw) {
            Some(at) => AfterAttempt::RetryAt(at),
            None => AfterAttempt::GiveUp,
        }
    };
    AttemptRecord {
        started_at,
        duration_ms,
        status_code,
        error,
        next,
    }
}

/// A failed request in words, without its URL (which may carry credentials).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else if e.is_redirect() {
        "redirects are not followed".to_owned()
    } else {
        let mut text = e.to_string();
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
