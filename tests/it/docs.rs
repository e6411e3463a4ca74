//! Every GraphQL example in the README and the docs runs as written.
//!
//! Each ```` ```graphql ```` block is sent as it stands (GraphiQL would send the same
//! text), in the order of its file, on a fresh server: the README's blocks alone, and
//! each other document's after the README's (the docs build on its first session, e.g.
//! the coupon `summer25`). A block whose first line is `# key: <role>` runs with a key
//! of that role, any other with an admin key. A block holding several operations runs
//! each, in order, by name. Every answer must be free of errors and of `userErrors`.
//!
//! The README's examples also run against the built binary started with no arguments
//! in an empty directory (SQLite), and with a `postgres://` URL naming a database that
//! does not exist yet, with the admin key that first start printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::DocumentOperations;
use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::cli::printed_admin_key;
use crate::harness::{Options, TestApp};
use crate::process::{BIN, Process};

/// The documents whose examples are run, README first.
const DOCUMENTS: [&str; 8] = [
    "README.md",
    "docs/abuse.md",
    "docs/api.md",
    "docs/checkout.md",
    "docs/events.md",
    "docs/payments.md",
    "docs/rules.md",
    "rules/README.md",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The GraphQL blocks of one Markdown file, in order.
fn graphql_blocks(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```graphql") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(
        current.is_none(),
        "{}: a ```graphql block never ends",
        file.display()
    );
    blocks
}

/// Every `userErrors` entry anywhere in `value`.
fn user_errors(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("userErrors", Value::Array(errors)) => found.extend(errors.iter().cloned()),
                    _ => user_errors(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| user_errors(v, found)),
        _ => {}
    }
}

/// Where the examples are sent.
enum Server<'a> {
    /// A test app's router.
    App(&'a TestApp),
    /// The built binary, started in `dir` on `database_url` (the default if none).
    Binary {
        process: &'a Process,
        admin: String,
        dir: PathBuf,
        database_url: Option<String>,
    },
}

impl Server<'_> {
    async fn key(&self, role: Option<Role>) -> String {
        match (self, role) {
            (Self::App(app), None) => app.admin.clone(),
            (Self::App(app), Some(role)) => app.key(role).await,
            (Self::Binary { admin, .. }, None) => admin.clone(),
            (
                Self::Binary {
                    dir, database_url, ..
                },
                Some(role),
            ) => {
                // As the README says: `coupons api-key create`, beside the running server.
                let mut cmd = Command::new(BIN);
                cmd.current_dir(dir).args([
                    "api-key",
                    "create",
                    "--role",
                    role.as_str(),
                    "--name",
                    "docs",
                ]);
                if let Some(url) = database_url {
                    cmd.env("DATABASE_URL", url);
                }
                let out = cmd.output().unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                stdout
                    .lines()
                    .find(|l| l.starts_with("cpn_"))
                    .unwrap_or_else(|| panic!("no key printed: {stdout}"))
                    .to_owned()
            }
        }
    }

    async fn send(&self, key: &str, body: Value) -> Value {
        match self {
            Self::App(app) => app.post(Some(key), &[], body.to_string()).await.body,
            Self::Binary { process, .. } => process.post(key, &body).await,
        }
    }
}

/// Runs the blocks of `file` on `server`, in order.
async fn run_examples(server: &Server<'_>, file: &str) {
    let blocks = graphql_blocks(&root().join(file));
    assert!(!blocks.is_empty(), "{file} has no GraphQL example");
    for block in blocks {
        let role = block
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# key: "))
            .map(|r| Role::parse(r.split_whitespace().next().unwrap_or_default()))
            .map(|r| r.unwrap_or_else(|| panic!("{file}: unknown role in {block}")));
        let key = server.key(role).await;
        let document = parse_query(&block)
            .unwrap_or_else(|e| panic!("{file}: an example does not parse ({e}):\n{block}"));
        let names: Vec<Option<String>> = match &document.operations {
            DocumentOperations::Single(_) => vec![None],
            DocumentOperations::Multiple(ops) => {
                // The parser keeps them by name; run them in the order they are written.
                let mut named: Vec<(usize, String)> = ops
                    .iter()
                    .map(|(name, op)| (op.pos.line, name.to_string()))
                    .collect();
                named.sort();
                named.into_iter().map(|(_, n)| Some(n)).collect()
            }
        };
        for name in names {
            let answer = server
                .send(&key, json!({ "query": block, "operationName": name }))
                .await;
            assert!(
                answer.get("errors").is_none(),
                "{file}: an example fails:\n{block}\n{answer:#}"
            );
            let mut found = Vec::new();
            user_errors(&answer["data"], &mut found);
            assert!(
                found.is_empty(),
                "{file}: an example answers userErrors:\n{block}\n{found:#?}"
            );
        }
    }
}

/// The README's examples, then `file`'s.
async fn after_the_readme(app: &TestApp, file: &str) {
    let server = Server::App(app);
    run_examples(&server, "README.md").await;
    if file != "README.md" {
        run_examples(&server, file).await;
    }
}

/// A new directory with nothing in it.
fn empty_directory() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coupons-docs-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the binary in `dir` (on `database_url`, or the default), checks that its
/// first start printed the key and the addresses, and runs the README's examples.
async fn readme_on_the_binary(dir: &Path, database_url: Option<&str>) {
    let process = Process::start_in(dir, database_url, &[]);
    let printed = process.output();
    for line in [
        "Listening on http://",
        "GraphQL:  POST http://",
        "GraphiQL: http://",
    ] {
        assert!(printed.contains(line), "{line} missing from: {printed}");
    }
    let admin = printed_admin_key(&process).expect("the first start prints a key");
    let server = Server::Binary {
        process: &process,
        admin,
        dir: dir.to_owned(),
        database_url: database_url.map(str::to_owned),
    };
    run_examples(&server, "README.md").await;
    assert!(process.stop().0.success());
}

/// The built binary with no arguments in an empty directory: SQLite in `coupons.db`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_run_on_the_binary_in_an_empty_directory() {
    let dir = empty_directory();
    readme_on_the_binary(&dir, None).await;
    assert!(dir.join("coupons.db").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The built binary in an empty directory on a PostgreSQL database not created yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_run_on_the_binary_with_a_new_postgres_database() {
    use diesel_async::SimpleAsyncConnection;
    let base = crate::harness::postgres_url();
    let Some(mut admin) = crate::harness::postgres_admin().await else {
        return;
    };
    let (server_part, _) = base.rsplit_once('/').unwrap();
    let name = format!("coupons_docs_{:016x}", rand::random::<u64>());
    let dir = empty_directory();
    readme_on_the_binary(&dir, Some(&format!("{server_part}/{name}"))).await;
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn options() -> Options {
    Options {
        // `generateCodes` in docs/api.md queues a million codes; they need not be made.
        without_job_worker: true,
        ..Options::default()
    }
}

async fn readme_examples_run(app: TestApp) {
    after_the_readme(&app, "README.md").await;
}
both_backends!(readme_examples_run, super::options());

async fn api_examples_run(app: TestApp) {
    after_the_readme(&app, "docs/api.md").await;
}
both_backends!(api_examples_run, super::options());

async fn checkout_examples_run(app: TestApp) {
    after_the_readme(&app, "docs/checkout.md").await;
}
both_backends!(checkout_examples_run, super::options());

async fn events_examples_run(app: TestApp) {
    after_the_readme(&app, "docs/events.md").await;
}
both_backends!(events_examples_run, super::options());

async fn abuse_examples_run(app: TestApp) {
    after_the_readme(&app, "docs/abuse.md").await;
}
both_backends!(abuse_examples_run, super::options());

async fn rules_examples_run(app: TestApp) {
    after_the_readme(&app, "docs/rules.md").await;
}
both_backends!(rules_examples_run, super::options());

async fn rule_contract_examples_run(app: TestApp) {
    after_the_readme(&app, "rules/README.md").await;
}
both_backends!(rule_contract_examples_run, super::options());

/// Every Markdown file with a GraphQL example is in [`DOCUMENTS`], so none escapes.
#[test]
fn every_document_with_examples_is_run() {
    let mut files = vec![root().join("README.md"), root().join("rules/README.md")];
    for dir in ["docs", "migrations"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    for file in files {
        let relative = file
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        if !graphql_blocks(&file).is_empty() {
            assert!(
                DOCUMENTS.contains(&relative.as_str()),
                "{relative} has GraphQL examples; add it to DOCUMENTS"
            );
        }
    }
}
