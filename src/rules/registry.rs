//! The registry of rules in force: [`Rules`], its two layers (files, and published
//! rules that win over files of the same name), swapped whole on every change, and the
//! one way into a compiled script, under the sandbox's deadline.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rhai::{AST, CallFnOptions, Dynamic, Engine, Scope};

use super::engine::{self, RuleLimits};
use super::{CompiledRule, RuleOrigin};

/// Rules by name, in three layers: shipped rules, files, which win over shipped rules of
/// the same name, and published rules, which win over both.
#[derive(Debug, Clone, Default)]
pub(super) struct Layers {
    /// Rules shipped in the binary.
    pub(super) shipped: HashMap<String, Arc<CompiledRule>>,
    /// Rules from files in the rules directory.
    pub(super) files: HashMap<String, Arc<CompiledRule>>,
    /// Rules published through the API.
    pub(super) published: HashMap<String, Arc<CompiledRule>>,
}

impl Layers {
    /// The rule in force under `name`.
    pub(super) fn get(&self, name: &str) -> Option<&Arc<CompiledRule>> {
        self.published
            .get(name)
            .or_else(|| self.files.get(name))
            .or_else(|| self.shipped.get(name))
    }
}

/// The compiled rules, swapped whole on every change.
pub struct Rules {
    /// The hardened engine every rule is compiled and run with.
    pub(super) engine: Engine,
    limits: RuleLimits,
    rules: RwLock<Arc<Layers>>,
    /// How long checkout evaluations take and how many fail, for the metrics.
    pub(super) observed: Observed,
}

/// Checkout evaluations of a coupon's rules: their time and their failures (handles
/// shared with the metrics registry).
#[derive(Clone)]
pub struct Observed {
    /// Seconds per evaluation of a coupon's rules.
    pub seconds: prometheus_client::metrics::histogram::Histogram,
    /// Evaluations that failed (a rule erred, ran over a limit or was missing).
    pub failures: prometheus_client::metrics::counter::Counter,
}

impl Default for Observed {
    fn default() -> Self {
        use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
        Self {
            // 10 µs to about 2.6 s.
            seconds: Histogram::new(exponential_buckets(0.000_01, 4.0, 10)),
            failures: Default::default(),
        }
    }
}

/// How rules are called: without running the script's top level again, and with the
/// scope rewound after each call.
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
            observed: Observed::default(),
        }
    }

    /// The handles of its evaluation time and failures, to register with the metrics.
    pub fn observed(&self) -> Observed {
        self.observed.clone()
    }

    /// Calls the script function `name` of `ast` under the sandbox's deadline.
    pub(super) fn call(
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

    /// Puts a compiled rule in force (replacing any rule of that name in its layer).
    pub fn insert(&self, rule: CompiledRule) -> Arc<CompiledRule> {
        let rule = Arc::new(rule);
        self.update(|layers| {
            let layer = match rule.origin {
                RuleOrigin::Published { .. } => &mut layers.published,
                RuleOrigin::Shipped => &mut layers.shipped,
                RuleOrigin::File(_) | RuleOrigin::Inline => &mut layers.files,
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

    /// Applies `change` to a copy of the layers and puts the copy in force.
    fn update(&self, change: impl FnOnce(&mut Layers)) {
        let mut guard = match self.rules.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut map = (**guard).clone();
        change(&mut map);
        *guard = Arc::new(map);
    }

    /// The layers in force now; later changes do not affect it.
    pub(super) fn snapshot(&self) -> Arc<Layers> {
        match self.rules.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The rule in force under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<CompiledRule>> {
        self.snapshot().get(name).cloned()
    }

    /// The rules in force, sorted by name, each as the layer that wins gives it.
    pub fn in_force(&self) -> Vec<Arc<CompiledRule>> {
        let layers = self.snapshot();
        self.names()
            .iter()
            .filter_map(|n| layers.get(n).cloned())
            .collect()
    }

    /// Names of the rules in force, sorted.
    pub fn names(&self) -> Vec<String> {
        let layers = self.snapshot();
        let mut names: Vec<String> = layers
            .shipped
            .keys()
            .chain(layers.files.keys())
            .chain(layers.published.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
