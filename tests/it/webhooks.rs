//! Webhooks against a real HTTP receiver on a TCP port: signatures, retries with
//! backoff, the breaker, the delivery log, redelivery, filters, several instances.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use coupons::auth::Role;
use coupons::webhooks::WebhookSettings;
use coupons_domain::delivery::{BreakerPolicy, RetryPolicy};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{Backend, Options, TestApp, TestDatabase};
use crate::process::Process;

/// What the receiver does with the n-th request (0-based).
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// Answer at once with this status.
    Status(u16),
    /// Answer 200 after this long.
    Slow(Duration),
    /// Keep the request open until the receiver is told to answer, then 200.
    Hold,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the signature with `secret` the way `docs/events.md` tells receivers to.
    pub fn signed_with(&self, secret: &str) -> bool {
        let timestamp = self.header("coupons-timestamp");
        let Some(given) = self.header("coupons-signature").strip_prefix("v1=") else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let Ok(given) = hex::decode(given) else {
            return false;
        };
        mac.verify_slice(&given).is_ok()
    }
}

#[derive(Clone)]
struct ReceiverState {
    script: Arc<dyn Fn(usize) -> Answer + Send + Sync>,
    received: Arc<Mutex<Vec<Received>>>,
    release: Arc<Notify>,
    arrived: Arc<Notify>,
}

/// A local HTTP server that records every POST and answers as scripted.
pub struct Receiver {
    pub url: String,
    state: ReceiverState,
}

impl Receiver {
    pub async fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        let state = ReceiverState {
            script: Arc::new(script),
            received: Arc::default(),
            release: Arc::default(),
            arrived: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (at most `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests within {within:?}",
                got.len()
            );
            let _ = tokio::time::timeout(Duration::from_millis(100), arrived).await;
        }
    }

    /// Lets held requests answer.
    pub fn release(&self) {
        self.state.release.notify_waiters();
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = {
        let mut received = state.received.lock().unwrap();
        received.push(Received {
            at: Instant::now(),
            headers,
            body,
        });
        received.len() - 1
    };
    let answer = (state.script)(n);
    let release = state.release.notified();
    state.arrived.notify_waiters();
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
        Answer::Hold => {
            release.await;
            StatusCode::OK
        }
    }
}

/// Fast retries for tests; the breaker out of the way unless a test wants it.
pub fn fast(max_attempts: u32, threshold: u32) -> WebhookSettings {
    WebhookSettings {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            base: chrono::TimeDelta::milliseconds(50),
            cap: chrono::TimeDelta::milliseconds(400),
            max_attempts,
        },
        breaker: BreakerPolicy {
            threshold,
            cooldown: chrono::TimeDelta::hours(1),
        },
        idle: Duration::from_millis(200),
    }
}

fn options(settings: WebhookSettings) -> Options {
    Options {
        webhooks: Some(settings),
        ..Options::default()
    }
}

pub const CREATE_ENDPOINT: &str = "mutation($i: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $i) {
        webhookEndpoint { id url eventTypes couponId active consecutiveFailures breakerOpenUntil }
        secret
        userErrors { field code message }
    } }";

const UPDATE_ENDPOINT: &str = "mutation($i: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(input: $i) {
        webhookEndpoint { id url eventTypes couponId active consecutiveFailures breakerOpenUntil }
        secret
        userErrors { field code message }
    } }";

const DELIVERIES: &str = "query($f: WebhookDeliveryFilter) {
    webhookDeliveries(first: 50, filter: $f) { nodes {
        id endpointId status attempts nextAttemptAt lastStatusCode lastError deliveredAt
        event { id type couponId entityId }
        attemptLog { startedAt durationMs statusCode error succeeded }
    } } }";

const ENDPOINTS: &str = "{ webhookEndpoints { nodes {
    id url eventTypes couponId active consecutiveFailures breakerOpenUntil } } }";

/// Registers an endpoint; returns (its ID, its secret).
pub async fn register(app: &TestApp, input: Value) -> (String, String) {
    let data = app.admin(CREATE_ENDPOINT, json!({ "i": input })).await;
    let payload = &data["createWebhookEndpoint"];
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    (
        payload["webhookEndpoint"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        payload["secret"].as_str().unwrap().to_owned(),
    )
}

/// Redeems `code` once for a 20 USD order; returns the redemption's row id (the
/// event's entity id).
pub async fn redeem(app: &TestApp, code: &str, order: &str) -> String {
    let input = json!({ "i": { "code": code, "idempotencyKey": order,
        "order": { "id": order, "currency": "USD", "subtotal": "20" } } });
    let data = app
        .admin(
            "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) {
                redemption { id } userErrors { code } } }",
            input,
        )
        .await;
    let id = data["redeemCoupon"]["redemption"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not redeemed: {data:#}"));
    coupons::ids::decode_any(id).unwrap().1.to_string()
}

async fn deliveries(app: &TestApp, filter: Value) -> Vec<Value> {
    let data = app.admin(DELIVERIES, json!({ "f": filter })).await;
    data["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until every delivery matching `filter` is in `status` and there are `n`.
async fn wait_deliveries(app: &TestApp, filter: Value, n: usize, status: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = deliveries(app, filter.clone()).await;
        if list.len() == n && list.iter().all(|d| d["status"] == status) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "wanted {n} {status} deliveries: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The acceptance case: a receiver that fails the first three deliveries gets the
/// event on the fourth attempt, each attempt validly signed, with backoff between
/// them; the log shows all four.
async fn a_failing_receiver_gets_the_event_on_the_fourth_attempt(app: TestApp) {
    let receiver = Receiver::start(|n| {
        if n < 3 {
            Answer::Status(500)
        } else {
            Answer::Status(204)
        }
    })
    .await;
    let coupon = create(
        &app,
        json!({ "name": "Hooked", "code": "HOOK4", "discount": { "percentage": "10" } }),
    )
    .await;
    let (endpoint, secret) = register(
        &app,
        json!({ "url": receiver.url, "eventTypes": ["COUPON_REDEEMED"], "couponId": coupon["id"] }),
    )
    .await;
    let redemption = redeem(&app, "HOOK4", "order-1").await;

    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    let delivered = wait_deliveries(&app, json!({ "endpointId": endpoint }), 1, "DELIVERED").await;
    assert_eq!(got.len(), 4, "no attempt after the successful one");
    let event_id = got[0].header("coupons-event-id").to_owned();
    for (n, request) in got.iter().enumerate() {
        assert!(
            request.signed_with(&secret),
            "attempt {n} is validly signed"
        );
        assert!(!request.signed_with("whsec_wrong"), "a wrong secret fails");
        assert_eq!(
            request.header("coupons-event-id"),
            event_id,
            "same event id"
        );
        assert_eq!(request.header("coupons-event-type"), "COUPON_REDEEMED");
        assert_eq!(request.header("content-type"), "application/json");
        let ts: i64 = request.header("coupons-timestamp").parse().unwrap();
        assert!(
            (chrono::Utc::now().timestamp() - ts).abs() < 60,
            "fresh timestamp"
        );
        let body = request.json();
        assert_eq!(body["id"], json!(event_id));
        assert_eq!(body["type"], "COUPON_REDEEMED");
        assert_eq!(body["couponId"], coupon["id"]);
        assert_eq!(body["entityId"], json!(redemption));
        assert_eq!(body["payload"]["status"], "REDEEMED", "{body:#}");
    }
    // A tampered body fails verification.
    let mut tampered = got[3].clone();
    tampered.body = Bytes::from(got[3].body.iter().copied().rev().collect::<Vec<u8>>());
    assert!(!tampered.signed_with(&secret));
    // Backoff: the n-th retry waits at least half of 50 ms × 2^(n−1).
    for (n, pair) in got.windows(2).enumerate() {
        let least = Duration::from_millis(25 << n);
        assert!(
            pair[1].at - pair[0].at >= least,
            "retry {} came after {:?}, before {least:?}",
            n + 1,
            pair[1].at - pair[0].at
        );
    }
    let d = &delivered[0];
    assert_eq!(d["attempts"], 4);
    assert_eq!(d["event"]["id"], json!(event_id));
    assert_eq!(d["lastStatusCode"], 204);
    assert_eq!(d["lastError"], Value::Null);
    assert!(d["deliveredAt"].is_string());
    assert_eq!(d["nextAttemptAt"], Value::Null);
    let log = d["attemptLog"].as_array().unwrap();
    let codes: Vec<&Value> = log.iter().map(|a| &a["statusCode"]).collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(500), &json!(204)]);
    let ok: Vec<&Value> = log.iter().map(|a| &a["succeeded"]).collect();
    assert_eq!(
        ok,
        [&json!(false), &json!(false), &json!(false), &json!(true)]
    );
    assert_eq!(log[0]["error"], "HTTP 500 Internal Server Error");
    // The breaker saw a success last.
    let endpoints = app.admin(ENDPOINTS, json!({})).await;
    assert_eq!(
        endpoints["webhookEndpoints"]["nodes"][0]["consecutiveFailures"],
        0
    );
}
both_backends!(
    a_failing_receiver_gets_the_event_on_the_fourth_attempt,
    super::options(super::fast(12, 100))
);

/// An endpoint gets exactly the events of its types and coupon, once each; events
/// from before it was registered and rolled-back changes send nothing.
async fn endpoints_get_exactly_their_events(app: TestApp) {
    let everything = Receiver::start(|_| Answer::Status(200)).await;
    let filtered = Receiver::start(|_| Answer::Status(200)).await;
    let a = create(
        &app,
        json!({ "name": "A", "code": "HOOKA", "discount": { "percentage": "10" }, "maxRedemptions": 3 }),
    )
    .await;
    create(
        &app,
        json!({ "name": "B", "code": "HOOKB", "discount": { "percentage": "10" } }),
    )
    .await;
    redeem(&app, "HOOKA", "before").await;
    let before = app.last_event_id().await.unwrap();
    let (all_id, _) = register(&app, json!({ "url": everything.url })).await;
    let (some_id, _) = register(
        &app,
        json!({ "url": filtered.url, "eventTypes": ["COUPON_REDEEMED", "COUPON_REDEEMED"], "couponId": a["id"] }),
    )
    .await;
    let mine = [
        redeem(&app, "HOOKA", "a-1").await,
        redeem(&app, "HOOKA", "a-2").await,
    ];
    redeem(&app, "HOOKB", "b-1").await;
    // Refused (the cap is reached): rolled back, no event.
    let refused = app
        .admin(
            "mutation { redeemCoupon(input: { code: \"HOOKA\", idempotencyKey: \"a-3\",
                order: { id: \"a-3\", currency: \"USD\", subtotal: \"20\" } }) {
                redemption { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        refused["redeemCoupon"]["userErrors"][0]["code"],
        "USAGE_LIMIT_REACHED"
    );
    // A marker, after everything above.
    create(
        &app,
        json!({ "name": "Marker", "code": "HOOKM", "discount": { "percentage": "10" } }),
    )
    .await;
    let last = app.last_event_id().await.unwrap();
    let all = receiver_until(&everything, |r| {
        r.header("coupons-event-id").parse::<i64>().unwrap() == last
    })
    .await;
    // Every event after registration, once each, ending with the marker.
    let mut ids: Vec<i64> = all
        .iter()
        .map(|r| r.header("coupons-event-id").parse().unwrap())
        .collect();
    ids.sort_unstable();
    let expected: Vec<i64> = event_ids_after(&app, before).await;
    assert_eq!(ids, expected, "each event once, none missing");
    let types: Vec<String> = all
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    for t in [
        "COUPON_REDEEMED",
        "USAGE_THRESHOLD_REACHED",
        "COUPON_EXHAUSTED",
        "COUPON_CREATED",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }
    let delivered = wait_deliveries(
        &app,
        json!({ "endpointId": all_id }),
        ids.len(),
        "DELIVERED",
    )
    .await;
    assert_eq!(delivered.len(), ids.len());
    // The filtered endpoint: A's two redemptions, nothing else.
    let some = wait_deliveries(&app, json!({ "endpointId": some_id }), 2, "DELIVERED").await;
    let mut entities: Vec<String> = some
        .iter()
        .map(|d| d["event"]["entityId"].as_str().unwrap().to_owned())
        .collect();
    entities.sort();
    let mut want = mine.to_vec();
    want.sort();
    assert_eq!(entities, want);
    assert_eq!(filtered.received().len(), 2);
    let endpoints = app.admin(ENDPOINTS, json!({})).await;
    assert_eq!(
        endpoints["webhookEndpoints"]["nodes"][1]["eventTypes"],
        json!(["COUPON_REDEEMED"]),
        "duplicates in the input are stored once"
    );
}
both_backends!(
    endpoints_get_exactly_their_events,
    super::options(super::fast(12, 100))
);

/// Requests until `done` holds for one of them.
async fn receiver_until(receiver: &Receiver, done: impl Fn(&Received) -> bool) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = receiver.received();
        if got.iter().any(&done) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "not done: {} requests",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of every outbox event after `after`, read from the table.
async fn event_ids_after(app: &TestApp, after: i64) -> Vec<i64> {
    app.events_after(after, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// After `threshold` failures in a row the breaker holds deliveries back; resuming
/// the endpoint closes it. A delivery out of attempts is FAILED until redelivered by
/// hand; a redelivered one carries the same event id. A rotated secret signs from the
/// next attempt on.
async fn breaker_give_up_redelivery_and_rotation(app: TestApp) {
    // 0, 1: fail (the breaker opens); after resuming: 2 fails, which makes some
    // delivery's second failure (2 attempts allowed); then everything succeeds.
    let receiver = Receiver::start(|n| {
        if n < 3 {
            Answer::Status(503)
        } else {
            Answer::Status(200)
        }
    })
    .await;
    create(
        &app,
        json!({ "name": "Br", "code": "HOOKBR", "discount": { "percentage": "10" } }),
    )
    .await;
    let (endpoint, secret) = register(
        &app,
        json!({ "url": receiver.url, "eventTypes": ["COUPON_REDEEMED"] }),
    )
    .await;
    redeem(&app, "HOOKBR", "o-1").await;
    redeem(&app, "HOOKBR", "o-2").await;
    receiver.wait_for(2, Duration::from_secs(20)).await;
    // Open: nothing more goes out.
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let list = app.admin(ENDPOINTS, json!({})).await;
        let e = list["webhookEndpoints"]["nodes"][0].clone();
        if e["breakerOpenUntil"].is_string() {
            break e;
        }
        assert!(Instant::now() < deadline, "breaker did not open: {e:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(open["consecutiveFailures"], 2);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "no attempt while the breaker is open"
    );
    // The endpoint's failure count and each delivery's own record are written apart:
    // wait for both failed attempts to be recorded. Which deliveries they were depends
    // on timing: one attempt each (both PENDING), or the first delivery's two (FAILED,
    // the second still PENDING with none).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = deliveries(&app, json!({ "endpointId": endpoint })).await;
        let attempts: i64 = list.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
        let settled = list
            .iter()
            .all(|d| d["status"] == "PENDING" || d["status"] == "FAILED");
        if list.len() == 2 && attempts == 2 && settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "wanted 2 attempts recorded: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Pause, then resume with a new secret: the breaker closes.
    let paused = app
        .admin(
            UPDATE_ENDPOINT,
            json!({ "i": { "id": endpoint, "active": false } }),
        )
        .await;
    assert_eq!(
        paused["updateWebhookEndpoint"]["webhookEndpoint"]["active"],
        false
    );
    assert_eq!(paused["updateWebhookEndpoint"]["secret"], Value::Null);
    let resumed = app
        .admin(
            UPDATE_ENDPOINT,
            json!({ "i": { "id": endpoint, "active": true, "rotateSecret": true } }),
        )
        .await;
    let resumed = &resumed["updateWebhookEndpoint"];
    assert_eq!(resumed["webhookEndpoint"]["breakerOpenUntil"], Value::Null);
    assert_eq!(resumed["webhookEndpoint"]["consecutiveFailures"], 0);
    let new_secret = resumed["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);

    // Whichever delivery failed twice is FAILED, the other DELIVERED.
    let deadline = Instant::now() + Duration::from_secs(20);
    let settled = loop {
        let list = deliveries(&app, json!({ "endpointId": endpoint })).await;
        if list.iter().all(|d| d["status"] != "PENDING") {
            break list;
        }
        assert!(Instant::now() < deadline, "still pending: {list:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let got = receiver.received();
    for r in &got[2..] {
        assert!(r.signed_with(&new_secret), "signed with the new secret");
        assert!(!r.signed_with(&secret));
    }
    let failed: Vec<&Value> = settled.iter().filter(|d| d["status"] == "FAILED").collect();
    assert_eq!(failed.len(), 1, "{settled:#?}");
    let failed = failed[0].clone();
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failed["lastStatusCode"], 503);
    assert_eq!(failed["lastError"], "HTTP 503 Service Unavailable");
    assert_eq!(failed["attemptLog"].as_array().unwrap().len(), 2);

    // Redeliver by hand: same event id, a fresh attempt count, the log keeps all.
    let before = receiver.received().len();
    let again = app
        .admin(
            "mutation($i: RedeliverWebhookInput!) { redeliverWebhook(input: $i) {
                webhookDelivery { id status attempts } userErrors { code } } }",
            json!({ "i": { "deliveryId": failed["id"] } }),
        )
        .await;
    assert_eq!(
        again["redeliverWebhook"]["webhookDelivery"]["status"],
        "PENDING"
    );
    assert_eq!(again["redeliverWebhook"]["webhookDelivery"]["attempts"], 0);
    let got = receiver.wait_for(before + 1, Duration::from_secs(20)).await;
    assert_eq!(
        got[before].header("coupons-event-id"),
        failed["event"]["id"].as_str().unwrap()
    );
    let done = wait_deliveries(&app, json!({ "endpointId": endpoint }), 2, "DELIVERED").await;
    let d = done.iter().find(|d| d["id"] == failed["id"]).unwrap();
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["attemptLog"].as_array().unwrap().len(), 3);
    // Redelivering a delivered one sends it again too.
    let again = app
        .admin(
            "mutation($i: RedeliverWebhookInput!) { redeliverWebhook(input: $i) {
                webhookDelivery { status } userErrors { code } } }",
            json!({ "i": { "deliveryId": failed["id"] } }),
        )
        .await;
    assert_eq!(again["redeliverWebhook"]["userErrors"], json!([]));
    receiver.wait_for(before + 2, Duration::from_secs(20)).await;
}
both_backends!(
    breaker_give_up_redelivery_and_rotation,
    super::options(super::fast(2, 2))
);

/// Bad input gets userErrors; unknown IDs are NOT_FOUND; deletion removes the
/// endpoint with its deliveries; each change has its audit entry; only admins.
async fn endpoints_are_validated_and_managed(app: TestApp) {
    for (url, why) in [
        ("ftp://example.com/hook", "scheme"),
        ("not a url", "relative"),
        ("http://", "no host"),
        ("mailto:ops@example.com", "scheme"),
    ] {
        let data = app
            .admin(CREATE_ENDPOINT, json!({ "i": { "url": url } }))
            .await;
        let errors = &data["createWebhookEndpoint"]["userErrors"];
        assert_eq!(errors[0]["code"], "INVALID_URL", "{why}: {data:#}");
        assert_eq!(errors[0]["field"], json!(["input", "url"]));
        assert_eq!(data["createWebhookEndpoint"]["secret"], Value::Null);
    }
    let long = format!("https://example.com/{}", "a".repeat(2_100));
    let data = app
        .admin(CREATE_ENDPOINT, json!({ "i": { "url": long } }))
        .await;
    assert_eq!(
        data["createWebhookEndpoint"]["userErrors"][0]["code"],
        "INVALID_URL"
    );
    let data = app
        .admin(
            CREATE_ENDPOINT,
            json!({ "i": { "url": "https://example.com/h", "couponId": "bm9wZTox" } }),
        )
        .await;
    assert_eq!(
        data["createWebhookEndpoint"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    assert_eq!(app.count("webhook_endpoints").await, 0, "nothing stored");

    let (id, secret) = register(
        &app,
        json!({ "url": " https://example.com/hook ", "description": "CRM" }),
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    let list = app.admin(ENDPOINTS, json!({})).await;
    let e = &list["webhookEndpoints"]["nodes"][0];
    assert_eq!(e["url"], "https://example.com/hook", "trimmed");
    assert_eq!(e["eventTypes"], json!([]), "every type");
    // The secret is never shown again.
    let r = app
        .request(
            Some(&app.admin),
            "{ webhookEndpoints { nodes { secret } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.error_code(), Some("GRAPHQL_VALIDATION_FAILED"));

    let data = app
        .admin(
            UPDATE_ENDPOINT,
            json!({ "i": { "id": "bm9wZTox", "active": false } }),
        )
        .await;
    assert_eq!(
        data["updateWebhookEndpoint"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let data = app
        .admin(
            UPDATE_ENDPOINT,
            json!({ "i": { "id": id, "url": "gopher://x", "eventTypes": ["COUPON_CREATED"] } }),
        )
        .await;
    assert_eq!(
        data["updateWebhookEndpoint"]["userErrors"][0]["code"],
        "INVALID_URL"
    );
    let data = app
        .admin(
            UPDATE_ENDPOINT,
            json!({ "i": { "id": id, "url": "https://example.org/h2", "eventTypes": ["COUPON_CREATED"] } }),
        )
        .await;
    let e = &data["updateWebhookEndpoint"]["webhookEndpoint"];
    assert_eq!(e["url"], "https://example.org/h2");
    assert_eq!(e["eventTypes"], json!(["COUPON_CREATED"]));

    // Storefront keys cannot see or manage endpoints.
    let store = app.key(Role::Storefront).await;
    let r = app.request(Some(&store), ENDPOINTS, json!({})).await;
    assert_eq!(r.error_code(), Some("FORBIDDEN"));

    // A delivery for it, then deletion takes both.
    create(
        &app,
        json!({ "name": "Del", "code": "HOOKDEL", "discount": { "percentage": "10" } }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count("webhook_deliveries").await == 0 {
        assert!(Instant::now() < deadline, "no delivery written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let del = "mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) {
        deletedId userErrors { code } } }";
    let data = app.admin(del, json!({ "i": { "id": id } })).await;
    assert_eq!(data["deleteWebhookEndpoint"]["deletedId"], json!(id));
    assert_eq!(app.count("webhook_endpoints").await, 0);
    assert_eq!(app.count("webhook_deliveries").await, 0);
    let data = app.admin(del, json!({ "i": { "id": id } })).await;
    assert_eq!(
        data["deleteWebhookEndpoint"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let data = app
        .admin(
            "mutation { redeliverWebhook(input: { deliveryId: \"bm9wZTox\" }) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["redeliverWebhook"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );

    // One audit entry per change, never with the secret.
    let audit = app
        .admin(
            "{ auditLog(first: 100, filter: { entityType: WEBHOOK_ENDPOINT }) { edges { node { action before after } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "WEBHOOK_ENDPOINT_DELETED",
            "WEBHOOK_ENDPOINT_UPDATED",
            "WEBHOOK_ENDPOINT_CREATED"
        ]
    );
    assert!(
        !audit.to_string().contains(&secret),
        "no secret in the audit log"
    );
}
both_backends!(
    endpoints_are_validated_and_managed,
    super::options(super::fast(3, 100))
);

/// Two instances on one database, each with its own worker, share the deliveries:
/// every event reaches the receiver exactly once.
async fn two_instances_deliver_each_event_once(app: TestApp) {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let (_other, _background) = app.second_instance_with_relay();
    let (_third, _background3) = app.second_instance_with_relay();
    create(
        &app,
        json!({ "name": "Many", "code": "HOOKMANY", "discount": { "percentage": "10" } }),
    )
    .await;
    let (endpoint, _) = register(
        &app,
        json!({ "url": receiver.url, "eventTypes": ["COUPON_REDEEMED"] }),
    )
    .await;
    let redemptions = 40;
    let mut tasks = tokio::task::JoinSet::new();
    let app = Arc::new(app);
    for n in 0..redemptions {
        let app = app.clone();
        tasks.spawn(async move { redeem(&app, "HOOKMANY", &format!("m-{n}")).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    wait_deliveries(
        &app,
        json!({ "endpointId": endpoint }),
        redemptions,
        "DELIVERED",
    )
    .await;
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("coupons-event-id")).collect();
    ids.sort_unstable();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), redemptions, "every event delivered");
    assert_eq!(total, redemptions, "none twice");
}
both_backends!(
    two_instances_deliver_each_event_once,
    super::options(super::fast(12, 100))
);

/// The signature example in `docs/events.md` verifies a real delivery.
async fn the_readme_example_verifies_a_delivery(app: TestApp) {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let (_, secret) = register(&app, json!({ "url": receiver.url })).await;
    create(
        &app,
        json!({ "name": "Doc", "code": "HOOKDOC", "discount": { "percentage": "10" } }),
    )
    .await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.md")).unwrap();
    let start = page
        .find("```python\n# verify-webhook")
        .expect("the example in docs/events.md");
    let code = &page[start + "```python\n".len()..];
    let code = &code[..code.find("```").unwrap()];
    let dir = tempfile_dir();
    let script = dir.join("verify.py");
    std::fs::write(&script, format!("{code}\nimport sys\nsys.exit(0 if verify(sys.argv[1].encode(), sys.argv[2], sys.argv[3], open(sys.argv[4], 'rb').read()) else 1)\n")).unwrap();
    let body = dir.join("body.json");
    std::fs::write(&body, &got[0].body).unwrap();
    let run = |secret: &str| {
        std::process::Command::new("python3")
            .arg(&script)
            .arg(secret)
            .arg(got[0].header("coupons-timestamp"))
            .arg(got[0].header("coupons-signature"))
            .arg(&body)
            .status()
            .unwrap()
            .success()
    };
    assert!(
        run(&secret),
        "the documented verify() accepts a real delivery"
    );
    assert!(!run("whsec_wrong"), "and refuses it with another secret");
    let _ = std::fs::remove_dir_all(dir);
}
both_backends!(
    the_readme_example_verifies_a_delivery,
    super::options(super::fast(3, 100))
);

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "coupons-webhook-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PROCESS_ADMIN_KEY: &str = "admin-key-for-the-webhook-process-tests-0123456789";

/// Registers an endpoint through a running binary; returns its secret.
async fn register_on(server: &Process, input: Value) -> String {
    let data = server
        .graphql(PROCESS_ADMIN_KEY, CREATE_ENDPOINT, json!({ "i": input }))
        .await;
    let payload = &data["data"]["createWebhookEndpoint"];
    assert_eq!(payload["userErrors"], json!([]), "{data:#}");
    payload["secret"].as_str().unwrap().to_owned()
}

async fn setup_coupon(server: &Process, code: &str) {
    let data = server
        .graphql(
            PROCESS_ADMIN_KEY,
            crate::coupons::CREATE,
            json!({ "input": { "name": code, "code": code, "discount": { "percentage": "10" } } }),
        )
        .await;
    assert_eq!(
        data["data"]["createCoupon"]["userErrors"],
        json!([]),
        "{data:#}"
    );
}

async fn redeem_on(server: &Process, code: &str, order: &str) {
    let data = server
        .graphql(
            PROCESS_ADMIN_KEY,
            "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } userErrors { code } } }",
            json!({ "i": { "code": code, "idempotencyKey": order,
                "order": { "id": order, "currency": "USD", "subtotal": "20" } } }),
        )
        .await;
    assert!(
        data["data"]["redeemCoupon"]["redemption"]["id"].is_string(),
        "{data:#}"
    );
}

/// The only delivery in the database, straight from storage.
async fn only_delivery(url: &str) -> coupons::storage::StoredDelivery {
    let db = crate::harness::inspect(url);
    let filter = &Default::default();
    let list = db
        .read(async move |mut c| {
            coupons::storage::webhooks::webhook_deliveries(&mut c, filter, None, 10).await
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:#?}");
    list.into_iter().next().unwrap().0
}

/// The acceptance case: the server is killed with SIGKILL after the redemption
/// committed and while its delivery is in flight; restarted, it delivers the event.
async fn a_killed_server_delivers_after_restart(backend: Backend) {
    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    // The first request is held open until the server is dead; later ones succeed.
    let receiver = Receiver::start(|n| {
        if n == 0 {
            Answer::Hold
        } else {
            Answer::Status(200)
        }
    })
    .await;
    let env = [
        ("COUPONS_ADMIN_KEY", PROCESS_ADMIN_KEY),
        ("COUPONS_WEBHOOK_TIMEOUT_MS", "2000"),
        ("COUPONS_WEBHOOK_RETRY_BASE_MS", "50"),
    ];
    let server = Process::start(&database.url, &env);
    setup_coupon(&server, "KILLED").await;
    let secret = register_on(
        &server,
        json!({ "url": receiver.url, "eventTypes": ["COUPON_REDEEMED"] }),
    )
    .await;
    redeem_on(&server, "KILLED", "order-k").await;
    let first = receiver.wait_for(1, Duration::from_secs(20)).await;
    server.kill();
    // Committed, attempted, not delivered and not even recorded as attempted.
    let stranded = only_delivery(&database.url).await;
    assert_eq!(stranded.status, "PENDING");
    assert_eq!(stranded.attempts, 0);
    assert!(stranded.leased_until.is_some());
    receiver.release();

    let restarted = Process::start(&database.url, &env);
    let got = receiver.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(
        got[1].header("coupons-event-id"),
        first[0].header("coupons-event-id"),
        "the same event"
    );
    assert!(got[1].signed_with(&secret));
    assert_eq!(got[1].json()["type"], "COUPON_REDEEMED");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = only_delivery(&database.url).await;
        if d.status == "DELIVERED" {
            assert_eq!(d.attempts, 1, "the killed attempt left no record");
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {d:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, output) = restarted.stop();
    assert!(status.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_delivers_after_restart_sqlite() {
    a_killed_server_delivers_after_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_delivers_after_restart_postgres() {
    a_killed_server_delivers_after_restart(Backend::Postgres).await;
}

/// SIGTERM: subscription sockets get a close frame (1001, going away), the delivery in
/// flight is answered and recorded, and the process exits cleanly.
async fn shutdown_closes_sockets_and_finishes_deliveries(backend: Backend) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    let receiver = Receiver::start(|_| Answer::Slow(Duration::from_millis(1_500))).await;
    let env = [("COUPONS_ADMIN_KEY", PROCESS_ADMIN_KEY)];
    let server = Process::start(&database.url, &env);
    setup_coupon(&server, "GRACE").await;
    register_on(&server, json!({ "url": receiver.url })).await;
    let mut socket =
        crate::subscriptions::connect(&server.base, "graphql-transport-ws", PROCESS_ADMIN_KEY)
            .await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription { couponEvents { id type } }" } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    redeem_on(&server, "GRACE", "order-g").await;
    receiver.wait_for(1, Duration::from_secs(20)).await;
    // The delivery is in flight (the receiver answers after 1.5 s): stop now.
    server.terminate();
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = socket.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame;
            }
        }
        None
    })
    .await
    .expect("a close frame within 10 s")
    .expect("a close frame, not a dropped connection");
    assert_eq!(close.code, CloseCode::Away);
    let (status, output) = server.wait(Duration::from_secs(30));
    assert!(status.success(), "{output}");
    let d = only_delivery(&database.url).await;
    assert_eq!(
        d.status, "DELIVERED",
        "the delivery in flight was finished: {d:#?}"
    );
    assert_eq!(d.attempts, 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_and_finishes_deliveries_sqlite() {
    shutdown_closes_sockets_and_finishes_deliveries(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_and_finishes_deliveries_postgres() {
    shutdown_closes_sockets_and_finishes_deliveries(Backend::Postgres).await;
}
