//! Compiling a rule: the script must compile, define `fn check(ctx, params)`, and may
//! define `fn params()` (read here) and `fn examples()`, each with the right arity.

use super::params::parse_param_specs;
use super::{CompiledRule, RuleError, RuleOrigin, Rules};

impl Rules {
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
}
