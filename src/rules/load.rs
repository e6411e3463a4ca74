//! Loading the rules directory: every `*.rhai` file compiled and put in force over the
//! shipped rule of its name, files that fail reported while the rule in force stays,
//! rules whose file is gone removed. A directory that does not exist holds no rules.

use std::path::{Path, PathBuf};

use coupons_domain::RuleBinding;

use super::{RuleError, RuleOrigin, Rules};

impl Rules {
    /// Loads every `*.rhai` file of `dir`. A file that compiles replaces the rule of its
    /// name; one that does not is reported and the rule in force stays; a rule whose
    /// file is gone is removed. Returns the problems.
    pub fn load_dir(&self, dir: &Path) -> Vec<RuleError> {
        let mut errors = Vec::new();
        let mut seen = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let files: Vec<String> = self.snapshot().files.keys().cloned().collect();
                for name in files {
                    self.remove(&name);
                }
                return errors;
            }
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
}
