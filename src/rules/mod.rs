//! Eligibility rules: Rhai scripts compiled once, hardened, swapped live.
//!
//! The contract for rule authors is `rules/README.md`. In short, a rule file defines
//! `fn check(ctx, params)` returning `pass()`, `reject(code, message[, details])` or
//! `cap(amount)`; optionally `fn params()` declaring its parameters, and
//! `fn examples()` listing cases that `coupons check-rules` runs.
//!
//! [`Rules`] holds the compiled rules. Rules come from files in the rules directory; a
//! file that fails to compile is reported with its line and column and the version in
//! force stays. Evaluation implements [`RuleEvaluator`], so checkout can run a coupon's
//! bindings inside its transaction without knowing about scripts.

pub mod api;
pub mod engine;
mod watch;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use coupons_domain::{RuleBinding, RuleEvaluator, RuleFacts, RuleVerdict, RulesOutcome};
use rhai::{AST, Array, CallFnOptions, Dynamic, Engine, Map, Scope};

pub use engine::RuleLimits;
pub use watch::watch_dir;

/// A rule that failed to compile, or to load, or whose examples failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The rule's name.
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.rule, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.rule, self.message),
            _ => write!(f, "{}: {}", self.rule, self.message),
        }
    }
}

impl std::error::Error for RuleError {}

impl RuleError {
    fn new(rule: &str, message: impl Into<String>, pos: rhai::Position) -> Self {
        Self {
            rule: rule.to_owned(),
            message: message.into(),
            line: pos.line(),
            column: pos.position(),
        }
    }
}

/// The type of a declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamKind {
    String,
    Int,
    Bool,
    Strings,
    Money,
    Map,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ParamSpec {
    name: String,
    kind: ParamKind,
    optional: bool,
}

/// Where a rule's source came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// A file in the rules directory.
    File(PathBuf),
    /// Given directly (drafts, tests).
    Inline,
    /// Published through the API and stored in the database.
    Published {
        /// The version in force.
        version: i64,
    },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's name.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Where it came from.
    pub origin: RuleOrigin,
    ast: AST,
    params: Vec<ParamSpec>,
    has_examples: bool,
}

impl CompiledRule {
    /// The same rule, from another origin.
    pub fn with_origin(self, origin: RuleOrigin) -> Self {
        Self { origin, ..self }
    }

    /// The rule's description: the comment lines at the top of its source.
    pub fn description(&self) -> String {
        self.source
            .lines()
            .map_while(|l| l.trim_start().strip_prefix("//"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The declared parameters as (name, type, optional).
    pub fn parameters(&self) -> Vec<(String, &'static str, bool)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), kind_name(p.kind), p.optional))
            .collect()
    }
}

/// One example of a rule, run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleResult {
    /// The example's name.
    pub name: String,
    /// `None` when it behaved as expected, else what went wrong.
    pub failure: Option<String>,
}

/// Rules by name, in two layers: files, and published rules, which win over files of
/// the same name.
#[derive(Debug, Clone, Default)]
struct Layers {
    files: HashMap<String, Arc<CompiledRule>>,
    published: HashMap<String, Arc<CompiledRule>>,
}

impl Layers {
    fn get(&self, name: &str) -> Option<&Arc<CompiledRule>> {
        self.published.get(name).or_else(|| self.files.get(name))
    }
}

/// The compiled rules, swapped whole on every change.
pub struct Rules {
    engine: Engine,
    limits: RuleLimits,
    rules: RwLock<Arc<Layers>>,
}

fn call_options() -> CallFnOptions<'static> {
    CallFnOptions::new().eval_ast(false).rewind_scope(true)
}

impl Rules {
    /// An empty rule set with these sandbox limits.
    pub fn new(limits: RuleLimits) -> Self {
        Self {
            engine: engine::build(&limits),
            limits,
            rules: RwLock::new(Arc::default()),
        }
    }

    fn call(
        &self,
        ast: &AST,
        name: &str,
        args: impl rhai::FuncArgs,
    ) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
        engine::with_deadline(self.limits.deadline, || {
            self.engine.call_fn_with_options::<Dynamic>(
                call_options(),
                &mut Scope::new(),
                ast,
                name,
                args,
            )
        })
    }

    /// Compiles a rule and checks its entry points and parameter declaration.
    pub fn compile(
        &self,
        name: &str,
        source: &str,
        origin: RuleOrigin,
    ) -> Result<CompiledRule, RuleError> {
        let ast = self
            .engine
            .compile(source)
            .map_err(|e| RuleError::new(name, e.0.to_string(), e.1))?;
        let arity = |f: &str| {
            ast.iter_functions()
                .find(|m| m.name == f)
                .map(|m| m.params.len())
        };
        match arity("check") {
            Some(2) => {}
            Some(_) => {
                return Err(RuleError::new(
                    name,
                    "fn check must take (ctx, params)",
                    rhai::Position::NONE,
                ));
            }
            None => {
                return Err(RuleError::new(
                    name,
                    "a rule must define fn check(ctx, params)",
                    rhai::Position::NONE,
                ));
            }
        }
        let params = match arity("params") {
            None => Vec::new(),
            Some(0) => {
                let declared = self
                    .call(&ast, "params", ())
                    .map_err(|e| RuleError::new(name, format!("fn params: {e}"), e.position()))?;
                parse_param_specs(name, declared)?
            }
            Some(_) => {
                return Err(RuleError::new(
                    name,
                    "fn params must take no arguments",
                    rhai::Position::NONE,
                ));
            }
        };
        let has_examples = match arity("examples") {
            None => false,
            Some(0) => true,
            Some(_) => {
                return Err(RuleError::new(
                    name,
                    "fn examples must take no arguments",
                    rhai::Position::NONE,
                ));
            }
        };
        Ok(CompiledRule {
            name: name.to_owned(),
            source: source.to_owned(),
            origin,
            ast,
            params,
            has_examples,
        })
    }

    /// Puts a compiled rule in force (replacing any rule of that name in its layer).
    pub fn insert(&self, rule: CompiledRule) -> Arc<CompiledRule> {
        let rule = Arc::new(rule);
        self.update(|layers| {
            let layer = match rule.origin {
                RuleOrigin::Published { .. } => &mut layers.published,
                _ => &mut layers.files,
            };
            layer.insert(rule.name.clone(), rule.clone());
        });
        rule
    }

    /// Takes a file rule out of force.
    pub fn remove(&self, name: &str) {
        self.update(|layers| {
            layers.files.remove(name);
        });
    }

    /// Replaces the published layer.
    pub fn set_published(&self, rules: Vec<CompiledRule>) {
        self.update(|layers| {
            layers.published = rules
                .into_iter()
                .map(|r| (r.name.clone(), Arc::new(r)))
                .collect();
        });
    }

    fn update(&self, change: impl FnOnce(&mut Layers)) {
        let mut guard = match self.rules.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut map = (**guard).clone();
        change(&mut map);
        *guard = Arc::new(map);
    }

    fn snapshot(&self) -> Arc<Layers> {
        match self.rules.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The rule in force under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<CompiledRule>> {
        self.snapshot().get(name).cloned()
    }

    /// Names of the rules in force, sorted.
    pub fn names(&self) -> Vec<String> {
        let layers = self.snapshot();
        let mut names: Vec<String> = layers
            .files
            .keys()
            .chain(layers.published.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Loads every `*.rhai` file of `dir`. A file that compiles replaces the rule of its
    /// name; one that does not is reported and the rule in force stays; a rule whose
    /// file is gone is removed. Returns the problems.
    pub fn load_dir(&self, dir: &Path) -> Vec<RuleError> {
        let mut errors = Vec::new();
        let mut seen = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(RuleError::new(
                    &dir.display().to_string(),
                    format!("cannot read the rules directory: {e}"),
                    rhai::Position::NONE,
                ));
                return errors;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
            .collect();
        paths.sort();
        for path in paths {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let display = path.display().to_string();
            if RuleBinding::new(&name, serde_json::Value::Null, 0).is_err() {
                errors.push(RuleError::new(
                    &display,
                    "rule file names are lower-case snake_case identifiers",
                    rhai::Position::NONE,
                ));
                continue;
            }
            seen.push(name.clone());
            let source = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(RuleError::new(
                        &display,
                        format!("cannot read: {e}"),
                        rhai::Position::NONE,
                    ));
                    continue;
                }
            };
            if self
                .snapshot()
                .files
                .get(&name)
                .is_some_and(|r| r.source == source)
            {
                continue;
            }
            match self.compile(&name, &source, RuleOrigin::File(path.clone())) {
                Ok(rule) => {
                    self.insert(rule);
                }
                Err(mut e) => {
                    e.rule = display;
                    errors.push(e);
                }
            }
        }
        let gone: Vec<String> = self
            .snapshot()
            .files
            .keys()
            .filter(|n| !seen.contains(n))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name);
        }
        errors
    }

    /// Checks that `params` (a JSON object) fit what `rule` declares.
    pub fn check_params(rule: &CompiledRule, params: &serde_json::Value) -> Result<(), String> {
        let empty = serde_json::Map::new();
        let given = params.as_object().unwrap_or(&empty);
        for key in given.keys() {
            if !rule.params.iter().any(|p| &p.name == key) {
                return Err(format!("rule {} has no parameter {key:?}", rule.name));
            }
        }
        for spec in &rule.params {
            match given.get(&spec.name) {
                None | Some(serde_json::Value::Null) if spec.optional => {}
                None | Some(serde_json::Value::Null) => {
                    return Err(format!("parameter {:?} is required", spec.name));
                }
                Some(v) => {
                    let ok = match spec.kind {
                        ParamKind::String => v.is_string(),
                        ParamKind::Int => v.is_i64(),
                        ParamKind::Bool => v.is_boolean(),
                        ParamKind::Map => v.is_object(),
                        ParamKind::Strings => v
                            .as_array()
                            .is_some_and(|a| a.iter().all(serde_json::Value::is_string)),
                        ParamKind::Money => v
                            .as_str()
                            .is_some_and(|s| s.trim().parse::<rust_decimal::Decimal>().is_ok()),
                    };
                    if !ok {
                        return Err(format!(
                            "parameter {:?} must be {}",
                            spec.name,
                            kind_name(spec.kind)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs one rule's `check` against a context.
    fn run(
        &self,
        rule: &CompiledRule,
        ctx: Dynamic,
        params: &serde_json::Value,
    ) -> Result<RuleVerdict, RuleError> {
        let params = json_to_dynamic(params);
        let value = self
            .call(&rule.ast, "check", (ctx, params))
            .map_err(|e| RuleError::new(&rule.name, e.to_string(), e.position()))?;
        api::read_verdict(value).map_err(|m| RuleError::new(&rule.name, m, rhai::Position::NONE))
    }

    /// Evaluates one rule (in force or a draft) against facts; for simulation.
    pub fn evaluate_one(
        &self,
        rule: &CompiledRule,
        params: &serde_json::Value,
        facts: &RuleFacts,
    ) -> Result<RuleVerdict, RuleError> {
        Self::check_params(rule, params)
            .map_err(|m| RuleError::new(&rule.name, m, rhai::Position::NONE))?;
        self.run(rule, facts_to_dynamic(facts), params)
    }

    /// Runs a rule's examples.
    pub fn run_examples(&self, rule: &CompiledRule) -> Result<Vec<ExampleResult>, RuleError> {
        if !rule.has_examples {
            return Ok(Vec::new());
        }
        let list = self
            .call(&rule.ast, "examples", ())
            .map_err(|e| RuleError::new(&rule.name, format!("fn examples: {e}"), e.position()))?;
        let list = list.try_cast::<Array>().ok_or_else(|| {
            RuleError::new(
                &rule.name,
                "fn examples must return an array of maps",
                rhai::Position::NONE,
            )
        })?;
        let mut results = Vec::with_capacity(list.len());
        for (i, example) in list.into_iter().enumerate() {
            let Some(example) = example.try_cast::<Map>() else {
                return Err(RuleError::new(
                    &rule.name,
                    format!("example {i} is not a map"),
                    rhai::Position::NONE,
                ));
            };
            let name = example
                .get("name")
                .and_then(|n| n.clone().into_string().ok())
                .unwrap_or_else(|| format!("example {i}"));
            let params: serde_json::Value = example
                .get("params")
                .and_then(|p| rhai::serde::from_dynamic(p).ok())
                .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
            let expect = example
                .get("expect")
                .and_then(|e| e.clone().into_string().ok())
                .unwrap_or_default();
            let failure = match Self::check_params(rule, &params) {
                Err(m) => Some(format!("invalid params: {m}")),
                Ok(()) => {
                    let ctx = example_context(&example);
                    match self.run(rule, ctx, &params) {
                        Err(e) => Some(format!("failed: {e}")),
                        Ok(verdict) => expectation_failure(&expect, &verdict),
                    }
                }
            };
            results.push(ExampleResult { name, failure });
        }
        Ok(results)
    }
}

fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::String => "a string",
        ParamKind::Int => "a whole number",
        ParamKind::Bool => "true or false",
        ParamKind::Strings => "an array of strings",
        ParamKind::Money => "a decimal amount as a string (\"50.00\")",
        ParamKind::Map => "an object",
    }
}

fn parse_param_specs(rule: &str, declared: Dynamic) -> Result<Vec<ParamSpec>, RuleError> {
    let bad = |m: String| RuleError::new(rule, m, rhai::Position::NONE);
    let map = declared
        .try_cast::<Map>()
        .ok_or_else(|| bad("fn params must return a map of name to type".into()))?;
    let mut specs = Vec::with_capacity(map.len());
    for (name, kind) in map {
        let kind = kind
            .into_string()
            .map_err(|_| bad(format!("parameter {name}: the type must be a string")))?;
        let (kind, optional) = match kind.strip_suffix('?') {
            Some(k) => (k.to_owned(), true),
            None => (kind, false),
        };
        let kind = match kind.as_str() {
            "string" => ParamKind::String,
            "int" => ParamKind::Int,
            "bool" => ParamKind::Bool,
            "strings" => ParamKind::Strings,
            "money" => ParamKind::Money,
            "map" => ParamKind::Map,
            other => {
                return Err(bad(format!(
                    "parameter {name}: unknown type {other:?} (string, int, bool, strings, money, map; add ? for optional)"
                )));
            }
        };
        specs.push(ParamSpec {
            name: name.to_string(),
            kind,
            optional,
        });
    }
    Ok(specs)
}

fn expectation_failure(expect: &str, verdict: &RuleVerdict) -> Option<String> {
    let got = match verdict {
        RuleVerdict::Pass => "pass".to_owned(),
        RuleVerdict::Reject { code, .. } => format!("reject:{code}"),
        RuleVerdict::Cap(n) => format!("cap:{n}"),
    };
    let matches = match expect {
        "pass" => got == "pass",
        "reject" => got.starts_with("reject:"),
        other => got == other,
    };
    (!matches).then(|| format!("expected {expect}, got {got}"))
}

/// JSON to a script value, directly (faster than going through serde).
pub fn json_to_dynamic(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value as J;
    match value {
        J::Null => Dynamic::UNIT,
        J::Bool(b) => (*b).into(),
        J::Number(n) => n.as_i64().map_or_else(
            || n.as_f64().map_or(Dynamic::UNIT, Dynamic::from),
            Dynamic::from,
        ),
        J::String(s) => s.clone().into(),
        J::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        J::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect(),
        ),
    }
}

fn strings(list: &[String]) -> Dynamic {
    Dynamic::from_array(list.iter().map(|s| Dynamic::from(s.clone())).collect())
}

fn opt(s: Option<&String>) -> Dynamic {
    s.map_or(Dynamic::UNIT, |s| Dynamic::from(s.clone()))
}

/// The `ctx` a rule sees.
pub fn facts_to_dynamic(f: &RuleFacts) -> Dynamic {
    let mut coupon = Map::new();
    coupon.insert("id".into(), f.coupon_id.into());
    coupon.insert("name".into(), f.coupon_name.clone().into());
    coupon.insert("metadata".into(), json_to_dynamic(&f.coupon_metadata));
    let items: Array = f
        .items
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("sku".into(), i.sku.clone().into());
            m.insert("categories".into(), strings(&i.categories));
            m.insert("quantity".into(), i.quantity.into());
            m.insert("unit_price".into(), i.unit_price.into());
            Dynamic::from_map(m)
        })
        .collect();
    let mut order = Map::new();
    order.insert("id".into(), f.order_id.clone().into());
    order.insert("currency".into(), f.order_currency.clone().into());
    order.insert("subtotal".into(), f.subtotal.into());
    order.insert(
        "item_count".into(),
        f.items.iter().map(|i| i.quantity).sum::<i64>().into(),
    );
    order.insert("items".into(), Dynamic::from_array(items));
    order.insert("channel".into(), opt(f.channel.as_ref()));
    let mut customer = Map::new();
    customer.insert("id".into(), opt(f.customer_id.as_ref()));
    customer.insert("email_domain".into(), opt(f.email_domain.as_ref()));
    customer.insert("tags".into(), strings(&f.customer_tags));
    customer.insert("first_order".into(), f.first_order.into());
    let mut usage = Map::new();
    usage.insert("coupon".into(), f.coupon_uses.into());
    usage.insert("code".into(), f.code_uses.into());
    usage.insert("customer".into(), f.customer_uses.into());
    usage.insert(
        "customer_times".into(),
        Dynamic::from_array(
            f.customer_use_times
                .iter()
                .map(|t| Dynamic::from(*t))
                .collect(),
        ),
    );
    usage.insert("discount_total".into(), f.discount_total.into());
    let mut ctx = Map::new();
    ctx.insert("coupon".into(), Dynamic::from_map(coupon));
    ctx.insert("code".into(), f.code.clone().into());
    ctx.insert("order".into(), Dynamic::from_map(order));
    ctx.insert("customer".into(), Dynamic::from_map(customer));
    ctx.insert("usage".into(), Dynamic::from_map(usage));
    ctx.insert("discount".into(), f.discount.into());
    ctx.insert("now".into(), f.now.into());
    Dynamic::from_map(ctx)
}

/// The facts examples start from: a USD 100.00 web order of six items by a returning
/// customer with the tag `vip`, on Thursday 2026-01-01 00:00 UTC.
pub fn example_facts() -> RuleFacts {
    RuleFacts {
        coupon_id: 1,
        coupon_name: "Example".into(),
        coupon_metadata: serde_json::json!({}),
        code: "EXAMPLE".into(),
        order_id: "example-1".into(),
        order_currency: "USD".into(),
        subtotal: 10_000,
        items: vec![
            coupons_domain::ItemFacts {
                sku: "SKU-1".into(),
                categories: vec!["shoes".into()],
                quantity: 2,
                unit_price: 3_000,
            },
            coupons_domain::ItemFacts {
                sku: "SKU-2".into(),
                categories: vec!["socks".into()],
                quantity: 4,
                unit_price: 1_000,
            },
        ],
        channel: Some("web".into()),
        customer_id: Some("cust-1".into()),
        email_domain: Some("example.com".into()),
        customer_tags: vec!["vip".into()],
        first_order: false,
        coupon_uses: 10,
        code_uses: 1,
        customer_uses: 0,
        customer_use_times: Vec::new(),
        discount_total: 5_000,
        discount: 1_000,
        now: 1_767_225_600,
    }
}

/// The example facts with an example's sections laid over them: `coupon`, `order`,
/// `customer` and `usage` maps replace the keys they name; `code`, `discount` and `now`
/// replace the value.
fn example_context(example: &Map) -> Dynamic {
    let base = facts_to_dynamic(&example_facts());
    let Some(mut ctx) = base.try_cast::<Map>() else {
        return Dynamic::UNIT;
    };
    for section in ["coupon", "order", "customer", "usage"] {
        let Some(over) = example
            .get(section)
            .and_then(|v| v.clone().try_cast::<Map>())
        else {
            continue;
        };
        if let Some(target) = ctx
            .get_mut(section)
            .and_then(|v| v.write_lock::<Map>())
            .as_deref_mut()
        {
            for (k, v) in over {
                target.insert(k, v);
            }
        }
    }
    for key in ["code", "discount", "now"] {
        if let Some(v) = example.get(key) {
            ctx.insert(key.into(), v.clone());
        }
    }
    Dynamic::from_map(ctx)
}

impl RuleEvaluator for Rules {
    fn evaluate(&self, bindings: &[RuleBinding], facts: &RuleFacts) -> RulesOutcome {
        if bindings.is_empty() {
            return RulesOutcome::Pass { cap: None };
        }
        let rules = self.snapshot();
        // Built once and shared read-only: each rule gets a cheap handle, and none can
        // change what the next one sees.
        let ctx = facts_to_dynamic(facts).into_read_only().into_shared();
        let mut cap: Option<i64> = None;
        for binding in bindings {
            let Some(rule) = rules.get(&binding.name) else {
                tracing::error!(rule = %binding.name, coupon = facts.coupon_id, "coupon binds a rule that is not loaded");
                return RulesOutcome::Failed {
                    rule: binding.name.clone(),
                };
            };
            match self.run(rule, ctx.clone(), &binding.params) {
                Ok(RuleVerdict::Pass) => {}
                Ok(RuleVerdict::Cap(n)) => cap = Some(cap.map_or(n, |c| c.min(n))),
                Ok(RuleVerdict::Reject { code, message, .. }) => {
                    return RulesOutcome::Rejected {
                        rule: binding.name.clone(),
                        code,
                        message,
                    };
                }
                Err(e) => {
                    tracing::error!(error = %e, coupon = facts.coupon_id, "rule failed; the coupon does not apply");
                    return RulesOutcome::Failed {
                        rule: binding.name.clone(),
                    };
                }
            }
        }
        RulesOutcome::Pass { cap }
    }
}
