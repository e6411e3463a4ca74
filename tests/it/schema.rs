//! Checked-in artefacts that must match the code.

use std::collections::BTreeSet;
use std::path::Path;

fn migration_names(dir: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_list_the_same_migrations() {
    let pg = migration_names("postgres");
    let sqlite = migration_names("sqlite");
    assert!(!pg.is_empty());
    assert_eq!(
        pg, sqlite,
        "migrations/postgres and migrations/sqlite must hold the same names"
    );
    for dir in ["postgres", "sqlite"] {
        for name in &pg {
            for file in ["up.sql", "down.sql"] {
                let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(dir)
                    .join(name)
                    .join(file);
                assert!(p.is_file(), "missing {}", p.display());
            }
        }
    }
    let embedded_pg = coupons::storage::migrations::names(&coupons::storage::migrations::POSTGRES);
    let embedded_sqlite =
        coupons::storage::migrations::names(&coupons::storage::migrations::SQLITE);
    assert_eq!(embedded_pg, embedded_sqlite);
    assert_eq!(embedded_pg.len(), pg.len());
}

#[test]
fn schema_graphql_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = coupons::graphql::sdl();
    assert!(
        checked_in == generated,
        "schema.graphql is out of date with the code. Regenerate it with:\n\n    cargo run -- print-schema > schema.graphql\n"
    );
}

#[test]
fn openapi_json_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = coupons::rest::openapi_json();
    assert!(
        checked_in == generated,
        "openapi.json is out of date with the code. Regenerate it with:\n\n    cargo run -- print-openapi > openapi.json\n"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_type_field_and_enum_value_has_a_description() {
    // SDL descriptions appear as `"""..."""` or `"..."` lines before each definition.
    let sdl = coupons::graphql::sdl();
    let mut missing = Vec::new();
    let mut previous = "";
    let mut in_block = false;
    for line in sdl.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            if !(line.len() > 3 && line.ends_with("\"\"\"")) {
                in_block = !in_block;
            }
            previous = "\"\"\"";
            continue;
        }
        if in_block
            || line.is_empty()
            || line == "}"
            || line.starts_with(')')
            || line.starts_with('"')
            || line.starts_with("schema")
            || line.starts_with("query:")
            || line.starts_with("mutation:")
            || line.starts_with("subscription:")
            || line.starts_with("directive")
        {
            previous = line;
            continue;
        }
        let documented = previous.ends_with('"');
        let builtin = ["scalar JSON", "scalar Boolean"]
            .iter()
            .any(|b| line.starts_with(b));
        if !documented && !builtin && !line.starts_with("@") {
            missing.push(line.to_owned());
        }
        previous = line;
    }
    assert!(
        missing.is_empty(),
        "undocumented schema elements:\n{}",
        missing.join("\n")
    );
}
