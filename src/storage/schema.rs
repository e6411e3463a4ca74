//! Table definitions, one module per backend.
//!
//! Both modules are compiled from one text, `schema/tables.rs`: the same tables with the
//! same columns in the same order; only the SQL types of instants (`Timestamptz` /
//! `TimestamptzSqlite`) and JSON (`Jsonb` / `Json` text) differ. The Rust types are
//! identical, so one row struct loads from both and one query body, compiled once per
//! module, serves both (see `on_backend!`). Each module adds the few statements only
//! its backend can say.

/// PostgreSQL tables.
pub mod pg {
    /// The SQL type of instants.
    pub type Instant = diesel::sql_types::Timestamptz;
    /// The SQL type of JSON documents.
    pub type Document = diesel::sql_types::Jsonb;

    include!("schema/tables.rs");

    /// Taken before writing an event: transactions that write events then commit in
    /// the order of their event ids (the lock is held until commit).
    /// It also announces the event on `coupon_events`; PostgreSQL delivers the
    /// notification at commit, to every instance listening.
    pub const EVENT_ORDER_LOCK: Option<&str> =
        Some("SELECT pg_advisory_xact_lock(7434001), pg_notify('coupon_events', '')");

    /// Inserts generated codes, given as one JSON array, skipping taken ones: coupon id,
    /// usage limit, creation time, job id, codes.
    pub const INSERT_GENERATED_CODES: &str = "INSERT INTO coupon_codes \
        (coupon_id, code, usage_limit, created_at, batch_id) \
        SELECT $1, c, $2, $3, $4 FROM jsonb_array_elements_text(CAST($5 AS jsonb)) AS c \
        ON CONFLICT (code) DO NOTHING";

    /// Holds a coupon row against deletion until commit (a writer that will insert rows
    /// pointing at it takes this before any other lock, as a deletion would).
    pub const KEEP_COUPON: &str = "SELECT id FROM coupons WHERE id = $1 FOR KEY SHARE";

    /// Inserts imported codes, given as one JSON array of `{code, usage_limit, active}`:
    /// coupon id, creation time, rows.
    pub const INSERT_IMPORTED_CODES: &str = "INSERT INTO coupon_codes \
        (coupon_id, code, usage_limit, active, created_at) \
        SELECT $1, x.code, x.usage_limit, x.active, $2 \
        FROM jsonb_to_recordset(CAST($3 AS jsonb)) AS x(code text, usage_limit bigint, active boolean)";
}

/// SQLite tables.
pub mod sqlite {
    /// The SQL type of instants.
    pub type Instant = diesel::sql_types::TimestamptzSqlite;
    /// The SQL type of JSON documents.
    pub type Document = diesel::sql_types::Json;

    include!("schema/tables.rs");

    /// SQLite runs one write transaction at a time: ids are in commit order already.
    pub const EVENT_ORDER_LOCK: Option<&str> = None;

    /// SQLite's write lock already keeps the coupon: a plain read.
    pub const KEEP_COUPON: &str = "SELECT id FROM coupons WHERE id = $1";

    /// Inserts generated codes, given as one JSON array, skipping taken ones: coupon id,
    /// usage limit, creation time, job id, codes. (`WHERE true` keeps SQLite from
    /// reading `ON CONFLICT` as part of the join.)
    pub const INSERT_GENERATED_CODES: &str = "INSERT INTO coupon_codes \
        (coupon_id, code, usage_limit, created_at, batch_id) \
        SELECT $1, value, $2, $3, $4 FROM json_each($5) WHERE true \
        ON CONFLICT (code) DO NOTHING";

    /// Inserts imported codes, given as one JSON array of `{code, usage_limit, active}`:
    /// coupon id, creation time, rows.
    pub const INSERT_IMPORTED_CODES: &str = "INSERT INTO coupon_codes \
        (coupon_id, code, usage_limit, active, created_at) \
        SELECT $1, json_extract(value, '$.code'), json_extract(value, '$.usage_limit'), \
        json_extract(value, '$.active'), $2 FROM json_each($3)";
}
