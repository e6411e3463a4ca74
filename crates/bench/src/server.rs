//! The server under test: starting the release binary on a database, calling its
//! GraphQL API, stopping it, and the coupons and key the load modes share.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The admin key the server under test is started with.
pub const ADMIN_KEY: &str = "bench-admin-key-0123456789-0123456789";

/// A running server under test.
pub struct Server {
    child: tokio::process::Child,
    base: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `binary` on `database_url` with a pool of `pool` connections and waits
    /// until it listens.
    pub async fn start(binary: &Path, database_url: &str, pool: usize) -> anyhow::Result<Self> {
        // Timing, not throttling, is measured: no lockouts.
        Self::start_with(binary, database_url, pool, &[]).await
    }

    /// [`Server::start`] with more environment (which wins over the defaults).
    pub async fn start_with(
        binary: &Path,
        database_url: &str,
        pool: usize,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut command = tokio::process::Command::new(binary);
        command
            .env("COUPONS_STOREFRONT_ATTEMPT_LIMITS", "key=0,ip=0,customer=0")
            .env("DATABASE_URL", database_url)
            .env("COUPONS_BIND", "127.0.0.1:0")
            .env("COUPONS_ADMIN_KEY", ADMIN_KEY)
            .env("COUPONS_DB_POOL_SIZE", pool.to_string())
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        Self::spawn(command, binary).await
    }

    /// Starts the `{ ping }` server (this benchmark's own binary, see `ping.rs`).
    pub async fn start_ping() -> anyhow::Result<Self> {
        let me = std::env::current_exe()?;
        let mut command = tokio::process::Command::new(&me);
        command.arg("--serve-ping");
        Self::spawn(command, &me).await
    }

    /// Runs `command` and waits for the address it prints.
    async fn spawn(mut command: tokio::process::Command, binary: &Path) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("Listening on ") {
                base = Some(url.trim().to_owned());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        let base = base.context("the server printed no address")?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self {
            child,
            base,
            client,
        })
    }

    /// Sends one GraphQL request with `key`; GraphQL errors are errors.
    pub async fn graphql(&self, key: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body: Value = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        if body.get("errors").is_some() {
            bail!("GraphQL errors: {body}");
        }
        Ok(body)
    }

    /// A REST call: `POST path` with a JSON body; the status and the answer (`Null` when
    /// it is not JSON).
    pub async fn rest(
        &self,
        key: &str,
        path: &str,
        body: Value,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// CPU time the server process has used so far, user and system, over all its
    /// threads (from `/proc/<pid>/stat`, in clock ticks of 10 ms). Steadier than
    /// throughput on a machine that is doing other work: it counts what the server
    /// spent, not what it got.
    pub fn cpu_time(&self) -> Option<Duration> {
        let pid = self.child.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start at the state; utime
        // and stime are the 14th and 15th fields of the whole line.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // USER_HZ is 100 on Linux whatever the kernel's own tick rate.
        Some(Duration::from_millis(ticks * 10))
    }

    /// The server's resident memory now, in MiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_mib(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        self.child.wait().await?;
        Ok(())
    }
}

/// The least a request can cost: the key check, HTTP and GraphQL, and no coupon work.
pub const CEILING: &str = "{ __typename }";
/// `createCoupon`.
pub const CREATE: &str = "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { id } userErrors { code message } } }";
/// `validateCoupon`.
pub const VALIDATE: &str = "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid discount { amount } } }";
/// `redeemCoupon`.
pub const REDEEM: &str = "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id status } userErrors { code } } }";
/// `validateCart`.
pub const VALIDATE_CART: &str = "query($input: ValidateCartInput!) { validateCart(input: $input) { valid discount { amount } applied { code discount { amount } } } }";
/// `reserveCoupon`.
pub const RESERVE: &str = "mutation($input: ReserveCouponInput!) { reserveCoupon(input: $input) { reservation { id } userErrors { code } } }";

/// Creates coupons BENCH-1..BENCH-n (ids 1..n on a fresh database), the hot coupon
/// BENCH-{n+1}, and a capped coupon BENCH-CAP; returns a storefront key.
pub async fn set_up(server: &Server, many: usize) -> anyhow::Result<String> {
    for i in 1..=many + 1 {
        let input = json!({ "name": format!("Bench {i}"), "code": format!("BENCH-{i}"), "discount": { "percentage": "10" } });
        let r = server
            .graphql(ADMIN_KEY, CREATE, json!({ "input": input }))
            .await?;
        if r["data"]["createCoupon"]["userErrors"] != json!([]) {
            bail!("setup failed: {r}");
        }
    }
    let capped = json!({ "name": "Capped", "code": "BENCH-CAP", "discount": { "percentage": "10" }, "maxRedemptions": 500 });
    server
        .graphql(ADMIN_KEY, CREATE, json!({ "input": capped }))
        .await?;
    let key = server
        .graphql(
            ADMIN_KEY,
            "mutation { createApiKey(input: { name: \"bench\", role: STOREFRONT }) { secret } }",
            json!({}),
        )
        .await?;
    key["data"]["createApiKey"]["secret"]
        .as_str()
        .map(str::to_owned)
        .context("no key")
}

/// Coupons that share orders, `CART-1..CART-m` (5% off each), for carts; `false` when the
/// server has no carts (an older build measured beside a newer one).
pub async fn set_up_cart(server: &Server, m: usize) -> anyhow::Result<bool> {
    for i in 1..=m {
        let input = json!({ "name": format!("Cart {i}"), "code": format!("CART-{i}"),
            "combinesWith": ["ORDER"], "discount": { "percentage": "5" } });
        let r = match server
            .graphql(ADMIN_KEY, CREATE, json!({ "input": input }))
            .await
        {
            Err(e) if e.to_string().contains("combinesWith") => return Ok(false),
            r => r?,
        };
        if r["data"]["createCoupon"]["userErrors"] != json!([]) {
            bail!("cart setup failed: {r}");
        }
    }
    Ok(true)
}

/// A cart order of 195 USD over 20 lines (39 items), numbered `n`.
pub fn cart_order(n: u64) -> Value {
    let items: Vec<Value> = (0..20)
        .map(|k| json!({ "sku": format!("SKU-{k}"), "categories": [format!("cat-{}", k % 4)], "quantity": 1 + k % 3, "unitPrice": "5.00" }))
        .collect();
    json!({ "id": format!("cart-{n}"), "currency": "USD", "subtotal": "195.00", "items": items,
            "customer": { "email": format!("c{n}@bench.test") } })
}

/// An order of 100 USD with a customer of its own, numbered `n` within a scenario
/// (`tag`): every scenario uses order ids of its own, as a coupon is used once per order.
pub fn order(tag: &str, n: u64) -> Value {
    json!({ "id": format!("o-{tag}-{n}"), "currency": "USD", "subtotal": "100", "customer": { "email": format!("c{n}@bench.test") } })
}
