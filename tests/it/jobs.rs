//! Bulk code generation: unique codes of their pattern, refusals before anything is
//! written, progress over a real WebSocket, cancelling, failures, and a job taken over
//! from an instance that stopped holding it.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coupons::auth::Role;
use coupons::storage::{Actor, jobs};
use coupons_domain::CodePattern;
use coupons_domain::bulk::GenerateSpec;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::both_backends;
use crate::checkout::{REDEEM, error_codes, order, redeem_input};
use crate::coupons::create;
use crate::harness::{TestApp, start_job_worker};
use crate::subscriptions::{connect, next};

const GENERATE: &str = "mutation($i: GenerateCodesInput!) { generateCodes(input: $i) {
    job { id status total done kind usageLimit pattern { prefix suffix length charset checkCharacter } }
    userErrors { field code message } } }";
const JOB: &str = "query($id: ID!) { bulkJob(id: $id) { id status total done progress error cancelRequested startedAt finishedAt } }";
const CANCEL: &str = "mutation($id: ID!) { cancelBulkJob(input: { id: $id }) { job { id status cancelRequested } userErrors { field code message } } }";

async fn coupon(app: &TestApp, code: &str) -> Value {
    create(
        app,
        json!({ "name": code, "code": code, "discount": { "percentage": "10" } }),
    )
    .await
}

/// Queues a generation; returns the payload.
async fn generate(app: &TestApp, input: Value) -> Value {
    app.admin(GENERATE, json!({ "i": input })).await["generateCodes"].clone()
}

/// Polls the job until it has ended.
async fn finished(app: &TestApp, id: &Value) -> Value {
    for _ in 0..600 {
        let job = app.admin(JOB, json!({ "id": id })).await["bulkJob"].clone();
        if !matches!(job["status"].as_str(), Some("QUEUED" | "RUNNING")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job did not end within 30 s");
}

/// The codes of a coupon, read from the database.
async fn stored_codes(app: &TestApp, coupon: &Value) -> Vec<String> {
    let id = coupons::ids::decode_any(coupon["id"].as_str().unwrap())
        .unwrap()
        .1;
    app.codes(coupons_domain::CouponId(id), None, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.code)
        .collect()
}

async fn generated_codes_are_unique_and_match_their_pattern(app: TestApp) {
    let c = coupon(&app, "GENBASE").await;
    let made = generate(
        &app,
        json!({ "couponId": c["id"], "count": 3000,
            "pattern": { "prefix": "spr-", "suffix": "-26", "length": 8, "checkCharacter": true } }),
    )
    .await;
    assert_eq!(made["userErrors"], json!([]), "{made:#}");
    let job = &made["job"];
    assert_eq!(job["kind"], "GENERATE_CODES");
    assert_eq!(job["total"], 3000);
    assert_eq!(job["usageLimit"], 1, "single-use by default");
    assert_eq!(
        job["pattern"],
        json!({ "prefix": "SPR-", "suffix": "-26", "length": 8,
            "charset": coupons_domain::pattern::DEFAULT_CHARSET, "checkCharacter": true })
    );
    let done = finished(&app, &job["id"]).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}");
    assert_eq!(
        (done["done"].clone(), done["progress"].clone()),
        (json!(3000), json!(1.0))
    );
    assert!(done["finishedAt"].is_string());

    let codes = stored_codes(&app, &c).await;
    let generated: Vec<&String> = codes.iter().filter(|c| *c != "GENBASE").collect();
    assert_eq!(generated.len(), 3000);
    let unique: HashSet<&&String> = generated.iter().collect();
    assert_eq!(unique.len(), 3000, "all unique");
    let pattern = CodePattern::new("SPR-", "-26", 8, None, true).unwrap();
    for code in &generated {
        assert!(pattern.matches(code), "{code} matches its pattern");
    }
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM coupon_codes WHERE batch_id = {} AND usage_limit = 1",
            coupons::ids::decode_any(job["id"].as_str().unwrap())
                .unwrap()
                .1
        ))
        .await,
        3000
    );

    // Single-use: the second redemption of one code is refused.
    let code = generated[0];
    let first = app
        .admin(
            REDEEM,
            redeem_input(code, order("o1", "a@x.test", "10"), "k1"),
        )
        .await;
    assert!(first["redeemCoupon"]["redemption"].is_object(), "{first:#}");
    let second = app
        .admin(
            REDEEM,
            redeem_input(code, order("o2", "b@x.test", "10"), "k2"),
        )
        .await;
    assert_eq!(
        error_codes(&second["redeemCoupon"]),
        ["CODE_USAGE_LIMIT_REACHED"]
    );

    // One CODES_ADDED event for the job, one audit entry; the job is listed.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'CODES_ADDED'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'BULK_JOB_CREATED'")
            .await,
        1
    );
    let listed = app
        .admin(
            "query($c: ID) { bulkJobs(couponId: $c) { nodes { id } } node(id: \"QnVsa0pvYjox\") { id } }",
            json!({ "c": c["id"] }),
        )
        .await;
    assert_eq!(listed["bulkJobs"]["nodes"], json!([{ "id": job["id"] }]));
    assert_eq!(listed["node"]["id"], job["id"]);

    // Unlimited codes on request; an analyst reads jobs but cannot start one.
    let unlimited = generate(
        &app,
        json!({ "couponId": c["id"], "count": 10, "usageLimit": null, "pattern": { "length": 12 } }),
    )
    .await;
    assert_eq!(unlimited["job"]["usageLimit"], Value::Null);
    finished(&app, &unlimited["job"]["id"]).await;
    let analyst = app.key(Role::Analyst).await;
    let r = app
        .request(
            Some(&analyst),
            GENERATE,
            json!({ "i": { "couponId": c["id"], "count": 1, "pattern": {} } }),
        )
        .await;
    assert_eq!(r.error_code(), Some("FORBIDDEN"));
}
both_backends!(generated_codes_are_unique_and_match_their_pattern);

async fn bad_requests_are_refused_before_anything_is_written(app: TestApp) {
    let c = coupon(&app, "GENBAD").await;
    let refused = |r: &Value| -> Vec<(Value, String)> {
        r["userErrors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].clone(), e["code"].as_str().unwrap().to_owned()))
            .collect()
    };
    // Too small: 2^10 codes cannot hold 2 at 0.1%.
    let small = generate(
        &app,
        json!({ "couponId": c["id"], "count": 2, "pattern": { "length": 10, "charset": "AB" } }),
    )
    .await;
    assert_eq!(
        refused(&small),
        [(json!(["input", "pattern"]), "PATTERN_TOO_SMALL".into())]
    );
    assert!(
        small["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("lengthen the body"),
        "{small:#}"
    );
    let bad = generate(
        &app,
        json!({ "couponId": c["id"], "count": 0, "usageLimit": 0,
            "pattern": { "prefix": "a b", "length": 3, "charset": "ABC!" } }),
    )
    .await;
    assert_eq!(
        refused(&bad),
        [
            (json!(["input", "count"]), "OUT_OF_RANGE".into()),
            (json!(["input", "usageLimit"]), "INVALID_LIMIT".into()),
            (
                json!(["input", "pattern", "prefix"]),
                "INVALID_PATTERN".into()
            ),
        ]
    );
    let charset = generate(
        &app,
        json!({ "couponId": c["id"], "count": 5, "pattern": { "charset": "ABCDEFGHI", "checkCharacter": true } }),
    )
    .await;
    assert_eq!(
        refused(&charset),
        [(
            json!(["input", "pattern", "charset"]),
            "INVALID_PATTERN".into()
        )]
    );
    let missing = generate(
        &app,
        json!({ "couponId": "Q291cG9uOjk5OTk", "count": 5, "pattern": {} }),
    )
    .await;
    assert_eq!(
        refused(&missing),
        [(json!(["input", "couponId"]), "NOT_FOUND".into())]
    );
    assert_eq!(app.count("bulk_jobs").await, 0);
    assert_eq!(app.count("coupon_codes").await, 1);

    // Earlier generations of the same pattern count: 31^4 = 923,521 codes hold 923.
    let first = generate(
        &app,
        json!({ "couponId": c["id"], "count": 900, "pattern": { "length": 4 } }),
    )
    .await;
    assert_eq!(first["userErrors"], json!([]));
    finished(&app, &first["job"]["id"]).await;
    let second = generate(
        &app,
        json!({ "couponId": c["id"], "count": 100, "pattern": { "length": 4 } }),
    )
    .await;
    assert_eq!(
        refused(&second),
        [(json!(["input", "pattern"]), "PATTERN_TOO_SMALL".into())]
    );
    assert!(
        second["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("900 of them from earlier generations"),
        "{second:#}"
    );
    assert_eq!(app.count("bulk_jobs").await, 1);
    assert_eq!(app.count("coupon_codes").await, 901);
}
both_backends!(bad_requests_are_refused_before_anything_is_written);

const PROGRESS: &str = "subscription($id: ID!) { bulkJobProgress(id: $id) { status done total } }";

/// Progress arrives over a real WebSocket until the job ends; a cancelled job stops
/// with exactly the codes it counted.
async fn progress_is_followed_and_jobs_are_cancelled(app: TestApp) {
    let c = coupon(&app, "GENPROG").await;
    let made = generate(
        &app,
        json!({ "couponId": c["id"], "count": 20000, "pattern": { "length": 10 } }),
    )
    .await;
    let id = made["job"]["id"].clone();
    let base = app.base_url().await.to_owned();
    let mut socket = connect(&base, "graphql-transport-ws", &app.admin).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "p", "type": "subscribe", "payload": { "query": PROGRESS, "variables": { "id": id } } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let mut seen: Vec<(String, i64)> = Vec::new();
    loop {
        let m = next(&mut socket).await.expect("socket closed");
        if m["type"] == "complete" {
            break;
        }
        assert_eq!(m["type"], "next", "{m:#}");
        let p = &m["payload"]["data"]["bulkJobProgress"];
        assert_eq!(p["total"], 20000);
        seen.push((
            p["status"].as_str().unwrap().to_owned(),
            p["done"].as_i64().unwrap(),
        ));
    }
    assert!(seen.len() >= 2, "several updates: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1 && w[0] != w[1]),
        "progress only grows, each update differs: {seen:?}"
    );
    assert_eq!(seen.last().unwrap(), &("SUCCEEDED".to_owned(), 20000));

    // Cancel a long job while it runs.
    let long = generate(
        &app,
        json!({ "couponId": c["id"], "count": 1_000_000, "pattern": { "length": 12 } }),
    )
    .await;
    let long_id = long["job"]["id"].clone();
    for _ in 0..200 {
        let j = app.admin(JOB, json!({ "id": long_id })).await;
        if j["bulkJob"]["done"].as_i64().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled = app.admin(CANCEL, json!({ "id": long_id })).await;
    assert_eq!(cancelled["cancelBulkJob"]["userErrors"], json!([]));
    assert_eq!(cancelled["cancelBulkJob"]["job"]["cancelRequested"], true);
    let end = finished(&app, &long_id).await;
    assert_eq!(end["status"], "CANCELLED", "{end:#}");
    let done = end["done"].as_i64().unwrap();
    assert!(done > 0 && done < 1_000_000, "{end:#}");
    let n = coupons::ids::decode_any(long_id.as_str().unwrap())
        .unwrap()
        .1;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM coupon_codes WHERE batch_id = {n}"
        ))
        .await,
        done,
        "the codes written are exactly those counted"
    );
    let again = app.admin(CANCEL, json!({ "id": long_id })).await;
    assert_eq!(
        again["cancelBulkJob"]["userErrors"][0]["code"],
        "JOB_FINISHED"
    );
}
both_backends!(progress_is_followed_and_jobs_are_cancelled);

/// A job whose instance stopped renewing its lease is taken over where it stopped and
/// completed exactly; a job whose pattern cannot be used fails with a clear error.
async fn jobs_are_taken_over_and_failures_are_told(app: TestApp) {
    let c = coupon(&app, "GENTAKE").await;
    let coupon_id = coupons::ids::decode_any(c["id"].as_str().unwrap())
        .unwrap()
        .1;
    let pattern = CodePattern::new("T-", "", 10, None, false).unwrap();
    let spec = GenerateSpec::new(&pattern, Some(1));
    let actor = Actor::system("test");
    let now = Utc::now();
    // A "dead" instance takes the job (this app has no worker yet), writes one chunk,
    // then stops renewing its 1 s lease.
    let queue = async |spec: &GenerateSpec, count: i64| {
        let (actor, now) = (&actor, Utc::now());
        app.db
            .write(async move |mut c| {
                jobs::insert_generate_job(&mut c, coupon_id, spec, count, actor, now).await
            })
            .await
    };
    let write_chunk = async |job_id: i64, chunk: &[String]| {
        let (lease, now) = (TimeDelta::seconds(1), Utc::now());
        coupons::service::jobs::write_chunk(&app.db, job_id, "dead", chunk, lease, now).await
    };
    let job = queue(&spec, 2500).await.unwrap().unwrap();
    let claimed = app
        .db
        .write(async |mut c| jobs::claim_job(&mut c, "dead", TimeDelta::seconds(1), now).await)
        .await
        .unwrap()
        .expect("the job is free");
    assert_eq!(claimed.id, job.id);
    let chunk = coupons::jobs::generate(&pattern, 1000);
    let wrote = write_chunk(job.id, &chunk).await.unwrap();
    assert_eq!(
        wrote,
        coupons::storage::Chunk::Stored {
            inserted: 1000,
            complete: false
        }
    );
    // This instance's worker starts; after the lease runs out it takes the job over.
    let _worker = start_job_worker(&app.db, &Default::default());
    let id = coupons::ids::encode(coupons::ids::Kind::BulkJob, job.id);
    let end = finished(&app, &json!(id)).await;
    assert_eq!(end["status"], "SUCCEEDED", "{end:#}");
    assert_eq!(end["done"], 2500);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM coupon_codes WHERE batch_id = {}",
            job.id
        ))
        .await,
        2500
    );
    // The dead instance comes back: its lease is gone, it writes nothing.
    let late = write_chunk(job.id, &chunk).await.unwrap();
    assert_eq!(late, coupons::storage::Chunk::LeaseLost);

    // A stored pattern that cannot be used: the job fails and says why.
    let broken = GenerateSpec { length: 2, ..spec };
    let job = queue(&broken, 10).await.unwrap().unwrap();
    let id = coupons::ids::encode(coupons::ids::Kind::BulkJob, job.id);
    let end = finished(&app, &json!(id)).await;
    assert_eq!(end["status"], "FAILED");
    assert_eq!(end["done"], 0);
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .starts_with("the job's pattern is not usable: the length must be 4 to 32"),
        "{end:#}"
    );
}
both_backends!(
    jobs_are_taken_over_and_failures_are_told,
    crate::harness::Options {
        without_job_worker: true,
        ..Default::default()
    }
);
