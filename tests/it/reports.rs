//! Reports equal figures computed independently from the rows: a few thousand
//! redemptions, reservations, releases and reversals over four days, in two currencies
//! and three channels, aggregated here in Rust from the CSV export and compared with
//! `couponReport` and `campaignReport`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::checkout::{RELEASE, RESERVE, REVERSE, VALIDATE};
use crate::coupons::create;
use crate::harness::{Backend, TestApp};

const REPORT: &str = "query($c: ID!, $from: DateTime!, $to: DateTime!, $b: ReportBucket!) {
  couponReport(couponId: $c, from: $from, to: $to, bucket: $b) { ...R } }
  fragment R on Report { codesIssued validationAttempts validationOutcomes { outcome attempts }
    reservations uniqueCustomers codesRedeemed redemptionRate
    totals { redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency } }
    series { start figures { redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency } } }
    channels { channel figures { redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency } } } }";
const CAMPAIGN_REPORT: &str = "query($c: ID!, $from: DateTime!, $to: DateTime!, $b: ReportBucket!) {
  campaignReport(campaignId: $c, from: $from, to: $to, bucket: $b) { ...R } }
  fragment R on Report { codesIssued validationAttempts validationOutcomes { outcome attempts }
    reservations uniqueCustomers codesRedeemed redemptionRate
    totals { redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency } }
    series { start figures { redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency } } }
    channels { channel figures { redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency } } } }";
const REDEEM: &str = "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id } userErrors { code } } }";

/// One exported redemption, as the test reads it.
#[derive(Debug)]
struct Row {
    coupon: String,
    campaign: String,
    status: String,
    customer: String,
    channel: String,
    currency: String,
    subtotal: i64,
    discount: i64,
    refunded: i64,
    reserved_at: Option<DateTime<Utc>>,
    redeemed_at: Option<DateTime<Utc>>,
    code: String,
}

fn cents(amount: &str) -> i64 {
    let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
    whole.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}").parse::<i64>().unwrap()
}

fn instant(s: &str) -> Option<DateTime<Utc>> {
    (!s.is_empty()).then(|| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

async fn rows(app: &TestApp) -> Vec<Row> {
    let client = reqwest::Client::new();
    let text = client
        .get(format!("{}/export/redemptions.csv", app.base_url().await))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            Row {
                coupon: r[1].to_owned(),
                campaign: r[2].to_owned(),
                code: r[3].to_owned(),
                status: r[4].to_owned(),
                customer: r[6].to_owned(),
                channel: r[8].to_owned(),
                currency: r[9].to_owned(),
                subtotal: cents(&r[10]),
                discount: cents(&r[11]),
                refunded: cents(&r[12]),
                reserved_at: instant(&r[14]),
                redeemed_at: instant(&r[15]),
            }
        })
        .collect()
}

/// Sums per currency, as the API lists money: `[{amount, currency}]` in currency order.
fn money(per_currency: &BTreeMap<String, i64>) -> Value {
    Value::Array(
        per_currency
            .iter()
            .map(|(c, minor)| json!({ "amount": format!("{}.{:02}", minor / 100, minor % 100), "currency": c }))
            .collect(),
    )
}

/// The figures of `rows`, as the API shows them.
fn figures<'a>(rows: impl Iterator<Item = &'a &'a Row>) -> Value {
    let (mut n, mut reversed) = (0, 0);
    let (mut discount, mut value) = (BTreeMap::new(), BTreeMap::new());
    for r in rows {
        n += 1;
        if r.status == "REVERSED" || r.status == "PARTIALLY_REVERSED" {
            reversed += 1;
        }
        *discount.entry(r.currency.clone()).or_insert(0) += r.discount - r.refunded;
        *value.entry(r.currency.clone()).or_insert(0) += r.subtotal;
    }
    json!({ "redemptions": n, "reversals": reversed, "totalDiscount": money(&discount), "totalOrderValue": money(&value) })
}

/// The report `rows` make for `[from, to)` in hourly buckets (the validation and code
/// figures are checked separately).
fn expected(rows: &[&Row], from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let redeemed: Vec<&Row> = rows
        .iter()
        .copied()
        .filter(|r| r.redeemed_at.is_some_and(|t| t >= from && t < to))
        .collect();
    let reservations = rows
        .iter()
        .filter(|r| r.reserved_at.is_some_and(|t| t >= from && t < to))
        .count();
    let customers: HashSet<&str> = redeemed
        .iter()
        .filter(|r| !r.customer.is_empty())
        .map(|r| r.customer.as_str())
        .collect();
    let codes: HashSet<&str> = redeemed.iter().map(|r| r.code.as_str()).collect();
    let mut series: BTreeMap<DateTime<Utc>, Vec<&Row>> = BTreeMap::new();
    let mut channels: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &redeemed {
        let hour = r
            .redeemed_at
            .unwrap()
            .duration_trunc(Duration::hours(1))
            .unwrap();
        series.entry(hour).or_default().push(r);
        channels.entry(r.channel.clone()).or_default().push(r);
    }
    json!({
        "reservations": reservations,
        "uniqueCustomers": customers.len(),
        "codesRedeemed": codes.len(),
        "totals": figures(redeemed.iter()),
        "series": series.iter().map(|(start, rows)| json!({
            "start": start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "figures": figures(rows.iter()),
        })).collect::<Vec<_>>(),
        "channels": channels.iter().map(|(channel, rows)| json!({
            "channel": if channel.is_empty() { Value::Null } else { json!(channel) },
            "figures": figures(rows.iter()),
        })).collect::<Vec<_>>(),
    })
}

/// Moves every row's instants back by a pseudo-random 0 to 95 hours (per row id), so the
/// redemptions spread over four days.
async fn spread(app: &TestApp, backend: Backend) {
    let shift = "((id * 7919) % 96)";
    let sql = match backend {
        Backend::Postgres => format!(
            "UPDATE redemptions SET created_at = created_at - make_interval(hours => CAST({shift} AS INT)), \
             reserved_at = reserved_at - make_interval(hours => CAST({shift} AS INT)), \
             redeemed_at = redeemed_at - make_interval(hours => CAST({shift} AS INT))"
        ),
        Backend::Sqlite => {
            let moved = |c: &str| {
                format!(
                    "{c} = strftime('%Y-%m-%d %H:%M:%f+00:00', {c}, '-' || {shift} || ' hours')"
                )
            };
            format!(
                "UPDATE redemptions SET {}, {}, {}",
                moved("created_at"),
                moved("reserved_at"),
                moved("redeemed_at")
            )
        }
    };
    app.sql(&sql).await;
}

async fn reports_equal_the_rows(app: TestApp, backend: Backend) {
    let campaign = app
        .admin(
            "mutation { createCampaign(input: { name: \"Reported\" }) { campaign { id } } }",
            json!({}),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let a = create(
        &app,
        json!({ "name": "A", "code": "REP-A", "discount": { "percentage": "10" } }),
    )
    .await;
    let b = create(&app, json!({ "name": "B", "code": "REP-B", "discount": { "amount": { "amount": "5", "currency": "USD" } } })).await;
    let outside = create(
        &app,
        json!({ "name": "C", "code": "REP-C", "discount": { "percentage": "20" } }),
    )
    .await;
    for c in [&a, &b] {
        app.admin(
            "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { userErrors { code } } }",
            json!({ "c": c["id"], "k": campaign }),
        )
        .await;
    }
    let codes = app
        .admin(
            "mutation($c: ID!) { addCodes(input: { couponId: $c, codes: [\"REP-A2\", \"REP-A3\", \"REP-A4\"] }) { userErrors { code } } }",
            json!({ "c": a["id"] }),
        )
        .await;
    assert_eq!(codes["addCodes"]["userErrors"], json!([]));

    // 2,400 checkouts from 8 tasks: redemptions, reservations (redeemed, released or
    // left), over three coupons, two currencies, three channels, 300 customers.
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(t as u64);
                let mut reservations = Vec::new();
                for i in 0..300 {
                    let n = t * 1000 + i;
                    let (code, currency) = match rng.random_range(0..10) {
                        0..=4 => (["REP-A", "REP-A2", "REP-A3", "REP-A4"][rng.random_range(0..4)], if rng.random_bool(0.5) { "USD" } else { "EUR" }),
                        5..=7 => ("REP-B", "USD"),
                        _ => ("REP-C", "USD"),
                    };
                    let channel = [json!("web"), json!("app"), Value::Null][rng.random_range(0..3)].clone();
                    let order = json!({ "id": format!("o{n}"), "currency": currency,
                        "subtotal": format!("{}.{:02}", rng.random_range(10..200), rng.random_range(0..100)),
                        "customer": { "id": format!("cust-{}", rng.random_range(0..300)) }, "channel": channel });
                    if rng.random_bool(0.2) {
                        let r = app.admin(RESERVE, json!({ "input": { "code": code, "order": order, "idempotencyKey": format!("r{n}") } })).await;
                        reservations.push(r["reserveCoupon"]["reservation"]["id"].clone());
                    } else {
                        app.admin(REDEEM, json!({ "input": { "code": code, "order": order, "idempotencyKey": format!("k{n}") } })).await;
                    }
                }
                for (i, id) in reservations.iter().enumerate() {
                    match i % 4 {
                        0 | 1 => {
                            app.admin(REDEEM, json!({ "input": { "reservationId": id, "idempotencyKey": format!("rr{t}-{i}") } })).await;
                        }
                        2 => {
                            app.admin(RELEASE, json!({ "id": id })).await;
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Reverse every 10th redemption: in full, or 1.00 of it.
    let redeemed = app
        .admin(
            "{ redemptions(first: 100, filter: { status: REDEEMED }) { nodes { id } } }",
            json!({}),
        )
        .await;
    for (i, r) in redeemed["redemptions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .step_by(10)
    {
        let refund = if i % 20 == 0 {
            Value::Null
        } else {
            json!("1.00")
        };
        app.admin(REVERSE, json!({ "input": { "redemptionId": r["id"], "refundedDiscount": refund, "idempotencyKey": format!("rev{i}") } })).await;
    }
    // Validation attempts: 7 valid, 4 in the wrong currency, on coupon B.
    for n in 0..11 {
        let currency = if n < 7 { "USD" } else { "EUR" };
        app.admin(VALIDATE, json!({ "input": { "code": "REP-B", "order": { "id": format!("v{n}"), "currency": currency, "subtotal": "50" } } })).await;
    }
    app.attempts.flush(&app.db).await.unwrap();
    spread(&app, backend).await;

    let all = rows(&app).await;
    assert!(all.len() > 2_000, "{}", all.len());
    let now = Utc::now();
    let from = (now - Duration::hours(60))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let to = now + Duration::hours(1);
    let id_of = |v: &Value| {
        coupons::ids::decode_any(v.as_str().unwrap())
            .unwrap()
            .1
            .to_string()
    };
    let vars = |id: &Value| json!({ "c": id, "from": from.to_rfc3339(), "to": to.to_rfc3339(), "b": "HOUR" });
    let pick = |report: &Value| {
        json!({
            "reservations": report["reservations"], "uniqueCustomers": report["uniqueCustomers"],
            "codesRedeemed": report["codesRedeemed"], "totals": report["totals"],
            "series": report["series"], "channels": report["channels"],
        })
    };

    // Each coupon.
    for coupon in [&a, &b, &outside] {
        let mine: Vec<&Row> = all
            .iter()
            .filter(|r| r.coupon == id_of(&coupon["id"]))
            .collect();
        let report = app.admin(REPORT, vars(&coupon["id"])).await["couponReport"].clone();
        let want = expected(&mine, from, to);
        assert_eq!(pick(&report), want, "coupon {}", coupon["id"]);
        assert!(
            want["series"].as_array().unwrap().len() > 40,
            "spread over many hours"
        );
        let total_codes = if coupon["id"] == a["id"] { 4.0 } else { 1.0 };
        assert_eq!(
            report["redemptionRate"].as_f64().unwrap(),
            want["codesRedeemed"].as_f64().unwrap() / total_codes
        );
        assert_eq!(
            report["codesIssued"],
            if coupon["id"] == a["id"] { 4 } else { 1 }
        );
    }
    // Coupon B's validation attempts.
    let report = app.admin(REPORT, vars(&b["id"])).await["couponReport"].clone();
    assert_eq!(report["validationAttempts"], 11);
    assert_eq!(
        report["validationOutcomes"],
        json!([{ "outcome": "CURRENCY_MISMATCH", "attempts": 4 }, { "outcome": "VALID", "attempts": 7 }])
    );

    // The campaign: the redemptions made under it (coupons A and B), in daily buckets too.
    let mine: Vec<&Row> = all
        .iter()
        .filter(|r| r.campaign == id_of(&campaign))
        .collect();
    assert!(mine.iter().all(|r| r.coupon != id_of(&outside["id"])));
    let report = app.admin(CAMPAIGN_REPORT, vars(&campaign)).await["campaignReport"].clone();
    assert_eq!(pick(&report), expected(&mine, from, to));
    assert_eq!(report["codesIssued"], 5);
    assert_eq!(report["validationAttempts"], 11);
    let daily = app
        .admin(
            CAMPAIGN_REPORT,
            json!({ "c": campaign, "from": from.to_rfc3339(), "to": to.to_rfc3339(), "b": "DAY" }),
        )
        .await["campaignReport"]
        .clone();
    let per_day: i64 = daily["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let start = DateTime::parse_from_rfc3339(p["start"].as_str().unwrap()).unwrap();
            assert_eq!(
                start.time(),
                chrono::NaiveTime::MIN,
                "days start at midnight UTC"
            );
            p["figures"]["redemptions"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(per_day, report["totals"]["redemptions"].as_i64().unwrap());

    // Bad ranges; unknown ids; analysts may read reports.
    let reversed = app
        .request(
            Some(&app.admin),
            REPORT,
            json!({ "c": a["id"], "from": to.to_rfc3339(), "to": from.to_rfc3339(), "b": "DAY" }),
        )
        .await;
    assert_eq!(reversed.error_code(), Some("BAD_USER_INPUT"));
    let long = app
        .request(Some(&app.admin), REPORT, json!({ "c": a["id"], "from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z", "b": "HOUR" }))
        .await;
    assert_eq!(long.error_code(), Some("BAD_USER_INPUT"));
    let missing = app.admin(REPORT, vars(&json!("Q291cG9uOjk5OTk5"))).await;
    assert_eq!(missing["couponReport"], Value::Null);
    let analyst = app.key(coupons::auth::Role::Analyst).await;
    let r = app.request(Some(&analyst), REPORT, vars(&a["id"])).await;
    assert!(r.data()["couponReport"].is_object());
}

/// `reports_equal_the_rows` on each backend (it needs to know which, to spread the rows).
mod cases {
    use crate::harness::{Backend, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) = TestApp::with(Backend::Sqlite, Default::default()).await {
            super::reports_equal_the_rows(app, Backend::Sqlite).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = TestApp::with(Backend::Postgres, Default::default()).await {
            super::reports_equal_the_rows(app, Backend::Postgres).await;
        }
    }
}
