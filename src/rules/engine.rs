//! The one function that builds and hardens the script engine.
//!
//! A rule script can compute, but it cannot read files or the network (Rhai has no such
//! API and modules are off), cannot `eval`, cannot print to stdout, and is stopped when it
//! exceeds any of [`RuleLimits`], including a wall-clock deadline.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, OptimizationLevel};

use super::api;

/// Sandbox limits for rule scripts.
#[derive(Debug, Clone, Copy)]
pub struct RuleLimits {
    /// Operations one call may perform (stops infinite loops).
    pub max_operations: u64,
    /// Nested function calls (stops deep recursion).
    pub max_call_levels: usize,
    /// Expression nesting, in top-level code and in functions.
    pub max_expr_depth: usize,
    /// Longest string, in bytes.
    pub max_string_size: usize,
    /// Most elements of an array.
    pub max_array_size: usize,
    /// Most entries of a map.
    pub max_map_size: usize,
    /// Wall-clock time one call may take.
    pub deadline: Duration,
}

impl Default for RuleLimits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 1_000,
            deadline: Duration::from_millis(50),
        }
    }
}

thread_local! {
    /// When the call running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with the wall-clock deadline of `limit` armed on this thread.
pub fn with_deadline<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let previous = DEADLINE.with(|d| d.replace(Some(Instant::now() + limit)));
    let out = f();
    DEADLINE.with(|d| d.set(previous));
    out
}

/// Builds the engine every rule runs in.
pub fn build(limits: &RuleLimits) -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(256)
        .set_max_functions(64)
        .set_max_modules(0)
        .set_strict_variables(true)
        .set_optimization_level(OptimizationLevel::Full)
        // The interner sits behind a write lock; with it, concurrent evaluations on
        // several threads would take turns.
        .set_max_strings_interned(0);
    e.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    // No modules: `import` does not even parse. No `eval` either.
    e.disable_symbol("import");
    e.disable_symbol("eval");
    e.on_print(|text| tracing::debug!(target: "rules", "print: {text}"));
    e.on_debug(|text, _, pos| tracing::debug!(target: "rules", "debug at {pos}: {text}"));
    e.on_progress(|ops| {
        if ops % 512 == 0 {
            let late = DEADLINE.with(|d| d.get().is_some_and(|at| Instant::now() > at));
            if late {
                return Some(Dynamic::from("wall-clock deadline exceeded"));
            }
        }
        None
    });
    api::register(&mut e);
    e
}
