//! The rules that ship with the service: the files of `rules/`, compiled into the binary,
//! so they are in force wherever the binary starts. A rules directory adds to them and
//! overrides them by name; published rules override both.

use super::{RuleError, RuleOrigin, Rules};

/// Every shipped rule, as (name, source). A test checks that this lists exactly the
/// files of `rules/`.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "allowed_email_domains",
        include_str!("../../rules/allowed_email_domains.rhai"),
    ),
    (
        "customer_id_required",
        include_str!("../../rules/customer_id_required.rhai"),
    ),
    (
        "customer_tags",
        include_str!("../../rules/customer_tags.rhai"),
    ),
    (
        "day_hour_window",
        include_str!("../../rules/day_hour_window.rhai"),
    ),
    (
        "first_order_only",
        include_str!("../../rules/first_order_only.rhai"),
    ),
    (
        "free_shipping_over",
        include_str!("../../rules/free_shipping_over.rhai"),
    ),
    (
        "max_discount",
        include_str!("../../rules/max_discount.rhai"),
    ),
    (
        "min_item_count",
        include_str!("../../rules/min_item_count.rhai"),
    ),
    (
        "min_subtotal",
        include_str!("../../rules/min_subtotal.rhai"),
    ),
    (
        "per_customer_limit",
        include_str!("../../rules/per_customer_limit.rhai"),
    ),
    ("products", include_str!("../../rules/products.rhai")),
    (
        "sales_channels",
        include_str!("../../rules/sales_channels.rhai"),
    ),
    (
        "spend_budget",
        include_str!("../../rules/spend_budget.rhai"),
    ),
    (
        "three_for_two",
        include_str!("../../rules/three_for_two.rhai"),
    ),
    (
        "total_redemption_cap",
        include_str!("../../rules/total_redemption_cap.rhai"),
    ),
];

impl Rules {
    /// Compiles the shipped rules and puts them in force under any file or published
    /// rule of the same name. Returns the problems (none, unless the binary was built
    /// with a broken rule, which the tests catch).
    pub fn load_shipped(&self) -> Vec<RuleError> {
        let mut errors = Vec::new();
        for (name, source) in SHIPPED {
            match self.compile(name, source, RuleOrigin::Shipped) {
                Ok(rule) => {
                    self.insert(rule);
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_rules_directory_ships() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                (path.extension()? == "rhai")
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect();
        files.sort();
        let shipped: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, shipped);
    }

    #[test]
    fn every_shipped_rule_compiles() {
        let rules = Rules::new(crate::rules::RuleLimits::default());
        assert!(rules.load_shipped().is_empty());
        assert_eq!(rules.names().len(), SHIPPED.len());
    }
}
