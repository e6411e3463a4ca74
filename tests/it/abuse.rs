//! Abuse detection: synthetic traffic with known abuse mixed into honest traffic, run
//! through the API, then one look by the detector; and the automatic actions, audited
//! and put back by an admin.

use std::collections::HashSet;

use chrono::Utc;
use coupons::auth::Role;
use coupons::router::HttpSettings;
use coupons::service::abuse::detect;
use coupons::service::checkout::customer_key;
use coupons_domain::abuse::{AbuseAction, Thresholds};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{ABUSE_KEY, Options, TestApp};

const VALIDATE: &str = "query($code: String!, $o: OrderInput!) { validateCoupon(input: { code: $code, order: $o }) { valid reasons { code } } }";
const REDEEM: &str = "mutation($code: String!, $o: OrderInput!, $k: String!) { redeemCoupon(input: { code: $code, order: $o, idempotencyKey: $k }) { redemption { id } userErrors { code } } }";
const SIGNALS: &str = "query($f: AbuseSignalFilter) { abuseSignals(filter: $f, first: 100) { nodes { id kind couponId evidence flagged action changed status } } }";

/// Behind a proxy that sets `x-forwarded-for`, so each shopper has an address; no
/// waiting on `NOT_FOUND`.
fn simulation() -> Options {
    Options {
        http: Some(HttpSettings {
            trusted_proxy_header: Some("x-forwarded-for".parse().unwrap()),
            ..HttpSettings::default()
        }),
        not_found_floor: Some(std::time::Duration::ZERO),
        ..Options::default()
    }
}

/// An order of 40 USD by `customer`.
fn order(id: &str, customer: &Value) -> Value {
    json!({ "id": id, "currency": "USD", "subtotal": "40", "customer": customer })
}

/// The callers of the simulation: shoppers' browsers (a public key, from their own
/// address) and the storefront's server (a storefront key).
struct Shop<'a> {
    app: &'a TestApp,
    public: String,
    storefront: String,
}

impl Shop<'_> {
    /// A browser at `ip` checks `code`; whether it applies.
    async fn check(&self, ip: &str, code: &str, customer: &Value) -> bool {
        let body = json!({ "query": VALIDATE, "variables": { "code": code, "o": order("cart", customer) } });
        let r = self
            .app
            .post(
                Some(&self.public),
                &[("x-forwarded-for", ip)],
                body.to_string(),
            )
            .await;
        r.body["data"]["validateCoupon"]["valid"] == json!(true)
    }

    /// The storefront redeems `code` on order `id`; whether it was redeemed.
    async fn redeem(&self, code: &str, id: &str, customer: &Value) -> bool {
        let r = self
            .app
            .request(
                Some(&self.storefront),
                REDEEM,
                json!({ "code": code, "o": order(id, customer), "k": id }),
            )
            .await;
        r.body["data"]["redeemCoupon"]["redemption"]["id"].is_string()
    }
}

/// Sends `n` requests made by `make`, eight at a time; how many returned `true`.
async fn run<F, Fut>(n: usize, make: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    futures_util::stream::iter((0..n).map(make))
        .buffer_unordered(8)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

/// 1,000 honest customers, each from an address of their own, check a code they were
/// given (one in forty mistypes it first) and redeem it, spread over 50 coupons. Mixed
/// in: a newsletter code leaked to 500 new customers; a slow guesser trying three
/// made-up codes from each of 200 addresses (below every per-address budget); 20
/// accounts of one person sharing a device, each taking the first-order coupon. One
/// look by the detector flags every abuse, names no honest customer or address, and
/// raises nothing about the honest coupons.
async fn known_abuse_is_flagged_and_honest_traffic_is_not(app: TestApp) {
    for i in 0..50 {
        create(
            &app,
            json!({ "name": format!("Honest {i}"), "code": format!("HONEST-{i}"),
            "discount": { "percentage": "5" }, "perCustomerLimit": 1 }),
        )
        .await;
    }
    let newsletter = create(
        &app,
        json!({ "name": "Newsletter", "code": "NEWSLETTER",
        "discount": { "percentage": "20" }, "perCustomerLimit": 1 }),
    )
    .await["id"]
        .clone();
    let welcome = create(
        &app,
        json!({ "name": "Welcome", "code": "WELCOME",
        "discount": { "percentage": "15" }, "perCustomerLimit": 1 }),
    )
    .await["id"]
        .clone();
    let shop = Shop {
        app: &app,
        public: app.key(Role::Public).await,
        storefront: app.key(Role::Storefront).await,
    };
    let honest_ip = |i: usize| format!("100.64.{}.{}", i / 200, i % 200 + 1);
    let honest = |i: usize| {
        json!({ "id": format!("h-{i}"), "email": format!("h{i}@shop.test"),
        "fingerprints": { "device": format!("dev-h-{i}"), "payment": format!("card-h-{i}") } })
    };
    let redeemed = run(1000, |i| {
        let shop = &shop;
        async move {
            let (ip, customer, code) = (honest_ip(i), honest(i), format!("HONEST-{}", i % 50));
            if i % 40 == 0 {
                shop.check(&ip, &format!("HONSET-{}", i % 50), &customer)
                    .await;
            }
            shop.check(&ip, &code, &customer).await
                && shop.redeem(&code, &format!("o-h-{i}"), &customer).await
        }
    })
    .await;
    assert_eq!(redeemed, 1000);

    let leaked = run(500, |i| {
        let shop = &shop;
        async move {
            let customer = json!({ "id": format!("l-{i}"), "email": format!("l{i}@mail.test"),
                "fingerprints": { "device": format!("dev-l-{i}") } });
            shop.redeem("NEWSLETTER", &format!("o-l-{i}"), &customer)
                .await
        }
    })
    .await;
    assert_eq!(leaked, 500);

    let guesser_ip = |i: usize| format!("198.51.{}.{}", 100 + i / 100, i % 100 + 1);
    let found = run(600, |n| {
        let shop = &shop;
        async move {
            let ip = guesser_ip(n % 200);
            shop.check(&ip, &format!("NEWSLETTER{n}"), &json!({})).await
        }
    })
    .await;
    assert_eq!(found, 0, "the guesses are made up");

    let farmed = run(20, |i| {
        let shop = &shop;
        async move {
            let customer = json!({ "id": format!("f-{i}"), "email": format!("farm{i}@mail.test"),
                "fingerprints": { "device": "dev-farm" } });
            shop.redeem("WELCOME", &format!("o-f-{i}"), &customer).await
        }
    })
    .await;
    assert_eq!(farmed, 20);

    let raised = detect(&app.services, Utc::now()).await.unwrap();
    let signals = app.admin(SIGNALS, json!({})).await["abuseSignals"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(signals.len(), raised.len());
    let of = |kind: &str| -> Vec<&Value> { signals.iter().filter(|s| s["kind"] == kind).collect() };

    let leak = of("LEAKED_CODE");
    assert_eq!(leak.len(), 1, "{signals:#?}");
    assert_eq!(leak[0]["couponId"], newsletter);
    assert_eq!(leak[0]["evidence"]["code"], "NEWSLETTER");
    assert_eq!(leak[0]["evidence"]["customers"], 500);
    let fast = of("VELOCITY");
    assert_eq!(fast.len(), 1, "{signals:#?}");
    assert_eq!(fast[0]["couponId"], newsletter);

    let guessing = of("GUESSING_CAMPAIGN");
    assert_eq!(guessing.len(), 1, "{signals:#?}");
    let flagged_addresses: HashSet<String> = strings(&guessing[0]["flagged"]);
    let guesser: HashSet<String> = (0..200)
        .map(|i| customer_key(ABUSE_KEY, &format!("address:{}", guesser_ip(i))))
        .collect();
    assert_eq!(flagged_addresses, guesser);

    let farm = of("FARMED_ACCOUNTS");
    assert_eq!(farm.len(), 1, "{signals:#?}");
    assert_eq!(farm[0]["couponId"], welcome);
    assert_eq!(farm[0]["evidence"]["trait"], "device");
    let flagged_customers: HashSet<String> = strings(&farm[0]["flagged"]);
    let farmer: HashSet<String> = (0..20)
        .map(|i| customer_key(ABUSE_KEY, &format!("id:f-{i}")))
        .collect();
    assert_eq!(flagged_customers, farmer);

    let honest_customers: HashSet<String> = (0..1000)
        .map(|i| customer_key(ABUSE_KEY, &format!("id:h-{i}")))
        .collect();
    let honest_addresses: HashSet<String> = (0..1000)
        .map(|i| customer_key(ABUSE_KEY, &format!("address:{}", honest_ip(i))))
        .collect();
    let named: HashSet<String> = signals
        .iter()
        .flat_map(|s| strings(&s["flagged"]))
        .collect();
    let honest_named = named.intersection(&honest_customers).count()
        + named.intersection(&honest_addresses).count();
    let honest_coupons = signals
        .iter()
        .filter(|s| {
            s["couponId"] != newsletter && s["couponId"] != welcome && !s["couponId"].is_null()
        })
        .count();
    eprintln!(
        "abuse simulation: signals {} (leaked code: 1 for 500 customers; velocity: 1; guessing: \
         {}/200 addresses; farmed: {}/20 accounts); honest customers or addresses named: \
         {honest_named} of 2000 ({:.2}%); signals about the 50 honest coupons: {honest_coupons}",
        signals.len(),
        flagged_addresses.len(),
        flagged_customers.len(),
        honest_named as f64 * 100.0 / 2000.0,
    );
    assert!(
        honest_named * 100 < 1000,
        "more than 1% of honest customers named"
    );
    assert_eq!(honest_coupons, 0);

    // A second look raises nothing new: the signals stay open, one per kind and scope.
    assert!(detect(&app.services, Utc::now()).await.unwrap().is_empty());
}
both_backends!(
    known_abuse_is_flagged_and_honest_traffic_is_not,
    super::simulation()
);

fn strings(list: &Value) -> HashSet<String> {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn quick() -> Options {
    Options {
        abuse: Some((
            "leak_min_customers=30,velocity_min_uses=100000"
                .parse::<Thresholds>()
                .unwrap(),
            AbuseAction::Alert,
        )),
        ..Options::default()
    }
}

/// A coupon set to `PAUSE` is paused by the detector when its code leaks: the change
/// is audited as the detector's, an `ABUSE_SIGNAL_RAISED` event carries the evidence,
/// the code stops working at once, and an admin resolving the signal with `undo`
/// resumes the coupon. `REQUIRE_CUSTOMER` (set on the campaign) binds the rule that
/// asks for a customer id, and `STEP_UP_LIMITS` gives each customer one use; both are
/// put back the same way.
async fn automatic_actions_are_audited_and_reversible(app: TestApp) {
    let storefront = app.key(Role::Storefront).await;
    let redeem = |code: &'static str, n: usize, customer: Value| {
        let (app, key) = (&app, storefront.clone());
        async move {
            let id = format!("o-{code}-{n}");
            let r = app
                .request(
                    Some(&key),
                    REDEEM,
                    json!({ "code": code, "o": order(&id, &customer), "k": id }),
                )
                .await;
            let payload = r.body["data"]["redeemCoupon"].clone();
            payload["redemption"]["id"].as_str().map_or_else(
                || {
                    payload["userErrors"][0]["code"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned()
                },
                |_| "REDEEMED".to_owned(),
            )
        }
    };
    let leaky = create(
        &app,
        json!({ "name": "Leaky", "code": "LEAKY", "discount": { "percentage": "10" } }),
    )
    .await["id"]
        .clone();
    let set = "mutation($i: SetAbuseActionInput!) { setAbuseAction(input: $i) { action userErrors { code } } }";
    let d = app
        .admin(
            set,
            json!({ "i": { "couponId": leaky, "action": "PAUSE" } }),
        )
        .await;
    assert_eq!(d["setAbuseAction"]["action"], "PAUSE");
    let before = app.last_event_id().await.unwrap();
    for n in 0..30 {
        assert_eq!(
            redeem("LEAKY", n, json!({ "id": format!("c-{n}") })).await,
            "REDEEMED"
        );
    }
    let raised = detect(&app.services, Utc::now()).await.unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].action, "PAUSE");
    // To a storefront, a paused coupon does not exist.
    assert_eq!(
        redeem("LEAKY", 30, json!({ "id": "c-30" })).await,
        "NOT_FOUND"
    );

    let events = app.events_after(before, 1000).await.unwrap();
    let event = events
        .iter()
        .find(|e| e.event_type == "ABUSE_SIGNAL_RAISED")
        .expect("an ABUSE_SIGNAL_RAISED event");
    assert_eq!(event.payload["kind"], "LEAKED_CODE");
    assert_eq!(event.payload["action"], "PAUSE");
    assert_eq!(event.payload["evidence"]["customers"], 30);
    let audit = app
        .admin(
            "{ auditLog(first: 10) { nodes { action actorName entityType } } }",
            json!({}),
        )
        .await["auditLog"]["nodes"]
        .clone();
    let by_detector: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actorName"] == "abuse detection")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(by_detector.contains(&"ABUSE_SIGNAL_RAISED"), "{audit:#}");
    assert!(by_detector.contains(&"COUPON_STATUS_CHANGED"), "{audit:#}");

    let signal = app
        .admin(SIGNALS, json!({ "f": { "couponId": leaky } }))
        .await["abuseSignals"]["nodes"][0]
        .clone();
    assert_eq!(signal["changed"], json!({ "status": "ACTIVE" }));
    let resolve = "mutation($i: ResolveAbuseSignalInput!) { resolveAbuseSignal(input: $i) { undone signal { status } userErrors { code } } }";
    let d = app
        .admin(
            resolve,
            json!({ "i": { "id": signal["id"], "undo": true } }),
        )
        .await;
    assert_eq!(d["resolveAbuseSignal"]["undone"], true, "{d:#}");
    assert_eq!(d["resolveAbuseSignal"]["signal"]["status"], "RESOLVED");
    assert_eq!(
        redeem("LEAKY", 31, json!({ "id": "c-31" })).await,
        "REDEEMED"
    );
    let again = app
        .admin(
            resolve,
            json!({ "i": { "id": signal["id"], "undo": true } }),
        )
        .await;
    assert_eq!(
        again["resolveAbuseSignal"]["userErrors"][0]["code"],
        "SIGNAL_RESOLVED"
    );

    // On a campaign: every coupon of it without an action of its own.
    let campaign = app
        .admin(
            "mutation { createCampaign(input: { name: \"Spring\" }) { campaign { id } userErrors { code } } }",
            json!({}),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let strict = create(
        &app,
        json!({ "name": "Strict", "code": "STRICT", "discount": { "percentage": "10" } }),
    )
    .await["id"]
        .clone();
    app.admin(
        "mutation($c: ID!, $k: ID!) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { userErrors { code } } }",
        json!({ "c": strict, "k": campaign }),
    )
    .await;
    let d = app
        .admin(
            set,
            json!({ "i": { "campaignId": campaign, "action": "REQUIRE_CUSTOMER" } }),
        )
        .await;
    assert_eq!(d["setAbuseAction"]["action"], "REQUIRE_CUSTOMER");
    let stepped = create(
        &app,
        json!({ "name": "Stepped", "code": "STEPPED", "discount": { "percentage": "10" } }),
    )
    .await["id"]
        .clone();
    app.admin(
        set,
        json!({ "i": { "couponId": stepped, "action": "STEP_UP_LIMITS" } }),
    )
    .await;
    for n in 0..30 {
        assert_eq!(
            redeem("STRICT", n, json!({ "id": format!("s-{n}") })).await,
            "REDEEMED"
        );
        assert_eq!(
            redeem("STEPPED", n, json!({ "id": format!("t-{n}") })).await,
            "REDEEMED"
        );
    }
    assert_eq!(detect(&app.services, Utc::now()).await.unwrap().len(), 2);
    assert_eq!(
        redeem("STRICT", 30, json!({ "email": "anon@mail.test" })).await,
        "RULE_REJECTED"
    );
    assert_eq!(
        redeem("STRICT", 31, json!({ "id": "s-31" })).await,
        "REDEEMED"
    );
    assert_eq!(
        redeem("STEPPED", 40, json!({ "id": "t-0" })).await,
        "CUSTOMER_LIMIT_REACHED"
    );
    let open = app
        .admin(SIGNALS, json!({ "f": { "status": "OPEN" } }))
        .await["abuseSignals"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(open.len(), 2);
    for signal in &open {
        let d = app
            .admin(
                resolve,
                json!({ "i": { "id": signal["id"], "undo": true } }),
            )
            .await;
        assert_eq!(d["resolveAbuseSignal"]["undone"], true, "{d:#}");
    }
    assert_eq!(
        redeem("STRICT", 32, json!({ "email": "anon@mail.test" })).await,
        "REDEEMED"
    );
    assert_eq!(
        redeem("STEPPED", 41, json!({ "id": "t-0" })).await,
        "REDEEMED"
    );
}
both_backends!(automatic_actions_are_audited_and_reversible, super::quick());
