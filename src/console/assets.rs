//! The console's files, compiled into the binary: `index.html` and what it loads from
//! `/admin/assets/`. A test checks that every file beside this one is listed.

/// The console's page.
pub const INDEX: &str = include_str!("index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// (file name, content type, bytes) of every asset.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("console.css"),
    ),
    ("api.js", JS, include_bytes!("api.js")),
    ("app.js", JS, include_bytes!("app.js")),
    ("audit.js", JS, include_bytes!("audit.js")),
    ("campaigns.js", JS, include_bytes!("campaigns.js")),
    ("chart.js", JS, include_bytes!("chart.js")),
    ("coupons.js", JS, include_bytes!("coupons.js")),
    ("diff.js", JS, include_bytes!("diff.js")),
    ("dom.js", JS, include_bytes!("dom.js")),
    ("keys.js", JS, include_bytes!("keys.js")),
    ("reports.js", JS, include_bytes!("reports.js")),
    ("rhai.js", JS, include_bytes!("rhai.js")),
    ("router.js", JS, include_bytes!("router.js")),
    ("rules.js", JS, include_bytes!("rules.js")),
    ("webhooks.js", JS, include_bytes!("webhooks.js")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_and_the_whole_is_small() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".rs") && n != "index.html")
            .collect();
        files.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|(n, _, _)| (*n).to_owned()).collect();
        listed.sort();
        assert_eq!(files, listed, "src/console and ASSETS differ");
        let total: usize = INDEX.len() + ASSETS.iter().map(|(_, _, b)| b.len()).sum::<usize>();
        assert!(
            total < 500 * 1024,
            "the console's assets weigh {total} bytes"
        );
    }
}
