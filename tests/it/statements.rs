//! The console's pages read a constant number of statements, however long their lists
//! are: no N+1. Every SQL statement a test database's connections run is counted (diesel
//! instrumentation, installed for connections established from then on) on an instance
//! with no background work (no event relay, webhook or job worker), so each statement
//! counted is a request's; each list page's query (the very text the console sends,
//! checked against `src/console/`) is run with 2 and then with 20 rows of everything;
//! the counts must not grow with the rows (they are equal on a quiet machine).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Once};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use serde_json::{Value, json};

use crate::coupons::create;
use crate::harness::{Backend, Options, TestApp};

/// One connection's statement count, with the URL it was established with.
type Counted = (String, Arc<AtomicUsize>);

/// Statements run, by connection.
static COUNTS: LazyLock<Mutex<Vec<Counted>>> = LazyLock::new(|| Mutex::new(Vec::new()));

struct Counter(Option<Arc<AtomicUsize>>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                let counter = Arc::new(AtomicUsize::new(0));
                COUNTS
                    .lock()
                    .unwrap()
                    .push((url.to_owned(), counter.clone()));
                self.0 = Some(counter);
            }
            InstrumentationEvent::StartQuery { .. } => {
                if let Some(c) = &self.0 {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter(None)))).unwrap();
    });
}

/// Statements run so far on the connections of the database `needle` names.
fn statements(needle: &str) -> usize {
    COUNTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(url, _)| url.contains(needle))
        .map(|(_, c)| c.load(Ordering::Relaxed))
        .sum()
}

/// What tells this test's database's connections from others'.
fn needle(app: &TestApp) -> String {
    let url = app.database_url();
    match url.split_once("search_path%3D") {
        Some((_, schema)) => schema.to_owned(),
        None => url.trim_start_matches("sqlite://").to_owned(),
    }
}

/// The fewest statements one run of `query` took over five. A data loader sends what its
/// resolvers asked for within a moment as one batch, and a slow moment can split a
/// batch in two, never merge two; the fewest is the page's own cost. The API key is
/// used first, so that the runs find it in the key cache (read at most once a second).
async fn cost(app: &TestApp, query: &str, variables: &Value) -> usize {
    let needle = needle(app);
    let mut least = usize::MAX;
    for _ in 0..5 {
        let warm = app
            .request(Some(&app.admin), "{ viewer { role } }", json!({}))
            .await;
        assert_eq!(warm.status, 200);
        let before = statements(&needle);
        let answer = app
            .request(Some(&app.admin), query, variables.clone())
            .await;
        assert!(answer.body.get("errors").is_none(), "{:#}", answer.body);
        least = least.min(statements(&needle) - before);
    }
    least
}

/// (console file, query as the console sends it, variables).
fn pages(coupon: &str) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "coupons.js",
            "query CouponList($first: Int, $after: String, $filter: CouponFilter) {
  coupons(first: $first, after: $after, filter: $filter) {
    nodes { id name code status automatic redemptionCount maxRedemptions expiresAt
      discount { type percentage amount { amount currency } amounts { amount currency } maxDiscount { amount currency } } }
    pageInfo { hasNextPage endCursor } } }",
            json!({ "first": 50 }),
        ),
        (
            "coupons.js",
            "query CouponCodes($id: ID!, $after: String) { coupon(id: $id) { id
  codes(first: 25, after: $after) { nodes { id code usageLimit redemptionCount active batchId createdAt }
    pageInfo { hasNextPage endCursor } } } }",
            json!({ "id": coupon }),
        ),
        (
            "coupons.js",
            "query CouponJobs($id: ID!) { bulkJobs(couponId: $id, first: 5) { nodes {
  id status total done error createdAt finishedAt pattern { prefix suffix length } } } }",
            json!({ "id": coupon }),
        ),
        (
            "campaigns.js",
            "query CampaignList($after: String) { campaigns(first: 20, after: $after) {
  nodes { id name description startsAt endsAt maxUses budget { amount currency } usedCount
    discountUsed { amount currency } createdAt }
  pageInfo { hasNextPage endCursor } } }",
            json!({}),
        ),
        (
            "audit.js",
            "query AuditLog($after: String, $filter: AuditLogFilter) { auditLog(first: 25, after: $after, filter: $filter) {
  nodes { id at action actorKeyId actorRole actorName clientIp entityType entityId before after }
  pageInfo { hasNextPage endCursor } } }",
            json!({}),
        ),
        (
            "rules.js",
            "query Rules { rules { name description sourceKind version parameters { name kind optional } } }",
            json!({}),
        ),
    ]
}

/// `n` more of everything the pages list: campaigns, coupons (with a code each),
/// codes and bulk jobs of `coupon`, published rules, audit entries (made by all that).
async fn add(app: &TestApp, n: usize, round: usize, coupon: &str) {
    for i in 0..n {
        let tag = format!("{round}X{i}");
        let made = app
            .admin(
                "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { userErrors { code } } }",
                json!({ "i": { "name": format!("Campaign {tag}") } }),
            )
            .await;
        assert_eq!(made["createCampaign"]["userErrors"], json!([]));
        create(
            app,
            json!({ "name": format!("Coupon {tag}"), "code": format!("C{tag}"), "discount": { "percentage": "5" } }),
        )
        .await;
        let added = app
            .admin(
                "mutation($i: AddCodesInput!) { addCodes(input: $i) { userErrors { code } } }",
                json!({ "i": { "couponId": coupon, "codes": [format!("K{tag}")] } }),
            )
            .await;
        assert_eq!(added["addCodes"]["userErrors"], json!([]), "{added:#}");
        let rule = format!("rule_{}", tag.to_lowercase());
        let published = app
            .admin(
                "mutation($i: PublishRuleInput!) { publishRule(input: $i) { userErrors { code message } } }",
                json!({ "i": { "name": rule, "source": "fn check(ctx, params) { pass() }" } }),
            )
            .await;
        assert_eq!(
            published["publishRule"]["userErrors"],
            json!([]),
            "{published:#}"
        );
    }
    for _ in 0..n.min(5) {
        let job = app
            .admin(
                "mutation($i: GenerateCodesInput!) { generateCodes(input: $i) { userErrors { code message } } }",
                json!({ "i": { "couponId": coupon, "count": 2, "pattern": { "prefix": format!("G{round}"), "length": 8 } } }),
            )
            .await;
        assert_eq!(job["generateCodes"]["userErrors"], json!([]), "{job:#}");
    }
}

async fn console_pages_have_no_n_plus_one(backend: Backend) {
    install();
    // No background work: the generated codes' jobs stay queued (still listed), and
    // nothing but the measured requests runs statements.
    let options = Options {
        without_background: true,
        ..Options::default()
    };
    let Some(app) = TestApp::with(backend, options).await else {
        return;
    };
    let coupon = create(
        &app,
        json!({ "name": "Listed", "code": "LISTED", "discount": { "percentage": "10" } }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
    for (file, query, _) in pages(&coupon) {
        let source = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(source.contains(query), "{file} no longer sends:\n{query}");
    }
    add(&app, 2, 1, &coupon).await;
    let mut small = HashMap::new();
    for (_, query, vars) in pages(&coupon) {
        small.insert(query, cost(&app, query, &vars).await);
    }
    add(&app, 18, 2, &coupon).await;
    for (_, query, vars) in pages(&coupon) {
        let large = cost(&app, query, &vars).await;
        let name = query.split(['(', ' ', '{']).nth(1).unwrap_or(query);
        eprintln!(
            "{name}: {} statements with 2 rows, {large} with 20",
            small[query]
        );
        // A statement per row would add 18. A data loader's batch can split when its
        // resolvers are descheduled for longer than its 1 ms window (seen only with
        // the whole suite on two cores), which adds one statement per split, whatever
        // the rows.
        assert!(
            large < small[query] + 9,
            "{name} reads a statement per row: {} with 2 rows, {large} with 20",
            small[query]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_have_no_n_plus_one_sqlite() {
    console_pages_have_no_n_plus_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_have_no_n_plus_one_postgres() {
    console_pages_have_no_n_plus_one(Backend::Postgres).await;
}
