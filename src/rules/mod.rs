//! Eligibility rules: Rhai scripts compiled once, hardened, swapped live.
//!
//! The contract for rule authors is `rules/README.md`. In short, a rule file defines
//! `fn check(ctx, params)` returning `pass()`, `reject(code, message[, details])` or
//! `cap(amount)`; optionally `fn params()` declaring its parameters, and
//! `fn examples()` listing cases that `coupons check-rules` runs.
//!
//! [`Rules`] holds the compiled rules, in three layers: the rules shipped in the binary
//! (`shipped`), files in the rules directory (which override shipped rules by name), and
//! rules published through the API (which override both). A file that fails to compile
//! is reported with its line and column and the version in force stays. Evaluation implements
//! [`RuleEvaluator`](coupons_domain::RuleEvaluator), so checkout can run a coupon's
//! bindings inside its transaction without knowing about scripts.
//!
//! Where things are: `registry` holds the rules in force ([`Rules`]) and calls into
//! scripts; `compile` checks a rule's entry points; `load` reads the rules directory;
//! `params` declares and checks parameters; `evaluate` runs rules for checkout and
//! simulation; `examples` runs a rule's examples; `convert` turns JSON and facts into
//! script values; `error` and `rule` hold [`RuleError`] and [`CompiledRule`]. The
//! hardened engine is `engine`, the script API `api`, live reload `watch`.

pub mod api;
mod compile;
mod convert;
pub mod engine;
mod error;
mod evaluate;
mod examples;
mod load;
mod params;
mod registry;
mod rule;
mod shipped;
mod watch;

pub use convert::{facts_to_dynamic, json_to_dynamic};
pub use engine::RuleLimits;
pub use error::RuleError;
pub use examples::{ExampleResult, example_facts};
pub use registry::{Observed, Rules};
pub use rule::{CompiledRule, RuleOrigin};
pub use shipped::SHIPPED;
pub use watch::watch_dir;
