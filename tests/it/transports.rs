//! Every abuse of the GraphQL endpoint, sent over every transport the real server
//! speaks: a POST, one entry of a JSON batch, and a `subscribe` (or legacy `start`)
//! message on a WebSocket. Each attack must meet the same refusal whatever carries it,
//! and the attempt budgets must hold against all transports at once.

use std::time::Duration;

use coupons::auth::Role;
use coupons::router::HttpSettings;
use coupons::service::limiter::LimiterSettings;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{Options, TestApp};
pub use crate::subscriptions::{Socket, next as next_message};

/// How a document reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `POST /graphql` with one request.
    Http,
    /// `POST /graphql` with a JSON list holding the request.
    Batch,
    /// A WebSocket speaking `graphql-transport-ws`.
    WebSocket,
    /// A WebSocket speaking the legacy `graphql-ws` protocol.
    LegacyWebSocket,
}

pub const ALL: [Transport; 4] = [
    Transport::Http,
    Transport::Batch,
    Transport::WebSocket,
    Transport::LegacyWebSocket,
];

/// A client of the app served on a real TCP port: a key, and the address a trusted
/// proxy would forward (when the app trusts one).
#[derive(Clone)]
pub struct Client {
    base: String,
    key: String,
    forwarded_for: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub async fn new(app: &TestApp, key: &str) -> Self {
        Self {
            base: app.base_url().await.to_owned(),
            key: key.to_owned(),
            forwarded_for: None,
            http: reqwest::Client::new(),
        }
    }

    /// The same client, seen as coming from `ip` (through the trusted proxy header).
    pub fn from(&self, ip: &str) -> Self {
        Self {
            forwarded_for: Some(ip.to_owned()),
            ..self.clone()
        }
    }

    /// Sends one document over `transport`; returns its GraphQL response object.
    pub async fn send(&self, transport: Transport, query: &str, variables: Value) -> Value {
        let request = json!({ "query": query, "variables": variables });
        match transport {
            Transport::Http => self.post(&request).await,
            Transport::Batch => {
                // A list of answers; or one error, when the call as a whole was refused
                // (a timeout).
                let answer = self.post(&json!([request])).await;
                match answer.as_array() {
                    Some(list) => list[0].clone(),
                    None => answer,
                }
            }
            Transport::WebSocket | Transport::LegacyWebSocket => {
                self.over_socket(transport, vec![request]).await.remove(0)
            }
        }
    }

    async fn post(&self, body: &Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.key)
            .json(body);
        if let Some(ip) = &self.forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        let response = request.send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Opens a socket speaking `transport`'s protocol and initialises it.
    pub async fn socket(&self, transport: Transport) -> Socket {
        let protocol = match transport {
            Transport::LegacyWebSocket => "graphql-ws",
            _ => "graphql-transport-ws",
        };
        let mut socket = self.open(protocol).await;
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", self.key) } });
        socket.send(Message::text(init.to_string())).await.unwrap();
        let ack = next_message(&mut socket).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack:#}");
        socket
    }

    /// Opens a socket without initialising it.
    pub async fn open(&self, protocol: &str) -> Socket {
        let url = format!("{}/graphql", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocol).unwrap(),
        );
        if let Some(ip) = &self.forwarded_for {
            headers.insert("x-forwarded-for", HeaderValue::from_str(ip).unwrap());
        }
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }

    /// Sends every request at once on a new socket and returns each one's first
    /// answer, in the order given.
    pub async fn over_socket(&self, transport: Transport, requests: Vec<Value>) -> Vec<Value> {
        let mut socket = self.socket(transport).await;
        let answers = ask(&mut socket, transport, requests).await;
        let _ = socket.close(None).await;
        answers
    }
}

/// Sends every request at once on an initialised socket and returns each one's first
/// answer, in the order given.
pub async fn ask(socket: &mut Socket, transport: Transport, requests: Vec<Value>) -> Vec<Value> {
    let start = if transport == Transport::LegacyWebSocket {
        "start"
    } else {
        "subscribe"
    };
    for (i, payload) in requests.iter().enumerate() {
        let message = json!({ "id": i.to_string(), "type": start, "payload": payload });
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }
    let mut answers: Vec<Option<Value>> = vec![None; requests.len()];
    while answers.iter().any(Option::is_none) {
        let message = next_message(socket)
            .await
            .expect("the socket closed before every request was answered");
        let Some(i) = message["id"]
            .as_str()
            .and_then(|id| id.parse::<usize>().ok())
        else {
            continue;
        };
        let answer = match message["type"].as_str() {
            Some("next" | "data") => message["payload"].clone(),
            Some("error") => json!({ "errors": message["payload"] }),
            _ => continue,
        };
        answers[i].get_or_insert(answer);
    }
    answers.into_iter().flatten().collect()
}

fn code_of(answer: &Value) -> Option<&str> {
    answer["errors"][0]["extensions"]["code"].as_str()
}

const VALIDATE: &str = r#"
query($input: ValidateCouponInput!) {
  validateCoupon(input: $input) { valid reasons { code } }
}"#;

fn check(code: &str) -> Value {
    json!({ "input": { "code": code, "order": { "id": "o-1", "currency": "USD", "subtotal": "50" } } })
}

/// A document of `n` aliased `validateCoupon` fields, guessing codes from `from` on,
/// each for `email`'s customer.
fn aliased_guesses(from: usize, n: usize, email: &str) -> String {
    let fields: String = (from..from + n)
        .map(|i| {
            format!(
                r#"g{i}: validateCoupon(input: {{ code: "GUESS{i:06}", order: {{ id: "o", currency: "USD", subtotal: "50", customer: {{ email: "{email}" }} }} }}) {{ valid reasons {{ code }} }} "#
            )
        })
        .collect();
    format!("{{ {fields} }}")
}

/// Runs the table of attacks over one transport. Each needs a fresh app, because the
/// alias flood locks the address out.
async fn attacks_meet_the_same_refusal(app: &TestApp, transport: Transport) {
    let public = Client::new(app, &app.key(Role::Public).await).await;
    let admin = Client::new(app, &app.admin).await;
    let send = |client: &Client, query: String| {
        let client = client.clone();
        async move { client.send(transport, &query, json!({})).await }
    };

    // Introspection is for admins and analysts.
    for q in [
        "{ __schema { types { name } } }",
        "{ __type(name: \"Coupon\") { fields { name } } }",
    ] {
        let r = send(&public, q.into()).await;
        assert_eq!(code_of(&r), Some("FORBIDDEN"), "{transport:?}: {r:#}");
        assert!(r["data"].is_null(), "{transport:?}: {r:#}");
        assert!(!r.to_string().contains("validateCoupon"), "{transport:?}");
    }
    let r = send(&admin, "{ __schema { queryType { name } } }".into()).await;
    assert_eq!(r["data"]["__schema"]["queryType"]["name"], "Query", "{r:#}");

    // Role checks: a public key cannot list coupons.
    let r = send(&public, "{ coupons(first: 1) { nodes { id } } }".into()).await;
    assert_eq!(code_of(&r), Some("FORBIDDEN"), "{transport:?}: {r:#}");

    // NUL characters, in the document and in variables.
    let r = send(&public, r#"{ coupon(code: "A\u0000B") { id } }"#.into()).await;
    assert_eq!(code_of(&r), Some("BAD_USER_INPUT"), "{transport:?}: {r:#}");
    let r = public
        .send(transport, VALIDATE, check("NUL\u{0}CODE"))
        .await;
    assert_eq!(code_of(&r), Some("BAD_USER_INPUT"), "{transport:?}: {r:#}");

    // Depth, complexity and text nesting.
    let mut deep = String::from("id");
    for _ in 0..5 {
        deep = format!("coupon {{ codes(first: 1) {{ nodes {{ {deep} }} }} }}");
    }
    let q = format!(
        "{{ coupons(first: 1) {{ nodes {{ codes(first: 1) {{ nodes {{ {deep} }} }} }} }} }}"
    );
    let r = send(&admin, q).await;
    assert_eq!(code_of(&r), Some("QUERY_TOO_DEEP"), "{transport:?}: {r:#}");
    let q = "{ coupons(first: 100) { nodes { codes(first: 100) { nodes { code usageLimit redemptionCount } } } } }";
    let r = send(&admin, q.into()).await;
    assert_eq!(
        code_of(&r),
        Some("QUERY_TOO_COMPLEX"),
        "{transport:?}: {r:#}"
    );
    let q = format!(
        "{{ viewer(x: {}1{}) {{ role }} }}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let r = send(&admin, q).await;
    assert_eq!(
        code_of(&r),
        Some("GRAPHQL_PARSE_FAILED"),
        "{transport:?}: {r:#}"
    );

    // An honest check answers (queries are allowed over sockets, under the same gate).
    let r = public.send(transport, VALIDATE, check("REAL10")).await;
    assert_eq!(r["data"]["validateCoupon"]["valid"], true, "{r:#}");

    // 990 aliased guesses are refused before any runs, and charged: the address is
    // locked out afterwards, also for an honest check with another public key.
    let r = send(&public, aliased_guesses(0, 990, "eve@example.com")).await;
    assert_eq!(
        code_of(&r),
        Some("TOO_MANY_ALIASES"),
        "{transport:?}: {r:#}"
    );
    assert!(r["data"].is_null(), "{transport:?}: {r:#}");
    let other = Client::new(app, &app.key(Role::Public).await).await;
    let r = other.send(transport, VALIDATE, check("REAL10")).await;
    assert_eq!(code_of(&r), Some("THROTTLED"), "{transport:?}: {r:#}");
    let retry = r["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
}

async fn coupon_for_checks(app: &TestApp) {
    create(
        app,
        json!({ "name": "Real", "code": "REAL10", "discount": { "percentage": "10" } }),
    )
    .await;
}

async fn attacks_over_http(app: TestApp) {
    coupon_for_checks(&app).await;
    attacks_meet_the_same_refusal(&app, Transport::Http).await;
}
both_backends!(attacks_over_http);

async fn attacks_over_a_batch(app: TestApp) {
    coupon_for_checks(&app).await;
    attacks_meet_the_same_refusal(&app, Transport::Batch).await;
}
both_backends!(attacks_over_a_batch);

async fn attacks_over_a_websocket(app: TestApp) {
    coupon_for_checks(&app).await;
    attacks_meet_the_same_refusal(&app, Transport::WebSocket).await;
}
both_backends!(attacks_over_a_websocket);

async fn attacks_over_a_legacy_websocket(app: TestApp) {
    coupon_for_checks(&app).await;
    attacks_meet_the_same_refusal(&app, Transport::LegacyWebSocket).await;
}
both_backends!(attacks_over_a_legacy_websocket);

fn timeouts() -> Options {
    Options {
        http: Some(HttpSettings {
            request_timeout: Duration::from_millis(400),
            ..HttpSettings::default()
        }),
        ..Options::default()
    }
}

/// A mutation stuck behind a lock held elsewhere is abandoned at the request timeout
/// over every transport, and the socket goes on serving.
async fn the_request_timeout_holds_on_every_transport(app: TestApp) {
    coupon_for_checks(&app).await;
    let store = Client::new(&app, &app.key(Role::Storefront).await).await;
    // Use the key once first, so authenticating it later needs no write.
    store
        .send(Transport::Http, "{ viewer { role } }", json!({}))
        .await;
    let redeem = "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id status } } }";
    let order = |key: &str| json!({ "input": { "code": "REAL10", "idempotencyKey": key, "order": { "id": key, "currency": "USD", "subtotal": "50" } } });
    for transport in ALL {
        let mut socket = match transport {
            Transport::WebSocket | Transport::LegacyWebSocket => {
                Some(store.socket(transport).await)
            }
            Transport::Http | Transport::Batch => None,
        };
        let key = format!("{transport:?}");
        let blocker = crate::harness::hold_write_lock(app.database_url()).await;
        let r = match &mut socket {
            Some(socket) => {
                let request = json!({ "query": redeem, "variables": order(&key) });
                ask(socket, transport, vec![request]).await.remove(0)
            }
            None => store.send(transport, redeem, order(&key)).await,
        };
        blocker.release().await;
        assert_eq!(code_of(&r), Some("TIMEOUT"), "{transport:?}: {r:#}");
        if let Some(socket) = &mut socket {
            // The socket goes on serving.
            let request = json!({ "query": "{ viewer { role } }" });
            let r = ask(socket, transport, vec![request]).await.remove(0);
            assert_eq!(r["data"]["viewer"]["role"], "STOREFRONT", "{r:#}");
        }
    }
}
both_backends!(
    the_request_timeout_holds_on_every_transport,
    super::timeouts()
);

/// Counts the failure verdicts (NOT_FOUND) and throttled refusals in answers.
fn tally(answers: &[Value]) -> (usize, usize) {
    let mut failures = 0;
    let mut throttled = 0;
    for answer in answers {
        if let Some(fields) = answer["data"].as_object() {
            failures += fields
                .values()
                .filter(|f| f["reasons"][0]["code"] == "NOT_FOUND")
                .count();
        }
        throttled += answer["errors"].as_array().map_or(0, |e| {
            e.iter()
                .filter(|e| e["extensions"]["code"] == "THROTTLED")
                .count()
        });
    }
    (failures, throttled)
}

/// Fires guesses at once over every transport: 20 concurrent 30-alias POSTs, three
/// batches of ten single checks, two sockets with three 30-alias documents each (one
/// of each protocol), and a 990-alias document over a socket. `address` gives each
/// sender its forwarded address (`None`: the TCP peer for all).
async fn hammer(client: &Client, address: impl Fn(usize) -> Option<String>) -> (usize, usize) {
    let email = "eve@example.com";
    let at = |i: usize| match address(i) {
        Some(ip) => client.from(&ip),
        None => client.clone(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let c = at(i);
        tasks.spawn(async move {
            vec![
                c.send(
                    Transport::Http,
                    &aliased_guesses(i * 30, 30, email),
                    json!({}),
                )
                .await,
            ]
        });
    }
    for b in 0..3 {
        let c = at(20 + b);
        tasks.spawn(async move {
            let batch: Vec<Value> = (0..10)
                .map(|i| json!({ "query": aliased_guesses(10_000 + b * 10 + i, 1, email) }))
                .collect();
            let answer = c.post(&Value::from(batch)).await;
            answer.as_array().cloned().unwrap_or_else(|| vec![answer])
        });
    }
    for (s, transport) in [Transport::WebSocket, Transport::LegacyWebSocket]
        .into_iter()
        .enumerate()
    {
        let c = at(23 + s);
        tasks.spawn(async move {
            let docs = (0..3)
                .map(|d| json!({ "query": aliased_guesses(20_000 + (s * 3 + d) * 30, 30, email) }))
                .collect();
            c.over_socket(transport, docs).await
        });
    }
    let c = at(25);
    tasks.spawn(async move {
        let r = c
            .over_socket(
                Transport::WebSocket,
                vec![json!({ "query": aliased_guesses(30_000, 990, email) })],
            )
            .await;
        assert_eq!(code_of(&r[0]), Some("TOO_MANY_ALIASES"), "{:#}", r[0]);
        r
    });
    let answers: Vec<Value> = tasks.join_all().await.into_iter().flatten().collect();
    tally(&answers)
}

/// The checks `hammer` runs (the 990-alias document is refused before any runs).
const CHECKS: usize = 20 * 30 + 3 * 10 + 2 * 3 * 30;

/// Asserts that every check was answered, with at most `budget` failure verdicts and
/// the rest throttled.
fn assert_within(budget: usize, (failures, throttled): (usize, usize)) {
    assert!(
        failures <= budget,
        "{failures} failure verdicts for a budget of {budget}"
    );
    assert!(
        failures >= 1,
        "no failure verdict at all: the test proves nothing"
    );
    assert_eq!(failures + throttled, CHECKS, "every check answered");
}

/// One address never gets more failure verdicts than its budget, however the guesses
/// are mixed over aliases, batches, concurrency and transports.
async fn the_address_budget_holds_across_transports(app: TestApp) {
    let public = Client::new(&app, &app.key(Role::Public).await).await;
    assert_within(10, hammer(&public, |_| None).await);
}
both_backends!(
    the_address_budget_holds_across_transports,
    super::budget("key=0,ip=10,customer=0", false)
);

fn budget(public: &str, behind_proxy: bool) -> Options {
    Options {
        http: Some(HttpSettings {
            trusted_proxy_header: behind_proxy.then(|| "x-forwarded-for".parse().unwrap()),
            ..HttpSettings::default()
        }),
        limiter: Some(LimiterSettings {
            public: public.parse().unwrap(),
            ..LimiterSettings::default()
        }),
        ..Options::default()
    }
}

/// The key's budget holds the same way when every sender has an address of its own.
async fn the_key_budget_holds_across_transports(app: TestApp) {
    let public = Client::new(&app, &app.key(Role::Public).await).await;
    let senders = |i| Some(format!("198.51.100.{}", i + 1));
    assert_within(12, hammer(&public, senders).await);
}
both_backends!(
    the_key_budget_holds_across_transports,
    super::budget("key=12,ip=0,customer=0", true)
);

/// And the customer's budget, for checks that all name one customer.
async fn the_customer_budget_holds_across_transports(app: TestApp) {
    let public = Client::new(&app, &app.key(Role::Public).await).await;
    let senders = |i| Some(format!("198.51.100.{}", i + 1));
    assert_within(5, hammer(&public, senders).await);
}
both_backends!(
    the_customer_budget_holds_across_transports,
    super::budget("key=0,ip=0,customer=5", true)
);
