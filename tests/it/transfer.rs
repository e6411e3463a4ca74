//! CSV export and import over real HTTP and through the real binary: exports stream
//! every row (across several pages), imports write all rows or none and report every
//! bad row by its line.

use std::collections::HashSet;
use std::time::Duration;

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{REDEEM, REVERSE, order, redeem_input};
use crate::cli::run;
use crate::coupons::create;
use crate::harness::TestApp;

/// GET or POST `path` over real HTTP with `key`; (status, body).
async fn call(app: &TestApp, key: Option<&str>, path: &str, body: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", app.base_url().await);
    let mut request = match body {
        Some(b) => client.post(url).body(b.to_owned()),
        None => client.get(url),
    };
    if let Some(k) = key {
        request = request.bearer_auth(k);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn records(text: &str) -> Vec<Vec<String>> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn header(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

async fn finish_job(app: &TestApp, id: &Value) {
    for _ in 0..600 {
        let j = app
            .admin(
                "query($id: ID!) { bulkJob(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await;
        if j["bulkJob"]["status"] == "SUCCEEDED" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job did not finish");
}

async fn exports_stream_every_row(app: TestApp) {
    let coupon = create(
        &app,
        json!({ "name": "Export", "code": "EXPORT-1", "discount": { "percentage": "10" } }),
    )
    .await;
    let id = coupon["id"].as_str().unwrap().to_owned();
    // 12,000 generated codes: more than two pages of 5,000.
    let job = app
        .admin(
            "mutation($c: ID!) { generateCodes(input: { couponId: $c, count: 12000, pattern: { prefix: \"EX-\", length: 10 } }) { job { id } } }",
            json!({ "c": id }),
        )
        .await;
    finish_job(&app, &job["generateCodes"]["job"]["id"]).await;

    let (status, text) = call(
        &app,
        Some(&app.admin),
        &format!("/export/codes.csv?coupon={id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&text),
        "code,usage_limit,redemption_count,reserved_count,active,batch_id,created_at"
    );
    let rows = records(&text);
    assert_eq!(rows.len(), 12_001);
    let exported: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(exported.len(), 12_001, "each code once");
    assert!(exported.contains("EXPORT-1"));
    let stored: HashSet<String> = app
        .codes(
            coupons_domain::CouponId(coupons::ids::decode_any(&id).unwrap().1),
            None,
            i64::MAX,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.code)
        .collect();
    assert_eq!(
        exported,
        stored.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    let generated = rows.iter().find(|r| r[0].starts_with("EX-")).unwrap();
    assert_eq!(
        (generated[1].as_str(), generated[4].as_str()),
        ("1", "true")
    );

    // The CLI writes the same bytes.
    let (ok, out, err) = run(&["export", "codes", "--coupon", &id], app.database_url());
    assert!(ok, "{err}");
    assert_eq!(out, text);

    // Redemptions: by coupon, by campaign, by time range; amounts are decimals.
    let campaign = app
        .admin(
            "mutation { createCampaign(input: { name: \"Exported\" }) { campaign { id } } }",
            json!({}),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    app.admin(
        "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { userErrors { code } } }",
        json!({ "c": id, "k": campaign }),
    )
    .await;
    let mut made = Vec::new();
    for n in 0..5 {
        let r = app
            .admin(
                REDEEM,
                redeem_input(
                    "EXPORT-1",
                    order(&format!("o{n}"), &format!("c{n}@x.test"), "19.99"),
                    &format!("k{n}"),
                ),
            )
            .await;
        made.push(r["redeemCoupon"]["redemption"]["id"].clone());
    }
    app.admin(
        REVERSE,
        json!({ "input": { "redemptionId": made[0], "refundedDiscount": "0.50", "idempotencyKey": "rev" } }),
    )
    .await;
    let (status, text) = call(
        &app,
        Some(&app.admin),
        &format!(
            "/export/redemptions.csv?campaign={}",
            campaign.as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&text),
        "id,coupon_id,campaign_id,code,status,order_id,customer_key,email_domain,channel,currency,subtotal,discount,refunded,created_at,reserved_at,redeemed_at,closed_at"
    );
    let rows = records(&text);
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows.iter().map(|r| r[5].as_str()).collect::<Vec<_>>(),
        ["o0", "o1", "o2", "o3", "o4"],
        "oldest first"
    );
    assert_eq!(
        (
            rows[0][4].as_str(),
            rows[0][10].as_str(),
            rows[0][11].as_str(),
            rows[0][12].as_str()
        ),
        ("PARTIALLY_REVERSED", "19.99", "2.00", "0.50")
    );
    assert_eq!(rows[1][7], "x.test");
    assert!(!text.contains("@x.test"), "no e-mail address is exported");
    assert_eq!(rows[1][6].len(), 64, "customers appear as keyed hashes");
    let future = call(
        &app,
        Some(&app.admin),
        &format!("/export/redemptions.csv?coupon={id}&since=2999-01-01T00:00:00Z"),
        None,
    )
    .await;
    assert_eq!(records(&future.1).len(), 0);
    let (ok, out, err) = run(
        &[
            "export",
            "redemptions",
            "--coupon",
            &id,
            "--until",
            "2999-01-01T00:00:00Z",
        ],
        app.database_url(),
    );
    assert!(ok, "{err}");
    assert_eq!(records(&out).len(), 5);

    // Who may export; bad parameters.
    let analyst = app.key(Role::Analyst).await;
    let storefront = app.key(Role::Storefront).await;
    let path = format!("/export/codes.csv?coupon={id}");
    assert_eq!(call(&app, Some(&analyst), &path, None).await.0, 200);
    let (status, body) = call(&app, Some(&storefront), &path, None).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    assert_eq!(call(&app, None, &path, None).await.0, 401);
    assert_eq!(call(&app, Some("cpn_wrong"), &path, None).await.0, 401);
    assert_eq!(
        call(&app, Some(&app.admin), "/export/codes.csv", None)
            .await
            .0,
        400
    );
    assert_eq!(
        call(
            &app,
            Some(&app.admin),
            "/export/codes.csv?coupon=Q291cG9uOjk5OTk",
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Some(&app.admin),
            "/export/redemptions.csv?since=yesterday",
            None
        )
        .await
        .0,
        400
    );
}
both_backends!(exports_stream_every_row);

async fn imports_write_all_rows_or_none(app: TestApp) {
    let coupon = create(
        &app,
        json!({ "name": "Import", "code": "TAKEN-1", "discount": { "percentage": "10" } }),
    )
    .await;
    let id = coupon["id"].as_str().unwrap().to_owned();
    let path = format!("/import/codes.csv?coupon={id}");
    let before = app.count("coupon_codes").await;

    let bad = "code,usage_limit,active\n\
               good-1,,\n\
               no spaces!,1,true\n\
               GOOD-2,0,\n\
               good-1,2,false\n\
               taken-1,,\n\
               GOOD-3,,maybe\n";
    let (status, body) = call(&app, Some(&app.admin), &path, Some(bad)).await;
    assert_eq!(status, 422, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["imported"], 0);
    let got: Vec<(u64, String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (3, "code".into(), "INVALID_CODE".into()),
            (4, "usage_limit".into(), "INVALID_LIMIT".into()),
            (5, "code".into(), "DUPLICATE_CODE".into()),
            (6, "code".into(), "CODE_TAKEN".into()),
            (7, "active".into(), "INVALID_BOOLEAN".into()),
        ],
        "{report:#}"
    );
    assert!(
        report["errors"][2]["message"]
            .as_str()
            .unwrap()
            .contains("line 2")
    );
    assert_eq!(app.count("coupon_codes").await, before, "nothing written");

    let unknown = call(
        &app,
        Some(&app.admin),
        &path,
        Some("code,colour\nA-1,red\n"),
    )
    .await;
    assert_eq!(unknown.0, 422);
    assert!(unknown.1.contains("UNKNOWN_COLUMN"), "{}", unknown.1);
    let empty = call(&app, Some(&app.admin), &path, Some("code\n")).await;
    assert_eq!(empty.0, 422);
    assert_eq!(app.count("coupon_codes").await, before);

    // A good file: trimmed, upper-cased, with limits and switched-off codes.
    let good = "Code,Usage_Limit,Active\n fresh-1 ,1,\nfresh-2,,false\nFRESH-3,5,true\n";
    let (status, body) = call(&app, Some(&app.admin), &path, Some(good)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"imported":3}"#));
    let codes = app
        .admin(
            "query($id: ID!) { coupon(id: $id) { codes(first: 10) { nodes { code usageLimit active } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        codes["coupon"]["codes"]["nodes"],
        json!([
            { "code": "TAKEN-1", "usageLimit": null, "active": true },
            { "code": "FRESH-1", "usageLimit": 1, "active": true },
            { "code": "FRESH-2", "usageLimit": null, "active": false },
            { "code": "FRESH-3", "usageLimit": 5, "active": true },
        ])
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'CODES_IMPORTED'")
            .await,
        1
    );
    // Only admins import.
    let analyst = app.key(Role::Analyst).await;
    assert_eq!(call(&app, Some(&analyst), &path, Some(good)).await.0, 403);

    // The CLI: a bad file prints every bad row and exits 1; a good one imports.
    let dir = std::env::temp_dir().join(format!("coupons-import-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_file = dir.join("bad.csv");
    std::fs::write(&bad_file, "code\nfresh-1\ncli-1\ncli 2\n").unwrap();
    let (ok, out, _) = run(
        &[
            "import",
            "codes",
            "--coupon",
            &id,
            bad_file.to_str().unwrap(),
        ],
        app.database_url(),
    );
    assert!(!ok);
    assert!(out.contains("Nothing imported: 2 row(s)"), "{out}");
    assert!(
        out.contains("line 2, code: FRESH-1 is already in use (CODE_TAKEN)"),
        "{out}"
    );
    assert!(out.contains("line 4, code:"), "{out}");
    let good_file = dir.join("good.csv");
    let many: String = (0..2000).map(|n| format!("CLI-{n:05}\n")).collect();
    std::fs::write(&good_file, format!("code\n{many}")).unwrap();
    let (ok, out, err) = run(
        &[
            "import",
            "codes",
            "--coupon",
            &id,
            good_file.to_str().unwrap(),
        ],
        app.database_url(),
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("Imported 2000 code(s)."), "{out}");
    assert_eq!(app.count("coupon_codes").await, before + 3 + 2000);
    std::fs::remove_dir_all(&dir).unwrap();
}
both_backends!(imports_write_all_rows_or_none);
