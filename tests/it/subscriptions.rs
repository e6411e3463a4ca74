//! Subscriptions over a real WebSocket, speaking `graphql-transport-ws` and the legacy
//! `graphql-ws` protocol, against the real server on a TCP port.

use std::time::Duration;

use coupons::auth::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{Backend, TestApp, TestDatabase};
use crate::process::Process;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const EVENTS: &str = "subscription($f: CouponEventFilter) { couponEvents(filter: $f) { id type couponId entityId payload } }";

/// Opens a socket to `base` with `protocol` and sends `connection_init` with `key`.
pub async fn connect(base: &str, protocol: &str, key: &str) -> Socket {
    let url = format!("{}/graphql", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        protocol,
        "negotiated subprotocol"
    );
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    socket
}

/// The next JSON message, skipping keep-alives; `None` when the socket closes.
pub async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no message within 10 s")?;
        match message.ok()? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ka" || v["type"] == "ping" || v["type"] == "pong" {
                    continue;
                }
                return Some(v);
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// The code the server closes `socket` with, skipping other messages.
async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no close within 10 s")?;
        if let Message::Close(frame) = message.ok()? {
            return frame.map(|f| u16::from(f.code));
        }
    }
}

async fn redeem(app: &TestApp, key: &str, code: &str, n: &str) -> String {
    let input = json!({ "i": { "code": code, "idempotencyKey": n, "order": { "id": n, "currency": "USD", "subtotal": "20" } } });
    let r = app
        .request(
            Some(key),
            "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } } }",
            input,
        )
        .await;
    let id = r.data()["redeemCoupon"]["redemption"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = coupons::ids::decode_any(&id).unwrap().1;
    n.to_string()
}

/// A subscriber to one coupon sees exactly its redemptions, in order, and nothing of
/// other coupons; over `graphql-transport-ws`.
async fn a_subscriber_sees_exactly_its_coupons_redemptions(app: TestApp) {
    let a = create(
        &app,
        json!({ "name": "A", "code": "SUBA", "discount": { "percentage": "10" } }),
    )
    .await;
    create(
        &app,
        json!({ "name": "B", "code": "SUBB", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    let base = app.base_url().await.to_owned();
    let mut socket = connect(&base, "graphql-transport-ws", &store).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS,
        "variables": { "f": { "couponId": a["id"], "types": ["COUPON_REDEEMED"] } } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    // The subscription is registered when the server has read the message; a
    // redemption made before that would not be seen, so wait for one that is.
    let mut made = Vec::new();
    let mut first = None;
    for n in 0..50 {
        made.push(redeem(&app, &store, "SUBA", &format!("warm-{n}")).await);
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            first = Some(serde_json::from_str::<Value>(&t).unwrap());
            break;
        }
    }
    let first = first.expect("no event after 50 redemptions");
    let start = made
        .iter()
        .position(|id| first["payload"]["data"]["couponEvents"]["entityId"] == json!(id))
        .expect("the first event is one of ours");
    let mut expected: Vec<String> = made[start + 1..].to_vec();
    for n in 0..3 {
        expected.push(redeem(&app, &store, "SUBA", &format!("a-{n}")).await);
        redeem(&app, &store, "SUBB", &format!("b-{n}")).await;
    }
    let sentinel = redeem(&app, &store, "SUBA", "sentinel").await;
    expected.push(sentinel);
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let m = next(&mut socket).await.expect("socket closed");
        assert_eq!(m["type"], "next", "{m:#}");
        assert_eq!(m["id"], "1");
        let e = &m["payload"]["data"]["couponEvents"];
        assert_eq!(e["type"], "COUPON_REDEEMED", "{e:#}");
        assert_eq!(e["couponId"], a["id"], "{e:#}");
        seen.push(e["entityId"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        seen, expected,
        "exactly the redemptions of coupon A, in order"
    );
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "complete" }).to_string(),
        ))
        .await
        .unwrap();
}
both_backends!(a_subscriber_sees_exactly_its_coupons_redemptions);

/// The legacy `graphql-ws` protocol works too; a bad key or a public key is refused.
async fn legacy_protocol_and_authentication(app: TestApp) {
    create(
        &app,
        json!({ "name": "L", "code": "LEGACY", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    let base = app.base_url().await.to_owned();
    let mut socket = connect(&base, "graphql-ws", &store).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let start = json!({ "id": "7", "type": "start", "payload": { "query": EVENTS, "variables": { "f": { "types": ["COUPON_REDEEMED"] } } } });
    socket.send(Message::text(start.to_string())).await.unwrap();
    let mut got = None;
    for n in 0..50 {
        let id = redeem(&app, &store, "LEGACY", &format!("l-{n}")).await;
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            got = Some((id, serde_json::from_str::<Value>(&t).unwrap()));
            break;
        }
    }
    let (_, m) = got.expect("no event");
    assert_eq!(m["type"], "data", "{m:#}");
    assert_eq!(m["id"], "7");
    assert_eq!(
        m["payload"]["data"]["couponEvents"]["type"],
        "COUPON_REDEEMED"
    );

    // A wrong key: the server closes the connection with 4403 instead of acknowledging
    // it; a subscription sent before the acknowledgement is closed with 4401.
    let mut bad = connect(&base, "graphql-transport-ws", "cpn_not_a_key").await;
    assert_eq!(close_code(&mut bad).await, Some(4403));
    let url = format!("{}/graphql", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut early, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } });
    early
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut early).await, Some(4401));
    // A public key is acknowledged but may not subscribe to coupon events.
    let public = app.key(Role::Public).await;
    let mut socket = connect(&base, "graphql-transport-ws", &public).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "2", "type": "subscribe", "payload": { "query": EVENTS } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let m = next(&mut socket).await.unwrap();
    assert_eq!(m["type"], "next", "{m:#}");
    assert!(m["payload"]["data"].is_null(), "{m:#}");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{m:#}"
    );
    assert_eq!(next(&mut socket).await.unwrap()["type"], "complete");
}
both_backends!(legacy_protocol_and_authentication);

/// Two instances on one PostgreSQL database: a redemption through one reaches a
/// subscriber on the other (NOTIFY after commit, then the outbox by id).
async fn events_cross_instances(app: TestApp) {
    if !app.database_url().starts_with("postgres") {
        return;
    }
    create(
        &app,
        json!({ "name": "X", "code": "CROSS", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    let (other, _relay) = app.second_instance_with_relay();
    let other_base = crate::harness::serve(other).await;
    let mut socket = connect(&other_base, "graphql-transport-ws", &store).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS, "variables": { "f": { "types": ["COUPON_REDEEMED"] } } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let mut delivered = None;
    for n in 0..50 {
        // Redeemed through the first instance (its router), seen on the second.
        let id = redeem(&app, &store, "CROSS", &format!("x-{n}")).await;
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(300), socket.next()).await
        {
            delivered = Some((id, serde_json::from_str::<Value>(&t).unwrap()));
            break;
        }
    }
    let (_, m) = delivered.expect("the other instance never delivered the event");
    assert_eq!(
        m["payload"]["data"]["couponEvents"]["type"],
        "COUPON_REDEEMED"
    );
}
both_backends!(events_cross_instances);

fn tiny_buffer() -> crate::harness::Options {
    crate::harness::Options {
        event_capacity: Some(4),
        ..Default::default()
    }
}

/// A subscriber that falls behind is told so, and its subscription ends: here one
/// transaction expires 20 reservations, and the relay publishes their 20 events at once
/// into a buffer of 4.
async fn a_lagging_subscriber_is_told(app: TestApp) {
    create(
        &app,
        json!({ "name": "Lag", "code": "LAG1", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    for n in 0..20 {
        let input = json!({ "i": { "code": "LAG1", "idempotencyKey": format!("lag-{n}"), "order": { "id": format!("lag-{n}"), "currency": "USD", "subtotal": "20" } } });
        app.request(
            Some(&store),
            "mutation($i: ReserveCouponInput!) { reserveCoupon(input: $i) { reservation { id } } }",
            input,
        )
        .await;
    }
    // Let the relay publish those 20 reservations before subscribing: a burst of them
    // reaching the new subscriber would make it lag already.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let base = app.base_url().await.to_owned();
    let mut socket = connect(&base, "graphql-transport-ws", &store).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS,
        "variables": { "f": { "types": ["RESERVATION_EXPIRED", "COUPON_REDEEMED"] } } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    // Wait until the subscription is live (a redemption is seen), then expire all 20
    // reservations in one transaction.
    let mut live = false;
    for n in 0..50 {
        redeem(&app, &store, "LAG1", &format!("probe-{n}")).await;
        if let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            live = true;
            break;
        }
    }
    assert!(live);
    // Drain any probe events still on their way (events, not errors).
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(300), socket.next()).await
    {
        let m: Value = serde_json::from_str(&t).unwrap();
        assert!(m["payload"]["errors"].is_null(), "{m:#}");
    }
    app.sql(
        "UPDATE redemptions SET reserved_until = '2001-01-01T00:00:00Z' WHERE status = 'RESERVED'",
    )
    .await;
    let expired = coupons::service::maintenance::sweep(&app.db)
        .await
        .unwrap()
        .0;
    assert_eq!(expired, 20);
    let mut nexts = 0;
    loop {
        let m = next(&mut socket).await.expect("socket closed");
        match m["type"].as_str() {
            Some("next") if m["payload"]["errors"].is_array() => {
                assert_eq!(
                    m["payload"]["errors"][0]["extensions"]["code"], "SUBSCRIBER_LAGGED",
                    "{m:#}"
                );
                break;
            }
            Some("next") => nexts += 1,
            other => panic!("unexpected {other:?}: {m:#}"),
        }
    }
    assert!(
        nexts < 20,
        "{nexts} events arrived before the lag was reported"
    );
    assert_eq!(next(&mut socket).await.unwrap()["type"], "complete");
}
both_backends!(a_lagging_subscriber_is_told, super::tiny_buffer());

/// A subscriber that reconnects with `after` gets what it missed from the outbox, then
/// the live events, none twice; an `after` beyond the newest event is refused.
async fn a_subscriber_resumes_after_an_event_id(app: TestApp) {
    let coupon = create(
        &app,
        json!({ "name": "R", "code": "RESUME", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(redeem(&app, &store, "RESUME", &format!("r-{n}")).await);
    }
    // The event ids of those redemptions, from the outbox.
    let events: Vec<(i64, String)> = app
        .events_after(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "COUPON_REDEEMED")
        .map(|e| (e.id, e.entity_id))
        .collect();
    assert_eq!(events.len(), 5);
    let base = app.base_url().await.to_owned();
    let mut socket = connect(&base, "graphql-transport-ws", &store).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let query = "subscription($f: CouponEventFilter, $after: ID) { couponEvents(filter: $f, after: $after) { id entityId } }";
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query,
        "variables": { "f": { "couponId": coupon["id"], "types": ["COUPON_REDEEMED"] },
                       "after": events[1].0.to_string() } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = next(&mut socket).await.unwrap();
        got.push(m["payload"]["data"]["couponEvents"]["entityId"].clone());
    }
    assert_eq!(got, made[2..].iter().map(|m| json!(m)).collect::<Vec<_>>());
    // Then live, in order, nothing repeated.
    for n in 5..8 {
        let id = redeem(&app, &store, "RESUME", &format!("r-{n}")).await;
        let m = next(&mut socket).await.unwrap();
        assert_eq!(
            m["payload"]["data"]["couponEvents"]["entityId"],
            json!(id),
            "{m:#}"
        );
    }

    let newest = app.last_event_id().await.unwrap();
    let ahead = json!({ "id": "2", "type": "subscribe", "payload": { "query": query,
        "variables": { "after": (newest + 100).to_string() } } });
    socket.send(Message::text(ahead.to_string())).await.unwrap();
    let m = next(&mut socket).await.unwrap();
    assert_eq!(m["id"], "2");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{m:#}"
    );
}
both_backends!(a_subscriber_resumes_after_an_event_id);

/// `campaignId` narrows events to the coupons of one campaign, as each coupon's
/// membership stood when its event was written.
async fn a_campaign_subscriber_sees_its_campaigns_events(app: TestApp) {
    let campaign = app
        .admin(
            "mutation { createCampaign(input: { name: \"Spring\" }) { campaign { id } userErrors { code } } }",
            json!({}),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let inside = create(
        &app,
        json!({ "name": "In", "code": "CAMPIN", "discount": { "percentage": "10" } }),
    )
    .await;
    let outside = create(
        &app,
        json!({ "name": "Out", "code": "CAMPOUT", "discount": { "percentage": "10" } }),
    )
    .await;
    let set = "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { coupon { campaign { id } } userErrors { code } } }";
    let moved = app
        .admin(set, json!({ "c": inside["id"], "k": campaign }))
        .await;
    assert_eq!(
        moved["setCouponCampaign"]["coupon"]["campaign"]["id"],
        campaign
    );
    let store = app.key(Role::Storefront).await;
    let start = app.last_event_id().await.unwrap();
    let mut expected = Vec::new();
    redeem(&app, &store, "CAMPOUT", "c-1").await;
    expected.push(redeem(&app, &store, "CAMPIN", "c-2").await);
    redeem(&app, &store, "CAMPOUT", "c-3").await;
    // The outside coupon joins; the inside one leaves.
    app.admin(set, json!({ "c": outside["id"], "k": campaign }))
        .await;
    app.admin(set, json!({ "c": inside["id"], "k": null }))
        .await;
    redeem(&app, &store, "CAMPIN", "c-4").await;
    expected.push(redeem(&app, &store, "CAMPOUT", "c-5").await);

    let base = app.base_url().await.to_owned();
    let mut socket = connect(&base, "graphql-transport-ws", &store).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let query = "subscription($f: CouponEventFilter, $after: ID) { couponEvents(filter: $f, after: $after) { entityId couponId } }";
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query,
        "variables": { "f": { "campaignId": campaign, "types": ["COUPON_REDEEMED"] },
                       "after": start.to_string() } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    for want in &expected {
        let m = next(&mut socket).await.unwrap();
        assert_eq!(
            m["payload"]["data"]["couponEvents"]["entityId"],
            json!(want),
            "{m:#}"
        );
    }
    // Live: the inside coupon (now outside) is not seen, the joined one is.
    redeem(&app, &store, "CAMPIN", "c-6").await;
    let last = redeem(&app, &store, "CAMPOUT", "c-7").await;
    let m = next(&mut socket).await.unwrap();
    assert_eq!(
        m["payload"]["data"]["couponEvents"]["entityId"],
        json!(last)
    );
    assert_eq!(
        m["payload"]["data"]["couponEvents"]["couponId"],
        outside["id"]
    );
}
both_backends!(a_campaign_subscriber_sees_its_campaigns_events);

/// Two server processes on one database: redemptions through one reach, in order, a
/// subscriber on the other (PostgreSQL: NOTIFY after commit, then the outbox by id;
/// SQLite: the other process polls the outbox).
async fn two_processes_share_events(backend: Backend) {
    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    const KEY: &str = "admin-key-for-the-two-process-event-test-0123456789";
    let env = [("COUPONS_ADMIN_KEY", KEY)];
    let writer = Process::start(&database.url, &env);
    let reader = Process::start(&database.url, &env);
    let made = writer
        .graphql(
            KEY,
            "mutation { createCoupon(input: { name: \"P\", code: \"TWOPROC\", discount: { percentage: \"10\" } }) { coupon { id } } }",
            json!({}),
        )
        .await;
    let coupon = made["data"]["createCoupon"]["coupon"]["id"].clone();
    let start = writer
        .graphql(KEY, "{ coupon(code: \"TWOPROC\") { id } }", json!({}))
        .await;
    assert_eq!(start["data"]["coupon"]["id"], coupon);
    let mut socket = connect(&reader.base, "graphql-transport-ws", KEY).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS,
        "variables": { "f": { "couponId": coupon, "types": ["COUPON_REDEEMED"] } } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    // The subscription is live once the reader has read it; from the first event
    // seen on, every redemption must arrive, in order.
    let redeem = async |n: usize| -> String {
        let r = writer
            .graphql(
                KEY,
                "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } } }",
                json!({ "i": { "code": "TWOPROC", "idempotencyKey": format!("p-{n}"),
                    "order": { "id": format!("p-{n}"), "currency": "USD", "subtotal": "20" } } }),
            )
            .await;
        let id = r["data"]["redeemCoupon"]["redemption"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        coupons::ids::decode_any(&id).unwrap().1.to_string()
    };
    let mut made = Vec::new();
    let mut first = None;
    for n in 0..50 {
        made.push(redeem(n).await);
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(300), socket.next()).await
        {
            first = Some(serde_json::from_str::<Value>(&t).unwrap());
            break;
        }
    }
    let first = first.expect("the reader process never delivered an event");
    let at = made
        .iter()
        .position(|id| first["payload"]["data"]["couponEvents"]["entityId"] == json!(id))
        .expect("one of ours");
    let mut expected: Vec<String> = made[at + 1..].to_vec();
    for n in 100..110 {
        expected.push(redeem(n).await);
    }
    for want in expected {
        let m = next(&mut socket).await.unwrap();
        assert_eq!(
            m["payload"]["data"]["couponEvents"]["entityId"],
            json!(want),
            "{m:#}"
        );
    }
    let (status, output) = writer.stop();
    assert!(status.success(), "{output}");
    let (status, output) = reader.stop();
    assert!(status.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_events_sqlite() {
    two_processes_share_events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_events_postgres() {
    two_processes_share_events(Backend::Postgres).await;
}

/// A storefront subscriber replaying from the start sees only events of coupons it could
/// look up by code (active and started), as ids, types and counts: nothing of a draft,
/// paused or not-started coupon, no rule events, no codes, names or stored rows. An
/// admin replaying the same outbox sees every event whole. After the live sentinel both
/// have caught up.
async fn a_storefront_subscriber_sees_only_what_it_could_validate(app: TestApp) {
    let live = create(
        &app,
        json!({ "name": "Live secret name", "code": "LIVE1", "discount": { "percentage": "10" } }),
    )
    .await;
    let draft = create(&app, json!({ "name": "Draft secret", "code": "HIDDEN-DRAFT", "status": "DRAFT", "discount": { "percentage": "10" } })).await;
    let later = create(&app, json!({ "name": "Later secret", "code": "HIDDEN-LATER", "discount": { "percentage": "10" }, "startsAt": "2099-01-01T00:00:00Z" })).await;
    let paused = create(&app, json!({ "name": "Paused secret", "code": "HIDDEN-PAUSED", "discount": { "percentage": "10" } })).await;
    app.admin("mutation($id: ID!) { setCouponStatus(input: { id: $id, status: PAUSED }) { userErrors { code } } }", json!({ "id": paused["id"] })).await;
    app.admin("mutation($id: ID!) { addCodes(input: { couponId: $id, codes: [\"HIDDEN-EXTRA\"] }) { userErrors { code } } }", json!({ "id": draft["id"] })).await;
    let store = app.key(Role::Storefront).await;
    redeem(&app, &store, "LIVE1", "live-1").await;
    let hidden: Vec<&Value> = vec![&draft["id"], &later["id"], &paused["id"]];

    let replay = async |key: &str, sentinel: &str| -> Vec<Value> {
        let base = app.base_url().await.to_owned();
        let mut socket = connect(&base, "graphql-transport-ws", key).await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
        let query =
            "subscription { couponEvents(after: \"0\") { id type couponId entityId payload } }";
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
        let sentinel_id = redeem(&app, &store, "LIVE1", sentinel).await;
        let mut got = Vec::new();
        loop {
            let m = next(&mut socket).await.expect("socket closed");
            assert_eq!(m["type"], "next", "{m:#}");
            let e = m["payload"]["data"]["couponEvents"].clone();
            let done = e["type"] == "COUPON_REDEEMED" && e["entityId"] == json!(sentinel_id);
            got.push(e);
            if done {
                return got;
            }
        }
    };
    let seen = replay(&store, "sentinel-store").await;
    assert!(!seen.is_empty());
    for e in &seen {
        assert_eq!(
            e["couponId"], live["id"],
            "only the live coupon's events: {e:#}"
        );
        let text = e["payload"].to_string();
        for secret in [
            "secret", "LIVE1", "HIDDEN", "name", "code", "customer", "order",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} in a storefront payload: {e:#}"
            );
        }
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        types.contains(&"COUPON_CREATED") && types.contains(&"COUPON_REDEEMED"),
        "{types:?}"
    );
    let counts = [
        "redemption_count",
        "reserved_count",
        "redeemed",
        "cap",
        "percent",
    ];
    for e in &seen {
        let payload = e["payload"].as_object().unwrap();
        assert!(
            payload
                .iter()
                .all(|(k, v)| counts.contains(&k.as_str()) && v.is_number()),
            "only counts reach a storefront: {e:#}"
        );
    }

    let admin_key = app.admin.clone();
    let everything = replay(&admin_key, "sentinel-admin").await;
    for id in hidden {
        assert!(
            everything.iter().any(|e| &e["couponId"] == id),
            "the admin sees {id}"
        );
    }
    assert!(
        everything
            .iter()
            .any(|e| e["payload"].to_string().contains("Live secret name"))
    );
}
both_backends!(a_storefront_subscriber_sees_only_what_it_could_validate);
