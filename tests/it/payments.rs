//! Payment hand-off: Stripe and Braintree events, signed by the providers' own libraries
//! (`tests/payments/sign.js` drives `stripe` and `braintree` from npm), drive
//! reservations. Signatures are checked before anything is written; every event applies
//! once, in any order; the books balance; a server killed mid-event applies the
//! provider's retry once.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coupons::ids::{self, Kind};
use coupons::payments::{BraintreeKeys, PaymentReceivers, StripeSecrets};
use coupons::storage::{Db, PoolOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::both_backends;
use crate::checkout::{RESERVE, assert_reconciled, order};
use crate::coupons::create;
use crate::harness::{Options, TestApp, TestDatabase, hold_write_lock, scalar_on};
use crate::process::{BIN, Process};

const STRIPE_OLD: &str = "whsec_old_secret_for_tests";
const STRIPE_NEW: &str = "whsec_new_secret_for_tests";
const BT_KEYS: [(&str, &str); 2] = [("pk_first", "sk_first"), ("pk_second", "sk_second")];

fn receivers() -> PaymentReceivers {
    PaymentReceivers {
        stripe: StripeSecrets::new(
            &[STRIPE_OLD.to_owned(), STRIPE_NEW.to_owned()],
            Duration::from_secs(300),
        ),
        braintree: BraintreeKeys::parse(BT_KEYS.map(|(p, s)| format!("{p}:{s}")).as_ref()).unwrap(),
    }
}

pub fn options() -> Options {
    Options {
        http: Some(coupons::router::HttpSettings {
            payments: receivers(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The providers' libraries, in a node process of their own.
struct Signer {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Signer {
    /// Starts `sign.js`, installing its packages from npm the first time. Without node
    /// and npm the test is skipped with a notice, except under `CI=true`.
    async fn start() -> Option<Self> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/payments");
        if let Err(why) = install(&dir) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true needs the payment providers' libraries: {why}"
            );
            eprintln!("NOTICE: skipping a payment test: {why}");
            return None;
        }
        let mut child = Command::new("node")
            .arg(dir.join("sign.js"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Some(Self {
            _child: child,
            stdin,
            lines,
        })
    }

    async fn call(&mut self, request: Value) -> Value {
        self.stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
        let line = self.lines.next_line().await.unwrap().unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert!(answer.get("error").is_none(), "{answer:#}");
        answer
    }

    /// `Stripe-Signature` for `payload` (`stripe.webhooks.generateTestHeaderString`).
    async fn stripe(&mut self, payload: &str, secret: &str, timestamp: i64) -> String {
        let answer = self
            .call(json!({ "op": "stripe", "payload": payload, "secret": secret, "timestamp": timestamp }))
            .await;
        answer["header"].as_str().unwrap().to_owned()
    }

    /// A sample notification (`webhookTesting.sampleNotification`).
    async fn braintree_sample(&mut self, kind: &str, id: &str, key: (&str, &str)) -> Value {
        self.call(json!({ "op": "braintreeSample", "kind": kind, "id": id, "publicKey": key.0, "privateKey": key.1 }))
            .await
    }

    /// `xml` signed as Braintree signs, and read back by its library.
    async fn braintree(&mut self, xml: &str, key: (&str, &str)) -> Value {
        self.call(
            json!({ "op": "braintreeSign", "xml": xml, "publicKey": key.0, "privateKey": key.1 }),
        )
        .await
    }
}

fn install(dir: &Path) -> Result<(), String> {
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.join("node_modules/stripe").exists() && dir.join("node_modules/braintree").exists() {
        return Ok(());
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("npm is not available ({e})"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci in {} failed ({status})", dir.display()))
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

// Stripe events as Stripe sends them (the fields the receiver reads, and a few more).

fn stripe_event(id: &str, kind: &str, object: &Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2024-06-20", "type": kind,
        "created": now(), "livemode": false, "data": { "object": object },
    })
    .to_string()
}

fn intent(pi: &str, amount: i64, metadata: &Value) -> Value {
    json!({ "id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": "usd", "status": "succeeded", "metadata": metadata })
}

fn charge(pi: &str, captured: i64, refunded: i64) -> Value {
    json!({ "id": format!("ch_{pi}"), "object": "charge", "payment_intent": pi, "amount": captured,
            "amount_captured": captured, "amount_refunded": refunded, "refunded": refunded == captured,
            "currency": "usd", "metadata": {} })
}

fn dispute(pi: &str, status: &str) -> Value {
    json!({ "id": format!("dp_{pi}"), "object": "dispute", "charge": format!("ch_{pi}"),
            "payment_intent": pi, "amount": 9000, "currency": "usd", "status": status })
}

impl TestApp {
    async fn stripe_post(&self, body: &str, signature: Option<&str>) -> (StatusCode, Value) {
        let mut request =
            Request::post("/payments/stripe").header("content-type", "application/json");
        if let Some(s) = signature {
            request = request.header("stripe-signature", s);
        }
        let (status, _, text) = self
            .send(request.body(Body::from(body.to_owned())).unwrap())
            .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signs `body` with the new secret, now, and posts it.
    async fn stripe(&self, signer: &mut Signer, body: &str) -> Value {
        let header = signer.stripe(body, STRIPE_NEW, now()).await;
        let (status, answer) = self.stripe_post(body, Some(&header)).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        answer
    }

    async fn braintree_post(&self, notification: &Value) -> (StatusCode, Value) {
        let form = serde_urlencoded::to_string([
            (
                "bt_signature",
                notification["bt_signature"].as_str().unwrap(),
            ),
            ("bt_payload", notification["bt_payload"].as_str().unwrap()),
        ])
        .unwrap();
        let request = Request::post("/payments/braintree")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let (status, _, text) = self.send(request).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn braintree(&self, signer: &mut Signer, xml: &str) -> Value {
        let signed = signer.braintree(xml, BT_KEYS[0]).await;
        let (status, answer) = self.braintree_post(&signed).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        answer
    }

    /// Reserves one use of `code` for `order_id` (subtotal 100.00); its ID.
    async fn reserve(&self, code: &str, order_id: &str) -> String {
        let mut input =
            json!({ "input": { "code": code, "idempotencyKey": format!("hold-{order_id}") } });
        input["input"]["order"] = order(order_id, "pat@example.com", "100.00");
        let data = self.admin(RESERVE, input).await;
        assert_eq!(data["reserveCoupon"]["userErrors"], json!([]), "{data:#}");
        data["reserveCoupon"]["reservation"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A reservation's status and the discount refunded so far.
    async fn standing(&self, id: &str) -> (String, String) {
        let data = self
            .admin(
                "query($id: ID!) { node(id: $id) { ... on Redemption { status refundedDiscount { amount } } } }",
                json!({ "id": id }),
            )
            .await;
        let node = &data["node"];
        (
            node["status"].as_str().unwrap().to_owned(),
            node["refundedDiscount"]["amount"]
                .as_str()
                .unwrap_or("0")
                .to_owned(),
        )
    }

    async fn balance(&self) -> Value {
        self.admin(
            "{ balanceAssertions { balanced checkedPayments mismatches { provider paymentId orderId code redemptionId detail } } }",
            json!({}),
        )
        .await["balanceAssertions"]
            .clone()
    }

    async fn counts(&self, code: &str) -> (i64, i64) {
        let data = self
            .admin(
                "query($c: String) { coupon(code: $c) { redemptionCount reservedCount } }",
                json!({ "c": code }),
            )
            .await;
        let c = &data["coupon"];
        (
            c["redemptionCount"].as_i64().unwrap(),
            c["reservedCount"].as_i64().unwrap(),
        )
    }
}

/// A campaign with a budget, and a 10% coupon `code` in it; the campaign's ID.
async fn coupon_in_campaign(app: &TestApp, code: &str) -> Value {
    let made = app
        .admin(
            "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { campaign { id } userErrors { code } } }",
            json!({ "i": { "name": format!("Campaign {code}"), "budget": { "amount": "1000", "currency": "USD" } } }),
        )
        .await;
    let campaign = made["createCampaign"]["campaign"]["id"].clone();
    let coupon = create(
        app,
        json!({ "name": code, "code": code, "discount": { "percentage": "10" } }),
    )
    .await;
    let moved = app
        .admin(
            "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { userErrors { code } } }",
            json!({ "c": coupon["id"], "k": campaign }),
        )
        .await;
    assert_eq!(moved["setCouponCampaign"]["userErrors"], json!([]));
    campaign
}

async fn campaign_usage(app: &TestApp, campaign: &Value) -> (i64, String) {
    let data = app
        .admin(
            "query($k: ID!) { campaign(id: $k) { usedCount discountUsed { amount } } }",
            json!({ "k": campaign }),
        )
        .await;
    let c = &data["campaign"];
    (
        c["usedCount"].as_i64().unwrap(),
        c["discountUsed"]["amount"].as_str().unwrap().to_owned(),
    )
}

/// Signatures are the providers' own: accepted when any configured secret or key pair
/// made them, refused (400, nothing written) when the body was changed, the timestamp is
/// old, or the secret is wrong. Types that move no payment answer 200 and are ignored.
async fn signatures_are_checked_before_anything_is_written(app: TestApp) {
    let Some(mut s) = Signer::start().await else {
        return;
    };
    let body = stripe_event(
        "evt_sig_1",
        "payment_intent.succeeded",
        &intent("pi_sig", 9000, &json!({})),
    );
    for secret in [STRIPE_OLD, STRIPE_NEW] {
        let header = s.stripe(&body, secret, now()).await;
        let (status, answer) = app.stripe_post(&body, Some(&header)).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        assert_eq!(
            answer["result"], "UNBOUND",
            "no metadata: nothing to redeem yet"
        );
    }
    let written = app.count("payment_events").await;
    assert_eq!(written, 1, "the second delivery was the same event");

    // A new event id, so that only the signature can refuse it.
    let other = body.replace("evt_sig_1", "evt_sig_2");
    let tampered = other.replace("9000", "9001");
    let refusals = [
        (
            &tampered,
            Some(s.stripe(&other, STRIPE_NEW, now()).await),
            "SIGNATURE_MISMATCH",
        ),
        (
            &other,
            Some(s.stripe(&other, STRIPE_NEW, now() - 600).await),
            "SIGNATURE_EXPIRED",
        ),
        (
            &other,
            Some(s.stripe(&other, "whsec_someone_else", now()).await),
            "SIGNATURE_MISMATCH",
        ),
        (&other, None, "SIGNATURE_MALFORMED"),
        (&other, Some("t=1,v1=zz".to_owned()), "SIGNATURE_MALFORMED"),
    ];
    for (body, header, code) in refusals {
        let (status, answer) = app.stripe_post(body, header.as_deref()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
        assert_eq!(answer["code"], code, "{answer:#}");
    }
    assert_eq!(
        app.count("payment_events").await,
        written,
        "a refusal writes nothing"
    );
    assert_eq!(app.count("payments").await, 1);

    let ignored = stripe_event("evt_other", "customer.created", &json!({ "id": "cus_1" }));
    let answer = app.stripe(&mut s, &ignored).await;
    assert_eq!(answer["result"], "IGNORED");
    assert_eq!(app.count("payment_events").await, written);

    // Braintree: sample notifications from its library, under either key pair.
    for (i, key) in BT_KEYS.into_iter().enumerate() {
        let sample = s
            .braintree_sample("transaction_settled", &format!("bt_sig_{i}"), key)
            .await;
        let (status, answer) = app.braintree_post(&sample).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        assert_eq!(answer["result"], "UNBOUND");
    }
    let sample = s
        .braintree_sample("dispute_opened", "bt_sig_0", BT_KEYS[0])
        .await;
    assert_eq!(app.braintree_post(&sample).await.0, StatusCode::OK);
    let sample = s.braintree_sample("check", "x", BT_KEYS[0]).await;
    let (status, answer) = app.braintree_post(&sample).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (StatusCode::OK, Some("IGNORED"))
    );
    let written = app.count("payment_events").await;
    assert_eq!(written, 4);

    let sample = s
        .braintree_sample("transaction_settled", "bt_sig_9", BT_KEYS[0])
        .await;
    let xml = sample["xml"]
        .as_str()
        .unwrap()
        .replace("<amount>100</amount>", "<amount>1</amount>");
    let mut tampered = sample.clone();
    tampered["bt_payload"] = json!(format!("{}\n", base64_of(&xml)));
    let wrong_key = s
        .braintree_sample("transaction_settled", "bt_sig_9", ("pk_first", "sk_wrong"))
        .await;
    let unknown_key = s
        .braintree_sample(
            "transaction_settled",
            "bt_sig_9",
            ("pk_unknown", "sk_first"),
        )
        .await;
    for (bad, code) in [
        (tampered, "SIGNATURE_MISMATCH"),
        (wrong_key, "SIGNATURE_MISMATCH"),
        (unknown_key, "SIGNATURE_MISMATCH"),
        (
            json!({ "bt_signature": "", "bt_payload": sample["bt_payload"] }),
            "SIGNATURE_MALFORMED",
        ),
    ] {
        let (status, answer) = app.braintree_post(&bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
        assert_eq!(answer["code"], code);
    }
    assert_eq!(
        app.count("payment_events").await,
        written,
        "a refusal writes nothing"
    );

    // Braintree's check of a new destination.
    let (status, text) = app
        .get("/payments/braintree?bt_challenge=20f9f8ed05f77439fe955c977e4c8a53")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.starts_with("pk_first|") && text.len() == "pk_first|".len() + 40,
        "{text}"
    );
}
both_backends!(
    signatures_are_checked_before_anything_is_written,
    super::options()
);

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Each Stripe event delivered twice, in four orders (a refund before the success, a
/// dispute before the refund…): every reservation ends redeemed with a third of its
/// capture refunded, so a third of its discount reversed (3.33 of 10.00); counters,
/// the campaign's budget and the books exact.
async fn stripe_events_apply_once_in_any_order(app: TestApp) {
    let Some(mut s) = Signer::start().await else {
        return;
    };
    let campaign = coupon_in_campaign(&app, "STRIPE10").await;
    let orders: [[usize; 5]; 4] = [
        [0, 1, 2, 3, 4],
        [2, 1, 0, 4, 3],
        [4, 3, 2, 1, 0],
        [1, 3, 0, 2, 4],
    ];
    for (n, order_of) in orders.iter().enumerate() {
        let reservation = app.reserve("STRIPE10", &format!("stripe-order-{n}")).await;
        let pi = format!("pi_any_{n}");
        let metadata =
            json!({ "coupon_reservation": reservation, "order_id": format!("stripe-order-{n}") });
        let events = [
            stripe_event(
                &format!("evt_{n}_ok"),
                "payment_intent.succeeded",
                &intent(&pi, 9000, &metadata),
            ),
            stripe_event(
                &format!("evt_{n}_r1"),
                "charge.refunded",
                &charge(&pi, 9000, 1500),
            ),
            stripe_event(
                &format!("evt_{n}_r2"),
                "charge.refunded",
                &charge(&pi, 9000, 3000),
            ),
            stripe_event(
                &format!("evt_{n}_d1"),
                "charge.dispute.created",
                &dispute(&pi, "needs_response"),
            ),
            stripe_event(
                &format!("evt_{n}_d2"),
                "charge.dispute.closed",
                &dispute(&pi, "won"),
            ),
        ];
        for &i in order_of {
            let answer = app.stripe(&mut s, &events[i]).await;
            assert_eq!(answer["replayed"], false, "{answer:#}");
        }
        for &i in order_of.iter().rev() {
            let answer = app.stripe(&mut s, &events[i]).await;
            assert_eq!(
                answer["replayed"], true,
                "a redelivery changes nothing: {answer:#}"
            );
        }
        assert_eq!(
            app.standing(&reservation).await,
            ("PARTIALLY_REVERSED".to_owned(), "3.33".to_owned()),
            "order {order_of:?}"
        );
    }
    assert_eq!(app.counts("STRIPE10").await, (4, 0));
    assert_eq!(
        campaign_usage(&app, &campaign).await,
        (4, "26.68".to_owned())
    );
    assert_eq!(app.count("payment_events").await, 20);
    let kind = "event_type = 'PAYMENT_RECEIVED'";
    assert_eq!(
        app.scalar(&format!("SELECT COUNT(*) FROM outbox_events WHERE {kind}"))
            .await,
        20
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_RECEIVED'")
            .await,
        20
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'COUPON_REDEEMED' AND actor_name = 'stripe payments'").await,
        4,
        "the redemptions name who made them"
    );
    // A refund after the capture reverses its own share; refunds before it are
    // reversed together when the capture redeems: 2 + 1 + 1 + 2 in the four orders.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'REDEMPTION_REVERSED'")
            .await,
        6
    );
    assert_reconciled(&app).await;
    let balance = app.balance().await;
    assert_eq!(balance["balanced"], true, "{balance:#}");
    assert_eq!(balance["checkedPayments"], 4);
}
both_backends!(stripe_events_apply_once_in_any_order, super::options());

fn braintree_sale(id: &str, amount: &str, reservation: &str, at: &str) -> String {
    format!(
        r#"<notification><timestamp type="datetime">{at}</timestamp><kind>transaction_settled</kind><subject><transaction><id>{id}</id><status>settled</status><type>sale</type><currency-iso-code>USD</currency-iso-code><amount>{amount}</amount><order-id>braintree-order</order-id><custom-fields><coupon-reservation>{reservation}</coupon-reservation></custom-fields></transaction></subject></notification>"#
    )
}

fn braintree_refund(id: &str, sale: &str, amount: &str, at: &str) -> String {
    format!(
        r#"<notification><timestamp type="datetime">{at}</timestamp><kind>transaction_settled</kind><subject><transaction><id>{id}</id><status>settled</status><type>credit</type><currency-iso-code>USD</currency-iso-code><amount>{amount}</amount><refunded-transaction-id>{sale}</refunded-transaction-id></transaction></subject></notification>"#
    )
}

fn braintree_dispute(kind: &str, dispute: &str, sale: &str, at: &str) -> String {
    let status = kind.trim_start_matches("dispute_");
    format!(
        r#"<notification><timestamp type="datetime">{at}</timestamp><kind>{kind}</kind><subject><dispute><amount>90.00</amount><currency-iso-code>USD</currency-iso-code><kind>chargeback</kind><status>{status}</status><reason>fraud</reason><id>{dispute}</id><transaction><id>{sale}</id><amount>90.00</amount></transaction></dispute></subject></notification>"#
    )
}

/// Braintree: two refunds (each its own credit transaction) of one sale, and a lost
/// dispute of another, each notification twice and in three orders: the first sale's
/// discount is reversed by the refunds' share (30 of 90: 3.33), the second in full.
async fn braintree_notifications_apply_once_in_any_order(app: TestApp) {
    let Some(mut s) = Signer::start().await else {
        return;
    };
    let campaign = coupon_in_campaign(&app, "TREE10").await;
    let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 1, 0], [1, 0, 2]];
    for (n, order_of) in orders.iter().enumerate() {
        let at = format!("2026-12-07T10:0{n}:00Z");
        let refunded = app.reserve("TREE10", &format!("tree-refund-{n}")).await;
        let disputed = app.reserve("TREE10", &format!("tree-dispute-{n}")).await;
        let (sale_a, sale_b) = (format!("txa{n}"), format!("txb{n}"));
        let first = [
            braintree_sale(&sale_a, "90.00", &refunded, &at),
            braintree_refund(&format!("txr{n}a"), &sale_a, "10.00", &at),
            braintree_refund(&format!("txr{n}b"), &sale_a, "20.00", &at),
        ];
        let second = [
            braintree_sale(&sale_b, "90.00", &disputed, &at),
            braintree_dispute("dispute_opened", &format!("dp{n}"), &sale_b, &at),
            braintree_dispute("dispute_lost", &format!("dp{n}"), &sale_b, &at),
        ];
        for events in [&first, &second] {
            for &i in order_of {
                let answer = app.braintree(&mut s, &events[i]).await;
                assert_eq!(answer["replayed"], false, "{answer:#}");
            }
            for &i in order_of {
                assert_eq!(app.braintree(&mut s, &events[i]).await["replayed"], true);
            }
        }
        let signed = s.braintree(&first[0], BT_KEYS[1]).await;
        assert_eq!(
            signed["parsed"]["customFields"]["couponReservation"], refunded,
            "Braintree's own library reads the custom field"
        );
        assert_eq!(
            app.standing(&refunded).await,
            ("PARTIALLY_REVERSED".to_owned(), "3.33".to_owned())
        );
        assert_eq!(
            app.standing(&disputed).await,
            ("REVERSED".to_owned(), "10.00".to_owned())
        );
    }
    // The lost disputes gave their uses back (RESTORE_USAGE); the refunded ones count.
    assert_eq!(app.counts("TREE10").await, (3, 0));
    assert_eq!(
        campaign_usage(&app, &campaign).await,
        (3, "20.01".to_owned())
    );
    assert_eq!(app.count("payment_events").await, 18);
    assert_reconciled(&app).await;
    let balance = app.balance().await;
    assert_eq!(balance["balanced"], true, "{balance:#}");
    assert_eq!(balance["checkedPayments"], 6);
}
both_backends!(
    braintree_notifications_apply_once_in_any_order,
    super::options()
);

/// The orders that cannot end as the payment says end in a documented state the books
/// report: a payment that succeeds after its reservation expired, or after a failed
/// attempt released it; a payment that names an unknown reservation. A refund that comes
/// first waits for the capture; a cart is redeemed and refunded whole.
async fn late_and_unknown_payments_are_reported(app: TestApp) {
    let Some(mut s) = Signer::start().await else {
        return;
    };
    coupon_in_campaign(&app, "LATE10").await;

    // A failed attempt releases; the success that follows cannot take the use back.
    let released = app.reserve("LATE10", "late-failed").await;
    let meta = json!({ "coupon_reservation": released });
    let failed = stripe_event(
        "evt_late_f",
        "payment_intent.payment_failed",
        &intent("pi_late_f", 9000, &meta),
    );
    let answer = app.stripe(&mut s, &failed).await;
    assert_eq!(
        (answer["result"].as_str(), &answer["released"]),
        (Some("APPLIED"), &json!([released]))
    );
    let paid = stripe_event(
        "evt_late_ok",
        "payment_intent.succeeded",
        &intent("pi_late_f", 9000, &meta),
    );
    assert_eq!(
        app.stripe(&mut s, &paid).await["result"],
        "PAID_NOT_REDEEMED"
    );
    assert_eq!(app.standing(&released).await.0, "RELEASED");

    // A reservation past its deadline when the capture comes.
    let expired = app.reserve("LATE10", "late-expired").await;
    let row = ids::decode(Kind::Redemption, &expired).unwrap();
    app.sql(&format!(
        "UPDATE redemptions SET reserved_until = created_at WHERE id = {row}"
    ))
    .await;
    let paid = stripe_event(
        "evt_exp_ok",
        "payment_intent.succeeded",
        &intent("pi_exp", 9000, &json!({ "coupon_reservation": expired })),
    );
    assert_eq!(
        app.stripe(&mut s, &paid).await["result"],
        "PAID_NOT_REDEEMED"
    );
    assert_eq!(app.standing(&expired).await.0, "EXPIRED");

    // A reservation that does not exist.
    let unknown = ids::encode(Kind::Redemption, 999_999);
    let paid = stripe_event(
        "evt_unknown",
        "payment_intent.succeeded",
        &intent(
            "pi_unknown",
            9000,
            &json!({ "coupon_reservation": unknown }),
        ),
    );
    assert_eq!(
        app.stripe(&mut s, &paid).await["result"],
        "RESERVATION_NOT_FOUND"
    );

    // A cart (two codes, one order): the refund first, kept; then the capture redeems
    // both and reverses the refund's share of each.
    for code in ["CART5A", "CART5B"] {
        create(
            &app,
            json!({ "name": code, "code": code, "combinesWith": ["ORDER"],
                             "discount": { "amount": { "amount": "5", "currency": "USD" } } }),
        )
        .await;
    }
    let mut input =
        json!({ "input": { "codes": ["CART5A", "CART5B"], "idempotencyKey": "cart-hold" } });
    input["input"]["order"] = order("cart-order", "pat@example.com", "100.00");
    let held = app
        .admin("mutation($input: ReserveCartInput!) { reserveCart(input: $input) { redemptions { id } userErrors { code } } }", input)
        .await;
    let ids: Vec<String> = held["reserveCart"]["redemptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{held:#}");
    let refund = stripe_event(
        "evt_cart_r",
        "charge.refunded",
        &charge("pi_cart", 9000, 4500),
    );
    assert_eq!(
        app.stripe(&mut s, &refund).await["result"],
        "UNBOUND",
        "the charge names no cart"
    );
    let paid = stripe_event(
        "evt_cart_ok",
        "payment_intent.succeeded",
        &intent("pi_cart", 9000, &json!({ "coupon_cart": "cart-order" })),
    );
    let answer = app.stripe(&mut s, &paid).await;
    assert_eq!(answer["result"], "APPLIED");
    assert_eq!(answer["redeemed"], json!(ids));
    for id in &ids {
        assert_eq!(
            app.standing(id).await,
            ("PARTIALLY_REVERSED".to_owned(), "2.50".to_owned())
        );
    }

    // A Checkout Session: captured is its total less shipping and tax; one that expires
    // releases its reservation.
    let paid_session = app.reserve("LATE10", "session-paid").await;
    let session = json!({ "id": "cs_paid", "object": "checkout.session", "payment_intent": "pi_session",
        "payment_status": "paid", "amount_subtotal": 10000, "amount_total": 9750, "currency": "usd",
        "total_details": { "amount_discount": 1000, "amount_shipping": 500, "amount_tax": 250 },
        "metadata": { "coupon_reservation": paid_session } });
    let answer = app
        .stripe(
            &mut s,
            &stripe_event("evt_cs_ok", "checkout.session.completed", &session),
        )
        .await;
    assert_eq!(answer["redeemed"], json!([paid_session]), "{answer:#}");
    let dropped = app.reserve("LATE10", "session-expired").await;
    let session = json!({ "id": "cs_expired", "object": "checkout.session", "payment_intent": null,
        "payment_status": "unpaid", "status": "expired", "amount_total": 9000, "currency": "usd",
        "metadata": { "coupon_reservation": dropped } });
    let answer = app
        .stripe(
            &mut s,
            &stripe_event("evt_cs_exp", "checkout.session.expired", &session),
        )
        .await;
    assert_eq!(answer["released"], json!([dropped]), "{answer:#}");

    // A capture of more than the order's subtotal less its discount.
    let overcharged = app.reserve("LATE10", "overcharged").await;
    let paid = stripe_event(
        "evt_over",
        "payment_intent.succeeded",
        &intent(
            "pi_over",
            9500,
            &json!({ "coupon_reservation": overcharged }),
        ),
    );
    assert_eq!(app.stripe(&mut s, &paid).await["result"], "APPLIED");

    // The books say what is wrong, and only that.
    let balance = app.balance().await;
    assert_eq!(balance["balanced"], false);
    let found: Vec<(String, Value)> = balance["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["code"].as_str().unwrap().to_owned(),
                m["redemptionId"].clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("PAID_NOT_REDEEMED".to_owned(), json!(released)),
            ("PAID_NOT_REDEEMED".to_owned(), json!(expired)),
            ("RESERVATION_NOT_FOUND".to_owned(), Value::Null),
            ("CAPTURE_DIFFERS".to_owned(), Value::Null),
        ],
        "{balance:#}"
    );
    let storefront = app.key(coupons::auth::Role::Storefront).await;
    let refused = app
        .request(
            Some(&storefront),
            "{ balanceAssertions { balanced } }",
            json!({}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));

    // The command line reports the same and exits non-zero.
    let out = std::process::Command::new(BIN)
        .args(["reconcile", "--payments"])
        .env("DATABASE_URL", app.database_url())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert_eq!(text.matches("PAID_NOT_REDEEMED").count(), 2, "{text}");
    assert!(
        text.contains("pi_late_f") && text.contains("late-expired"),
        "{text}"
    );
    assert!(
        text.contains("captured 9500, subtotal less discounts is 9000"),
        "{text}"
    );
    assert_reconciled(&app).await;
}
both_backends!(late_and_unknown_payments_are_reported, super::options());

/// A fault while an event is applied (here the database refuses to store payments)
/// answers 500, so the provider retries, and leaves nothing behind; the retry applies.
async fn a_fault_answers_500_and_the_retry_applies(app: TestApp) {
    let Some(mut s) = Signer::start().await else {
        return;
    };
    coupon_in_campaign(&app, "FAULT10").await;
    let reservation = app.reserve("FAULT10", "fault-order").await;
    let body = stripe_event(
        "evt_fault",
        "payment_intent.succeeded",
        &intent(
            "pi_fault",
            9000,
            &json!({ "coupon_reservation": reservation }),
        ),
    );
    let postgres = app.database_url().starts_with("postgres");
    if postgres {
        app.sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
             CREATE TRIGGER refuse BEFORE UPDATE ON coupons FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await;
    } else {
        app.sql("CREATE TRIGGER refuse BEFORE UPDATE ON coupons BEGIN SELECT RAISE(ABORT, 'refused'); END;")
            .await;
    }
    let header = s.stripe(&body, STRIPE_NEW, now()).await;
    let (status, answer) = app.stripe_post(&body, Some(&header)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer:#}");
    assert_eq!(answer["code"], "INTERNAL_SERVER_ERROR", "{answer:#}");
    assert_eq!(
        app.count("payment_events").await,
        0,
        "the claim rolled back"
    );
    assert_eq!(app.count("payments").await, 0);
    assert_eq!(app.standing(&reservation).await.0, "RESERVED");

    app.sql(if postgres {
        "DROP TRIGGER refuse ON coupons"
    } else {
        "DROP TRIGGER refuse"
    })
    .await;
    let answer = app.stripe(&mut s, &body).await;
    assert_eq!(
        (answer["result"].as_str(), answer["replayed"].as_bool()),
        (Some("APPLIED"), Some(false))
    );
    assert_eq!(app.standing(&reservation).await.0, "REDEEMED");
    assert_reconciled(&app).await;
}
both_backends!(a_fault_answers_500_and_the_retry_applies, super::options());

const PROCESS_ADMIN_KEY: &str = "admin-key-for-the-payment-process-tests-0123456789";

async fn counted(db: &Db, sql: &str) -> i64 {
    scalar_on(db, sql).await
}

/// Kill -9 while the server applies a provider event, then the provider's retries: one
/// redemption per payment, no duplicate, the books balance. First with the event held
/// at a lock (so the kill lands inside its transaction), then with many events in flight
/// at a random moment.
async fn a_killed_server_applies_the_retry_once(backend: crate::harness::Backend) {
    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    let Some(mut s) = Signer::start().await else {
        return;
    };
    let env = [
        ("COUPONS_ADMIN_KEY", PROCESS_ADMIN_KEY),
        ("COUPONS_STRIPE_WEBHOOK_SECRET", STRIPE_NEW),
    ];
    let server = Process::start(&database.url, &env);
    let made = server
        .graphql(
            PROCESS_ADMIN_KEY,
            "mutation { createCoupon(input: { name: \"Killed\", code: \"KILL10\", discount: { percentage: \"10\" } }) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        made["data"]["createCoupon"]["userErrors"],
        json!([]),
        "{made:#}"
    );
    let mut events = Vec::new();
    for n in 0..24 {
        let mut input =
            json!({ "input": { "code": "KILL10", "idempotencyKey": format!("k-{n}") } });
        input["input"]["order"] = order(&format!("kill-{n}"), "pat@example.com", "100.00");
        let r = server.graphql(PROCESS_ADMIN_KEY, RESERVE, input).await;
        let id = r["data"]["reserveCoupon"]["reservation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        events.push(stripe_event(
            &format!("evt_kill_{n}"),
            "payment_intent.succeeded",
            &intent(
                &format!("pi_kill_{n}"),
                9000,
                &json!({ "coupon_reservation": id }),
            ),
        ));
    }
    let client = reqwest::Client::new();
    let deliver = |base: String, body: String, header: String| {
        let client = client.clone();
        async move {
            client
                .post(format!("{base}/payments/stripe"))
                .header("stripe-signature", header)
                .header("content-type", "application/json")
                .body(body)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .map(|r| r.status())
        }
    };
    let pool = PoolOptions {
        max_size: 2,
        wait_timeout: Duration::from_secs(10),
    };
    let db = Db::connect(&database.url, pool).unwrap();

    // 1. Held inside its transaction by a lock another connection holds, then killed.
    let lock = hold_write_lock(&database.url).await;
    let header = s.stripe(&events[0], STRIPE_NEW, now()).await;
    let in_flight = tokio::spawn(deliver(
        server.base.clone(),
        events[0].clone(),
        header.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !in_flight.is_finished(),
        "the event is waiting for the lock"
    );
    server.kill();
    assert!(
        in_flight.await.unwrap().is_err(),
        "the provider saw no answer"
    );
    lock.release().await;
    assert_eq!(
        counted(&db, "SELECT COUNT(*) FROM payment_events").await,
        0,
        "nothing half-done"
    );

    // 2. Every event in flight when the server dies, at a random moment.
    let server = Process::start(&database.url, &env);
    let mut headers = Vec::new();
    for e in &events {
        headers.push(s.stripe(e, STRIPE_NEW, now()).await);
    }
    let tasks: Vec<_> = events
        .iter()
        .zip(&headers)
        .map(|(e, h)| tokio::spawn(deliver(server.base.clone(), e.clone(), h.clone())))
        .collect();
    // Killed once a few have committed, with the rest in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while counted(&db, "SELECT COUNT(*) FROM payment_events").await < 3 {
        assert!(std::time::Instant::now() < deadline, "no event was applied");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    let mut answered = 0;
    for t in tasks {
        answered += usize::from(t.await.unwrap().is_ok_and(|s| s.is_success()));
    }
    let applied = counted(&db, "SELECT COUNT(*) FROM payment_events").await;
    eprintln!(
        "killed with {answered} of {} events answered, {applied} committed",
        events.len()
    );

    // 3. The provider retries every event, twice.
    let server = Process::start(&database.url, &env);
    for _ in 0..2 {
        for (e, h) in events.iter().zip(&headers) {
            let status = deliver(server.base.clone(), e.clone(), h.clone())
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
        }
    }
    let n = i64::try_from(events.len()).unwrap();
    assert_eq!(counted(&db, "SELECT COUNT(*) FROM payment_events").await, n);
    assert_eq!(
        counted(
            &db,
            "SELECT COUNT(*) FROM redemptions WHERE status = 'REDEEMED'"
        )
        .await,
        n
    );
    assert_eq!(
        counted(
            &db,
            "SELECT redemption_count FROM coupons WHERE name = 'Killed'"
        )
        .await,
        n
    );
    assert_eq!(
        counted(
            &db,
            "SELECT reserved_count FROM coupons WHERE name = 'Killed'"
        )
        .await,
        0
    );
    assert_eq!(
        counted(
            &db,
            "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'COUPON_REDEEMED'"
        )
        .await,
        n,
        "one redemption event each"
    );
    drop(server);
    let out = std::process::Command::new(BIN)
        .args(["reconcile", "--payments"])
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("All {n} payment(s) balance")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_applies_the_retry_once_sqlite() {
    a_killed_server_applies_the_retry_once(crate::harness::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_applies_the_retry_once_postgres() {
    a_killed_server_applies_the_retry_once(crate::harness::Backend::Postgres).await;
}
