//! Fan-out of committed events to this instance's subscribers.
//!
//! The outbox is the source of truth. A relay task in every instance reads it in id
//! order, after the last event it published, and hands each event to a broadcast
//! channel. It wakes on PostgreSQL `NOTIFY coupon_events` (sent by every transaction
//! that writes an event, delivered at commit, to every instance) and also polls, so a
//! missed notification delays an event but never loses it. On SQLite (one instance) it
//! polls.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use tokio::sync::{Notify, broadcast, watch};

use crate::storage::{self, Db, StoredEvent};

/// The PostgreSQL channel events are announced on.
pub const CHANNEL: &str = "coupon_events";

/// Events buffered per subscriber before it is told it fell behind.
pub const CAPACITY: usize = 4096;

/// Committed events, in order, for this instance's subscribers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<StoredEvent>>,
    wake: Arc<Notify>,
    closing: Arc<watch::Sender<bool>>,
    relayed: Arc<std::sync::atomic::AtomicI64>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl EventBus {
    /// A bus that buffers `capacity` events per subscriber.
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            wake: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
            relayed: Arc::default(),
        }
    }

    /// Tells every subscriber's connection to close: the service is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// Resolves once [`close`](Self::close) is called.
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|closing| *closing).await;
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.tx.subscribe()
    }

    /// The id of the last event the relay published (0 before the first).
    pub fn relayed(&self) -> i64 {
        self.relayed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks the relay to read the outbox now (e.g. after a local commit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// How often the relay reads the outbox without being woken.
fn poll_interval(db: &Db) -> Duration {
    match db {
        Db::Postgres(_) => Duration::from_millis(1_000),
        Db::Sqlite(_) => Duration::from_millis(50),
    }
}

/// What an instance listens for on PostgreSQL: the URL to `LISTEN` on, and the cache
/// that other instances' key changes clear.
pub struct Listen {
    /// The database URL.
    pub url: String,
    /// Cleared on every [`KEYS_CHANGED`](crate::cache::KEYS_CHANGED) notice.
    pub keys: Arc<crate::cache::KeyCache>,
    /// Told of every subject another instance locked out
    /// ([`LOCKOUT_NOTICE`](storage::attempts::LOCKOUT_NOTICE)).
    pub limiter: crate::service::limiter::Limiter,
}

/// Publishes every event committed after the newest one at start, in id order, until
/// the task is aborted. With `listen` (PostgreSQL), it wakes on notifications.
pub async fn relay(db: Db, bus: EventBus, listen: Option<Listen>) {
    let mut last = loop {
        match db
            .read(async |mut c| storage::events::last_event_id(&mut c).await)
            .await
        {
            Ok(id) => {
                bus.relayed.store(id, std::sync::atomic::Ordering::Relaxed);
                break id;
            }
            Err(e) => {
                tracing::warn!(error = %e, "event relay cannot read the outbox; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    if let Some(listen) = listen {
        tokio::spawn(listen_for_notices(listen, bus.wake.clone()));
    }
    let interval = poll_interval(&db);
    loop {
        tokio::select! {
            () = bus.wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
        loop {
            let after = last;
            let read = db
                .read(async move |mut c| storage::events::events_after(&mut c, after, 500).await)
                .await;
            match read {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for event in events {
                        last = event.id;
                        // No subscriber is not an error.
                        let _ = bus.tx.send(Arc::new(event));
                    }
                    bus.relayed
                        .store(last, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event relay cannot read the outbox; retrying");
                    break;
                }
            }
        }
    }
}

/// Wakes the relay on every `NOTIFY coupon_events` about events, and clears the key
/// cache on those about keys, reconnecting when the connection drops (polling covers
/// the events of the gap; the key cache is cleared on reconnecting, as notices of the
/// gap are lost).
async fn listen_for_notices(listen: Listen, wake: Arc<Notify>) {
    loop {
        match AsyncPgConnection::establish(&listen.url).await {
            Ok(mut conn) => match conn.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                Ok(()) => {
                    listen.keys.clear();
                    let notifications = conn.notifications_stream();
                    let mut notifications = std::pin::pin!(notifications);
                    while let Some(Ok(notice)) = notifications.next().await {
                        if notice.payload == crate::cache::KEYS_CHANGED {
                            listen.keys.clear();
                        } else if let Some(locked) = notice
                            .payload
                            .strip_prefix(storage::attempts::LOCKOUT_NOTICE)
                        {
                            if let Some((name, ms)) = locked.rsplit_once(':')
                                && let Ok(ms) = ms.parse()
                            {
                                listen.limiter.locked_elsewhere(name, ms);
                            }
                        } else {
                            wake.notify_one();
                        }
                    }
                    tracing::warn!("notifications stopped; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for notifications"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN for notifications"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// An event as webhooks carry it: the fields of the `CouponEvent` GraphQL type.
pub fn event_json(event: &StoredEvent) -> serde_json::Value {
    use crate::ids::{Kind, encode};
    serde_json::json!({
        "id": event.id.to_string(),
        "type": event.event_type,
        "couponId": event.coupon_id.map(|id| encode(Kind::Coupon, id)),
        "entityId": event.entity_id,
        "payload": event.payload,
        "occurredAt": event
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}
