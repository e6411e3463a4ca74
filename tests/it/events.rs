//! The outbox: every change writes its event in its own transaction; nothing is written
//! for changes that roll back or do nothing; ids follow commit order, so a reader that
//! polls "after the last id I saw" never skips one, even under concurrent writers.

use std::sync::Arc;

use coupons::auth::Role;
use coupons::storage::Actor;
use coupons_domain::{CouponCode, CouponId, Limit};
use serde_json::{Value, json};

use crate::both_backends;
use crate::coupons::create;
use crate::harness::TestApp;

async fn types_after(app: &TestApp, after: i64) -> Vec<String> {
    app.events_after(after, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

fn id_of(global: &Value) -> i64 {
    coupons::ids::decode_any(global.as_str().unwrap())
        .unwrap()
        .1
}

/// Each kind of change writes exactly its event, in order, with its coupon.
async fn every_change_writes_its_event(app: TestApp) {
    let coupon = create(
        &app,
        json!({ "name": "Ev", "code": "EV1", "discount": { "percentage": "10" } }),
    )
    .await;
    let spare = create(
        &app,
        json!({ "name": "Spare", "discount": { "percentage": "5" } }),
    )
    .await;
    let start = app.last_event_id().await.unwrap();
    let store = app.key(Role::Storefront).await;
    let admin = |q: &'static str, v: Value| {
        let app = &app;
        async move {
            let d = app.admin(q, v).await;
            let payload = d.as_object().unwrap().values().next().unwrap().clone();
            assert_eq!(
                payload.get("userErrors").cloned().unwrap_or(json!([])),
                json!([]),
                "{payload:#}"
            );
            payload
        }
    };
    let shop = |q: &'static str, v: Value| {
        let (app, store) = (&app, store.clone());
        async move {
            let r = app.request(Some(&store), q, v).await;
            let payload = r
                .data()
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .clone();
            assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
            payload
        }
    };
    let order = |id: &str| json!({ "id": id, "currency": "USD", "subtotal": "20" });
    admin("mutation($id: ID!) { updateCoupon(input: { id: $id, name: \"Ev2\" }) { userErrors { code } } }", json!({ "id": coupon["id"] })).await;
    admin("mutation($id: ID!) { setCouponStatus(input: { id: $id, status: PAUSED }) { userErrors { code } } }", json!({ "id": coupon["id"] })).await;
    admin("mutation($id: ID!) { setCouponStatus(input: { id: $id, status: ACTIVE }) { userErrors { code } } }", json!({ "id": coupon["id"] })).await;
    admin("mutation($id: ID!) { addCodes(input: { couponId: $id, codes: [\"EV2\", \"EV3\"] }) { userErrors { code } } }", json!({ "id": coupon["id"] })).await;
    let reserve = "mutation($i: ReserveCouponInput!) { reserveCoupon(input: $i) { reservation { id } userErrors { code } } }";
    let redeem = "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } userErrors { code } } }";
    let r1 = shop(
        reserve,
        json!({ "i": { "code": "EV1", "order": order("o1"), "idempotencyKey": "k1" } }),
    )
    .await;
    shop(
        redeem,
        json!({ "i": { "reservationId": r1["reservation"]["id"], "idempotencyKey": "k2" } }),
    )
    .await;
    let r2 = shop(
        redeem,
        json!({ "i": { "code": "EV2", "order": order("o2"), "idempotencyKey": "k3" } }),
    )
    .await;
    let r3 = shop(
        reserve,
        json!({ "i": { "code": "EV3", "order": order("o3"), "idempotencyKey": "k4" } }),
    )
    .await;
    shop("mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { reservation { id } userErrors { code } } }", json!({ "id": r3["reservation"]["id"] })).await;
    shop("mutation($id: ID!) { reverseRedemption(input: { redemptionId: $id, idempotencyKey: \"k5\" }) { redemption { id } userErrors { code } } }", json!({ "id": r2["redemption"]["id"] })).await;
    let r4 = shop(
        reserve,
        json!({ "i": { "code": "EV3", "order": order("o4"), "idempotencyKey": "k6" } }),
    )
    .await;
    app.sql(&format!(
        "UPDATE redemptions SET reserved_until = '2001-01-01T00:00:00Z' WHERE id = {}",
        id_of(&r4["reservation"]["id"])
    ))
    .await;
    coupons::service::maintenance::sweep(&app.db).await.unwrap();
    admin(
        "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { userErrors { code } } }",
        json!({ "id": spare["id"] }),
    )
    .await;
    admin("mutation { publishRule(input: { name: \"ev_rule\", source: \"fn check(ctx, params) { pass() }\" }) { userErrors { code } } }", json!({})).await;
    admin("mutation { rollbackRule(input: { name: \"ev_rule\", version: 1 }) { userErrors { code } } }", json!({})).await;

    let events = app.events_after(start, 1_000).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "COUPON_UPDATED",
            "COUPON_STATUS_CHANGED",
            "COUPON_STATUS_CHANGED",
            "CODES_ADDED",
            "COUPON_RESERVED",
            "COUPON_REDEEMED",
            "COUPON_REDEEMED",
            "COUPON_RESERVED",
            "RESERVATION_RELEASED",
            "REDEMPTION_REVERSED",
            "COUPON_RESERVED",
            "RESERVATION_EXPIRED",
            "COUPON_DELETED",
            "RULE_PUBLISHED",
            "RULE_PUBLISHED",
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let coupon_id = id_of(&coupon["id"]);
    for e in &events[..12] {
        assert_eq!(e.coupon_id, Some(coupon_id), "{e:?}");
    }
    assert_eq!(events[12].coupon_id, Some(id_of(&spare["id"])));
    assert_eq!(events[13].coupon_id, None);
    assert_eq!(events[13].entity_id, "ev_rule");
    assert_eq!(events[5].payload["status"], json!("REDEEMED"));
    assert_eq!(events[11].payload["status"], json!("EXPIRED"));
    // What each event says, as subscribers and webhook receivers get it.
    let said: Vec<Value> = events
        .iter()
        .map(|e| json!({ "type": e.event_type, "payload": e.payload }))
        .collect();
    insta::assert_json_snapshot!(
        "every_change_event",
        crate::snapshot::redacted(&json!(said))
    );
    // Creating a coupon is an event too.
    let before = app.last_event_id().await.unwrap();
    create(
        &app,
        json!({ "name": "Ev3", "code": "EV4", "discount": { "percentage": "10" } }),
    )
    .await;
    assert_eq!(types_after(&app, before).await, ["COUPON_CREATED"]);
}
both_backends!(every_change_writes_its_event);

/// Refusals, replays, no-ops and rolled-back transactions write no event.
async fn nothing_is_emitted_without_a_committed_change(app: TestApp) {
    let coupon = create(&app, json!({ "name": "Quiet", "code": "QUIET1", "discount": { "percentage": "10" }, "maxRedemptions": 1 })).await;
    let store = app.key(Role::Storefront).await;
    let redeem = "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } userErrors { code } } }";
    let order = json!({ "id": "q1", "currency": "USD", "subtotal": "20" });
    let first = app
        .request(
            Some(&store),
            redeem,
            json!({ "i": { "code": "QUIET1", "order": order, "idempotencyKey": "q" } }),
        )
        .await;
    let redemption = first.data()["redeemCoupon"]["redemption"]["id"].clone();
    let start = app.last_event_id().await.unwrap();
    // A replay, a refusal (cap reached), an unknown code, a second reversal of nothing.
    app.request(
        Some(&store),
        redeem,
        json!({ "i": { "code": "QUIET1", "order": order, "idempotencyKey": "q" } }),
    )
    .await;
    let refused = app.request(Some(&store), redeem, json!({ "i": { "code": "QUIET1", "order": { "id": "q2", "currency": "USD", "subtotal": "20" }, "idempotencyKey": "q2" } })).await;
    assert_eq!(
        refused.data()["redeemCoupon"]["userErrors"][0]["code"],
        json!("USAGE_LIMIT_REACHED")
    );
    app.request(
        Some(&store),
        redeem,
        json!({ "i": { "code": "NOPE1", "order": order, "idempotencyKey": "q3" } }),
    )
    .await;
    app.admin("mutation($id: ID!) { setCouponStatus(input: { id: $id, status: DRAFT }) { userErrors { code } } }", json!({ "id": coupon["id"] })).await;
    let release = "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { userErrors { code } } }";
    app.request(Some(&store), release, json!({ "id": redemption }))
        .await;
    // A transaction that fails after writing: the database finds the taken code.
    let codes = [
        CouponCode::parse("FRESH9").unwrap(),
        CouponCode::parse("QUIET1").unwrap(),
    ];
    let id = CouponId(id_of(&coupon["id"]));
    let (actor, now, codes) = (&Actor::system("test"), chrono::Utc::now(), &codes);
    let failed = app
        .db
        .write(async move |mut c| {
            coupons::storage::coupons::add_codes(&mut c, id, codes, Limit::NONE, actor, now).await
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(types_after(&app, start).await, Vec::<String>::new());
}
both_backends!(nothing_is_emitted_without_a_committed_change);

/// Under concurrent writers, a reader that keeps asking for "events after the last id
/// I saw" ends up with every event: ids are handed out in commit order.
async fn a_polling_reader_never_skips_an_event(app: TestApp) {
    for i in 0..4 {
        create(&app, json!({ "name": format!("P{i}"), "code": format!("POLL{i}"), "discount": { "percentage": "10" } })).await;
    }
    let app = Arc::new(app);
    let start = app.last_event_id().await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = start;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                for e in app.events_after(last, 1_000).await.unwrap() {
                    last = e.id;
                    seen.push(e.id);
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let store = app.key(Role::Storefront).await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (app, store) = (app.clone(), store.clone());
            tokio::spawn(async move {
                for n in 0..15 {
                    let input = json!({ "i": { "code": format!("POLL{}", (w + n) % 4), "idempotencyKey": format!("{w}-{n}"),
                        "order": { "id": format!("{w}-{n}"), "currency": "USD", "subtotal": "20" } } });
                    let r = app
                        .request(Some(&store), "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } } }", input)
                        .await;
                    assert!(r.data()["redeemCoupon"]["redemption"]["id"].is_string());
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let all: Vec<i64> = app
        .events_after(start, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 120);
    assert_eq!(
        seen, all,
        "the reader skipped events that committed after a later id"
    );
}
both_backends!(a_polling_reader_never_skips_an_event);

/// A capped coupon announces 50% and 90% of its cap and the cap itself, once each, by
/// direct redemption or by redeeming a reservation.
async fn usage_thresholds_are_announced_once(app: TestApp) {
    let coupon = create(&app, json!({ "name": "Cap", "code": "CAP10", "discount": { "percentage": "10" }, "maxRedemptions": 10 })).await;
    let store = app.key(Role::Storefront).await;
    let start = app.last_event_id().await.unwrap();
    let order = |n: usize| json!({ "id": format!("c{n}"), "currency": "USD", "subtotal": "20" });
    for n in 0..10 {
        if n == 4 {
            // The fifth use goes through a reservation.
            let r = app
                .request(Some(&store), "mutation($i: ReserveCouponInput!) { reserveCoupon(input: $i) { reservation { id } } }", json!({ "i": { "code": "CAP10", "order": order(n), "idempotencyKey": format!("r{n}") } }))
                .await;
            let id = r.data()["reserveCoupon"]["reservation"]["id"].clone();
            app.request(Some(&store), "mutation($id: ID!) { redeemCoupon(input: { reservationId: $id, idempotencyKey: \"p\" }) { redemption { id } } }", json!({ "id": id }))
                .await;
            continue;
        }
        app.request(Some(&store), "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id } } }", json!({ "i": { "code": "CAP10", "order": order(n), "idempotencyKey": format!("k{n}") } }))
            .await;
    }
    let events = app.events_after(start, 1_000).await.unwrap();
    let usage: Vec<(String, Value)> = events
        .iter()
        .filter(|e| e.event_type != "COUPON_REDEEMED" && e.event_type != "COUPON_RESERVED")
        .map(|e| (e.event_type.clone(), e.payload.clone()))
        .collect();
    assert_eq!(
        usage,
        [
            (
                "USAGE_THRESHOLD_REACHED".to_owned(),
                json!({ "percent": 50, "redeemed": 5, "cap": 10 })
            ),
            (
                "USAGE_THRESHOLD_REACHED".to_owned(),
                json!({ "percent": 90, "redeemed": 9, "cap": 10 })
            ),
            (
                "COUPON_EXHAUSTED".to_owned(),
                json!({ "redeemed": 10, "cap": 10 })
            ),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.coupon_id == Some(id_of(&coupon["id"])))
    );
    // The fifth use's threshold event follows its redemption.
    let fifth = events
        .iter()
        .position(|e| e.event_type == "USAGE_THRESHOLD_REACHED")
        .unwrap();
    assert_eq!(events[fifth - 1].event_type, "COUPON_REDEEMED");
}
both_backends!(usage_thresholds_are_announced_once);
