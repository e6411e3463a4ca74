//! `GET /metrics` on the real binary: who may read it, what it counts, that `promtool`
//! accepts it, and that a real Prometheus scrapes it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::checkout::{REDEEM, RESERVE, VALIDATE, order, redeem_input};
use crate::harness::{Backend, TestDatabase};
use crate::process::Process;

const ADMIN: &str = "cpn_metrics_admin_key_for_the_scrape_tests";

/// Whether a tool is installed; under `CI=true` it must be (`.ci/run` installs it).
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs {tool} (Debian's prometheus package)"
        );
        eprintln!("NOTICE: skipping the {tool} part: install Debian's prometheus package");
    }
    found
}

/// The value of the sample `name{labels}` (labels as written, in order), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

async fn get(url: &str, key: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Runs checkouts with known results, then reads `/metrics` as an admin (an analyst key
/// and no key are refused; the separate scrape address needs no key) and finds each
/// result counted under its reason, the discount under its currency, the live
/// reservation, the pool and rule figures; `promtool check metrics` passes on the text;
/// and a real Prometheus scraping the binary reads the checkout counter.
async fn metrics_count_what_happened(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let server = Process::start(
        &db.url,
        &[
            ("COUPONS_ADMIN_KEY", ADMIN),
            ("COUPONS_METRICS_BIND", "127.0.0.1:0"),
        ],
    );
    let scrape_addr = server
        .output()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Metrics:  http://")?
                .split('/')
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no metrics address printed: {}", server.output()));
    let created = server
        .graphql(
            ADMIN,
            "mutation { createCoupon(input: { name: \"Ten\", code: \"TEN\", discount: { amount: { amount: \"10\", currency: \"USD\" } }, minSubtotal: { amount: \"20\", currency: \"USD\" } }) { coupon { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert!(
        created["data"]["createCoupon"]["coupon"]["id"].is_string(),
        "{created:#}"
    );
    let ask = async |q: &str, v: Value| server.graphql(ADMIN, q, v).await;
    for (i, subtotal) in ["50", "60", "70"].iter().enumerate() {
        let o = order(&format!("o{i}"), &format!("c{i}@x.test"), subtotal);
        let d = ask(REDEEM, redeem_input("TEN", o, &format!("k{i}"))).await;
        assert_eq!(
            d["data"]["redeemCoupon"]["redemption"]["status"], "REDEEMED",
            "{d:#}"
        );
    }
    let small = order("o-small", "s@x.test", "5");
    let d = ask(REDEEM, redeem_input("TEN", small.clone(), "k-small")).await;
    assert_eq!(
        d["data"]["redeemCoupon"]["redemption"],
        Value::Null,
        "{d:#}"
    );
    let d = ask(
        VALIDATE,
        json!({ "input": { "code": "NOPE", "order": small } }),
    )
    .await;
    assert_eq!(d["data"]["validateCoupon"]["valid"], false);
    let mut hold = redeem_input("TEN", order("o-hold", "h@x.test", "40"), "k-hold");
    hold["input"]["holdMinutes"] = json!(10);
    let d = ask(RESERVE, hold).await;
    assert_eq!(
        d["data"]["reserveCoupon"]["reservation"]["status"], "RESERVED",
        "{d:#}"
    );

    let url = format!("{}/metrics", server.base);
    let analyst = ask(
        "mutation { createApiKey(input: { name: \"a\", role: ANALYST }) { secret } }",
        json!({}),
    )
    .await["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(get(&url, None).await.0, 401);
    assert_eq!(get(&url, Some(&analyst)).await.0, 403);
    let (status, text) = get(&url, Some(ADMIN)).await;
    assert_eq!(status, 200, "{text}");
    let (status, scraped) = get(&format!("http://{scrape_addr}/metrics"), None).await;
    assert_eq!(status, 200, "{scraped}");

    let redeemed = r#"coupons_checkouts_total{action="redeem",result="applied",reason=""}"#;
    assert_eq!(sample(&text, redeemed), Some(3.0), "{text}");
    let too_small = r#"coupons_checkouts_total{action="redeem",result="rejected",reason="MIN_SUBTOTAL_NOT_MET"}"#;
    assert_eq!(sample(&text, too_small), Some(1.0), "{text}");
    let unknown =
        r#"coupons_checkouts_total{action="validate",result="rejected",reason="NOT_FOUND"}"#;
    assert_eq!(sample(&text, unknown), Some(1.0), "{text}");
    let held = r#"coupons_checkouts_total{action="reserve",result="applied",reason=""}"#;
    assert_eq!(sample(&text, held), Some(1.0), "{text}");
    let granted = r#"coupons_discount_granted_minor_total{currency="USD"}"#;
    assert_eq!(sample(&text, granted), Some(3000.0), "{text}");
    assert_eq!(
        sample(&text, "coupons_reservations_live"),
        Some(1.0),
        "{text}"
    );
    let ops = r#"coupons_graphql_operations_total{operation="redeemCoupon",outcome="ok"}"#;
    assert_eq!(sample(&text, ops), Some(4.0), "{text}");
    let route = r#"coupons_http_requests_total{route="/graphql",status="200"}"#;
    assert!(sample(&text, route).is_some_and(|n| n >= 6.0), "{text}");
    assert!(
        sample(&text, "coupons_db_pool_max_connections").is_some_and(|n| n > 0.0),
        "{text}"
    );
    for family in [
        "coupons_http_request_duration_seconds_bucket",
        "coupons_graphql_operation_duration_seconds_count",
        "coupons_rule_evaluation_duration_seconds_count",
        "coupons_rule_failures_total",
        "coupons_limiter_throttled_total",
        "coupons_webhook_backlog",
        "coupons_event_relay_lag_events",
        "coupons_bulk_job_items_left",
        "coupons_db_pool_connections_in_use",
        "coupons_db_pool_waiting",
    ] {
        assert!(text.contains(family), "{family} missing: {text}");
    }
    // Made-up field names never become series.
    ask("{ noSuchField }", json!({})).await;
    let (_, text) = get(&url, Some(ADMIN)).await;
    assert!(!text.contains("noSuchField"), "{text}");

    if have("promtool") {
        let mut check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut check.stdin.take().unwrap(), text.as_bytes()).unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dashboard = dashboard_queries();
    for query in &dashboard {
        for name in query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("coupons_"))
        {
            assert!(
                text.contains(name),
                "the dashboard asks for {name}, not served"
            );
        }
    }
    if have("prometheus") {
        let mut queries =
            vec!["coupons_checkouts_total{action=\"redeem\",result=\"applied\"}".to_owned()];
        queries.extend(dashboard);
        let answers = scraped_by_prometheus(&scrape_addr, &queries).await;
        assert_eq!(answers[0]["data"]["result"][0]["value"][1], "3");
        for (query, answer) in queries.iter().zip(&answers) {
            assert_eq!(answer["status"], "success", "{query}: {answer}");
        }
    }
}

/// Every query of the Grafana dashboard in `docs/`, with Grafana's interval variable
/// set to one minute.
fn dashboard_queries() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| {
            t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
        })
        .collect();
    assert!(queries.len() >= 10);
    queries
}

/// Runs a real Prometheus that scrapes `target` every second; once the first query has
/// a value, the answers of Prometheus's query API to every query.
async fn scraped_by_prometheus(target: &str, queries: &[String]) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("coupons-prometheus-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: coupons\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ask = async |query: &str| -> Option<Value> {
        let answer = client
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
            .ok()?;
        answer.json::<Value>().await.ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let first = ask(&queries[0]).await;
        if first.is_some_and(|a| a["data"]["result"][0]["value"][1].is_string()) {
            break;
        }
        if Instant::now() > deadline {
            let _ = prometheus.kill();
            panic!(
                "Prometheus read nothing: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut answers = Vec::new();
    for query in queries {
        answers.push(ask(query).await.unwrap_or(Value::Null));
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let _ = std::fs::remove_dir_all(&dir);
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_sqlite() {
    metrics_count_what_happened(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_postgres() {
    metrics_count_what_happened(Backend::Postgres).await;
}
