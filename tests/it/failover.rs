//! PostgreSQL going away under load, on the real binary and real PostgreSQL servers the
//! test makes itself (`initdb`, `pg_basebackup`, `pg_ctl`, run as the `postgres` user):
//!
//! - a plain restart of a single server;
//! - a failover: a primary with a synchronous streaming standby, the primary stopped
//!   hard (`-m immediate`), the standby promoted. The service's `DATABASE_URL` names
//!   both hosts with `target_session_attrs=read-write`.
//!
//! Redemptions run all along, each retried with its idempotency key until it is
//! answered. Afterwards: the service recovered by itself (ready again) within 10 s,
//! every redemption answered as redeemed is in the database (exactly once), requests
//! meanwhile were answered 503 `SERVICE_UNAVAILABLE`, never anything else, and
//! `coupons reconcile` finds every counter equal to its rows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::process::{BIN, Process};

const ADMIN: &str = "cpn_failover_admin_key_for_the_restart_tests";
const REDEEM: &str = "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id status orderId } userErrors { code } } }";

/// The directory of the PostgreSQL server programs, when they and `runuser` are here.
fn server_programs() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_basebackup").exists())
        .max();
    let root = Command::new("id").arg("-u").output().ok()?.stdout == b"0\n";
    match found {
        Some(bin) if root && Path::new("/usr/sbin/runuser").exists() => Some(bin),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true needs PostgreSQL's server programs and root to run them as postgres"
            );
            eprintln!(
                "NOTICE: skipping the PostgreSQL restart and failover tests: they need PostgreSQL's server programs and root"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One PostgreSQL server made by the test, in a directory of its own.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn run(bin: &Path, program: &str, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A directory the `postgres` user owns.
    fn directory(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("coupons-pg-{name}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success()
        );
        dir
    }

    /// A new primary, listening on 127.0.0.1 only, with an empty database `coupons`.
    fn primary(bin: &Path) -> Self {
        let data = Self::directory("primary").join("data");
        let data_s = data.to_str().unwrap();
        Self::run(
            bin,
            "initdb",
            &["-D", data_s, "--auth=trust", "-U", "postgres", "--no-sync"],
        );
        let port = free_port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nwal_level = replica\nmax_wal_senders = 4\nfsync = off\n",
            data.parent().unwrap().display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .unwrap();
        let cluster = Self {
            bin: bin.to_owned(),
            data,
            port,
        };
        cluster.start();
        cluster.sql("CREATE DATABASE coupons");
        cluster
    }

    /// A streaming standby of `primary`, named `name` to it.
    fn standby_of(primary: &Self, name: &str) -> Self {
        let data = Self::directory("standby").join("data");
        let data_s = data.to_str().unwrap();
        let port = primary.port.to_string();
        Self::run(
            &primary.bin,
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                data_s,
                "-R",
                "-X",
                "stream",
            ],
        );
        let port = free_port();
        let conf = format!(
            "port = {port}\nunix_socket_directories = '{}'\nprimary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={name}'\n",
            data.parent().unwrap().display(),
            primary.port
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.auto.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .unwrap();
        let cluster = Self {
            bin: primary.bin.clone(),
            data,
            port,
        };
        cluster.start();
        cluster
    }

    fn ctl(&self, args: &[&str]) {
        let data = self.data.to_str().unwrap();
        let log = self.data.parent().unwrap().join("server.log");
        let mut all = vec!["-D", data, "-l", log.to_str().unwrap(), "-w"];
        all.extend_from_slice(args);
        Self::run(&self.bin, "pg_ctl", &all);
    }

    fn start(&self) {
        self.ctl(&["start"]);
    }

    /// Runs SQL on the server (as `postgres`, over TCP); what it printed.
    fn sql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-tAc",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Makes commits wait for the standby `name` (synchronous replication), once it is
    /// streaming.
    fn wait_for_standby(&self, name: &str) {
        self.sql(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{name}'"
        ));
        self.sql("SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(30);
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{name}' AND sync_state = 'sync'"
        );
        while self.sql(&query) != "1" {
            assert!(
                Instant::now() < deadline,
                "the standby is not streaming synchronously"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(self.data.parent().unwrap());
    }
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// Orders answered as redeemed.
    redeemed: Vec<String>,
    /// HTTP status and error code of every answer that was not a redemption.
    refusals: Vec<(u16, String)>,
}

/// Redeems on `tasks` tasks until `stop`, each order retried with its idempotency key
/// until it is answered as redeemed.
fn start_load(
    base: &str,
    tasks: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Mutex<Seen>>, Vec<tokio::task::JoinHandle<()>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let handles = (0..tasks)
        .map(|t| {
            let (seen, client, stop, url) = (
                seen.clone(),
                client.clone(),
                stop.clone(),
                format!("{base}/graphql"),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let order = format!("o-{t}-{n}");
                    let body = json!({ "query": REDEEM, "variables": { "input": {
                        "code": "FAILOVER", "idempotencyKey": order,
                        "order": { "id": order, "currency": "USD", "subtotal": "50" } } } });
                    let deadline = Instant::now() + Duration::from_secs(30);
                    loop {
                        let answer = client
                            .post(&url)
                            .bearer_auth(ADMIN)
                            .json(&body)
                            .send()
                            .await;
                        let (status, value) = match answer {
                            Ok(r) => (
                                r.status().as_u16(),
                                r.json::<Value>().await.unwrap_or(Value::Null),
                            ),
                            Err(e) => (0, json!({ "transport": e.to_string() })),
                        };
                        let redemption = &value["data"]["redeemCoupon"]["redemption"];
                        if redemption["status"] == "REDEEMED" {
                            assert_eq!(redemption["orderId"], order.as_str());
                            seen.lock().await.redeemed.push(order.clone());
                            break;
                        }
                        let code = value["errors"][0]["extensions"]["code"]
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned);
                        seen.lock().await.refusals.push((status, code));
                        assert!(
                            Instant::now() < deadline,
                            "order {order} never went through"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    (seen, handles)
}

async fn ready(base: &str) -> bool {
    reqwest::get(format!("{base}/readyz"))
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// Waits until the service says it is ready; how long that took.
async fn until_ready(base: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while !ready(base).await {
        assert!(start.elapsed() < limit, "not ready after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// The orders redeemed in the database at `url`, each once.
async fn stored_orders(url: &str) -> Vec<String> {
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        order_id: String,
    }
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT order_id FROM redemptions WHERE status = 'REDEEMED' ORDER BY order_id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.order_id).collect()
}

/// Lets the load run 2 s more after the recovery, stops it, and checks the database at
/// `url` (see [`check_after`]); the outage must have been felt.
async fn finish(
    stop: &AtomicBool,
    load: Vec<tokio::task::JoinHandle<()>>,
    seen: &Mutex<Seen>,
    url: &str,
) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let seen = seen.lock().await;
    eprintln!(
        "{} redeemed, {} answers 503 meanwhile",
        seen.redeemed.len(),
        seen.refusals.len()
    );
    assert!(!seen.refusals.is_empty(), "the outage was not felt");
    check_after(url, &seen).await;
}

/// Every answered redemption is stored exactly once, nothing else is, the refusals
/// meanwhile were all 503 `SERVICE_UNAVAILABLE`, and the counters reconcile.
async fn check_after(url: &str, seen: &Seen) {
    let mut answered = seen.redeemed.clone();
    answered.sort();
    let stored = stored_orders(url).await;
    assert_eq!(
        stored.len(),
        answered.len(),
        "stored {} vs answered {}",
        stored.len(),
        answered.len()
    );
    assert_eq!(stored, answered);
    for (status, code) in &seen.refusals {
        assert_eq!(
            (*status, code.as_str()),
            (503, "SERVICE_UNAVAILABLE"),
            "a refusal other than 503"
        );
    }
    let out = Command::new(BIN)
        .arg("reconcile")
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reconcile: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn create_coupon(server: &Process) {
    let d = server
        .graphql(
            ADMIN,
            "mutation { createCoupon(input: { name: \"Failover\", code: \"FAILOVER\", discount: { percentage: \"10\" } }) { coupon { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert!(
        d["data"]["createCoupon"]["coupon"]["id"].is_string(),
        "{d:#}"
    );
}

/// A single PostgreSQL restarted (fast shutdown, then start) under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_rides_out_a_postgres_restart() {
    let Some(bin) = server_programs() else { return };
    let pg = Cluster::primary(&bin);
    let url = pg.url("coupons");
    let server = Process::start(&url, &[("COUPONS_ADMIN_KEY", ADMIN)]);
    create_coupon(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, load) = start_load(&server.base, 8, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.ctl(&["-m", "fast", "stop"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!ready(&server.base).await, "ready while PostgreSQL is down");
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.start();
    let recovered = until_ready(&server.base, Duration::from_secs(10)).await;
    eprintln!("restart: ready {recovered:?} after the start");
    finish(&stop, load, &seen, &url).await;
}

/// A primary with a synchronous standby; the primary stopped hard and the standby
/// promoted, under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_follows_a_failover_to_the_promoted_standby() {
    let Some(bin) = server_programs() else { return };
    let primary = Cluster::primary(&bin);
    let standby = Cluster::standby_of(&primary, "standby1");
    primary.wait_for_standby("standby1");
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/coupons?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let server = Process::start(&url, &[("COUPONS_ADMIN_KEY", ADMIN)]);
    create_coupon(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, load) = start_load(&server.base, 8, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    primary.ctl(&["-m", "immediate", "stop"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !ready(&server.base).await,
        "ready with the primary gone and the standby not promoted"
    );
    standby.ctl(&["promote"]);
    let recovered = until_ready(&server.base, Duration::from_secs(10)).await;
    eprintln!("failover: ready {recovered:?} after the promotion");
    finish(&stop, load, &seen, &standby.url("coupons")).await;
}
