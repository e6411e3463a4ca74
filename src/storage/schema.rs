//! Table definitions, one module per backend.
//!
//! Both modules declare the same tables with the same columns in the same order; only
//! the SQL types of instants (`Timestamptz` / `TimestamptzSqlite`) and JSON (`Jsonb` /
//! `Json` text) differ. The Rust types are identical, so one row struct loads from both
//! and one query body, compiled once per module, serves both (see `on_backend!`).
//! Keep them in step with `migrations/`.

macro_rules! tables {
    ($ts:ty, $json:ty) => {
        diesel::table! {
            use diesel::sql_types::*;
            /// Discount definitions.
            coupons (id) {
                id -> BigInt,
                name -> Text,
                description -> Nullable<Text>,
                status -> Text,
                discount_kind -> Text,
                percent_off -> Nullable<Text>,
                amount_minor -> Nullable<BigInt>,
                max_discount_minor -> Nullable<BigInt>,
                currency -> Nullable<Text>,
                starts_at -> $ts,
                expires_at -> Nullable<$ts>,
                max_redemptions -> Nullable<BigInt>,
                per_customer_limit -> Nullable<BigInt>,
                channels -> $json,
                rules -> $json,
                metadata -> $json,
                redemption_count -> BigInt,
                created_at -> $ts,
                updated_at -> $ts,
                min_subtotal_minor -> Nullable<BigInt>,
                reversal_policy -> Text,
                reserved_count -> BigInt,
                campaign_id -> Nullable<BigInt>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Customer-facing codes, canonical (trimmed, upper case).
            coupon_codes (id) {
                id -> BigInt,
                coupon_id -> BigInt,
                code -> Text,
                usage_limit -> Nullable<BigInt>,
                redemption_count -> BigInt,
                active -> Bool,
                created_at -> $ts,
                reserved_count -> BigInt,
                batch_id -> Nullable<BigInt>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Reservations and redemptions.
            redemptions (id) {
                id -> BigInt,
                coupon_id -> BigInt,
                code_id -> BigInt,
                code -> Text,
                status -> Text,
                holds_use -> Bool,
                customer_key -> Nullable<Text>,
                email_domain -> Nullable<Text>,
                order_id -> Text,
                channel -> Nullable<Text>,
                currency -> Text,
                subtotal_minor -> BigInt,
                discount_minor -> BigInt,
                refunded_minor -> BigInt,
                reserved_until -> Nullable<$ts>,
                created_at -> $ts,
                redeemed_at -> Nullable<$ts>,
                closed_at -> Nullable<$ts>,
                updated_at -> $ts,
                campaign_id -> Nullable<BigInt>,
                reserved_at -> Nullable<$ts>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// First responses to idempotency keys.
            idempotency_keys (scope, key) {
                scope -> Text,
                key -> Text,
                request_hash -> Text,
                response -> $json,
                created_at -> $ts,
                expires_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Validation attempts per coupon, hour and outcome.
            validation_attempts (coupon_id, hour, outcome) {
                coupon_id -> BigInt,
                hour -> $ts,
                outcome -> Text,
                attempts -> BigInt,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Every version of every published rule.
            rule_versions (name, version) {
                name -> Text,
                version -> BigInt,
                source -> Text,
                author -> Text,
                created_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// The version in force of each published rule.
            rule_heads (name) {
                name -> Text,
                version -> BigInt,
                changed_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Every publish and rollback.
            rule_audit (id) {
                id -> BigInt,
                name -> Text,
                action -> Text,
                version -> BigInt,
                actor -> Text,
                at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Secrets the service generated for itself.
            service_secrets (name) {
                name -> Text,
                value -> Text,
                created_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// API keys: only a hash of the secret is stored.
            api_keys (id) {
                id -> BigInt,
                name -> Text,
                role -> Text,
                prefix -> Text,
                secret_hash -> Text,
                created_at -> $ts,
                last_used_at -> Nullable<$ts>,
                revoked_at -> Nullable<$ts>,
                channels -> $json,
                expires_at -> Nullable<$ts>,
                replaced_by -> Nullable<BigInt>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Domain events, in commit order.
            outbox_events (id) {
                id -> BigInt,
                event_type -> Text,
                coupon_id -> Nullable<BigInt>,
                entity_id -> Text,
                payload -> $json,
                created_at -> $ts,
                campaign_id -> Nullable<BigInt>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Groups of coupons.
            campaigns (id) {
                id -> BigInt,
                name -> Text,
                description -> Nullable<Text>,
                created_at -> $ts,
                updated_at -> $ts,
                starts_at -> Nullable<$ts>,
                ends_at -> Nullable<$ts>,
                max_uses -> Nullable<BigInt>,
                budget_minor -> Nullable<BigInt>,
                budget_currency -> Nullable<Text>,
                used_count -> BigInt,
                discount_used_minor -> BigInt,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Background jobs (code generation) with their progress and lease.
            bulk_jobs (id) {
                id -> BigInt,
                kind -> Text,
                coupon_id -> BigInt,
                status -> Text,
                params -> $json,
                total -> BigInt,
                done -> BigInt,
                error -> Nullable<Text>,
                cancel_requested -> Bool,
                lease_owner -> Nullable<Text>,
                lease_until -> Nullable<$ts>,
                created_at -> $ts,
                started_at -> Nullable<$ts>,
                finished_at -> Nullable<$ts>,
                updated_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Who changed what, when, from where: one row per change.
            audit_log (id) {
                id -> BigInt,
                at -> $ts,
                actor_key_id -> Nullable<BigInt>,
                actor_role -> Text,
                actor_name -> Text,
                client_ip -> Nullable<Text>,
                action -> Text,
                entity_type -> Text,
                entity_id -> Text,
                before -> Nullable<$json>,
                after -> Nullable<$json>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Where events are POSTed; each with its cursor in the outbox and breaker.
            webhook_endpoints (id) {
                id -> BigInt,
                url -> Text,
                description -> Nullable<Text>,
                event_types -> $json,
                coupon_id -> Nullable<BigInt>,
                secret -> Text,
                active -> Bool,
                cursor_event_id -> BigInt,
                failures -> BigInt,
                open_until -> Nullable<$ts>,
                created_at -> $ts,
                updated_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// One event for one endpoint, until delivered or given up.
            webhook_deliveries (id) {
                id -> BigInt,
                endpoint_id -> BigInt,
                event_id -> BigInt,
                status -> Text,
                attempts -> BigInt,
                next_attempt_at -> $ts,
                leased_until -> Nullable<$ts>,
                lease_token -> Nullable<Text>,
                last_attempt_at -> Nullable<$ts>,
                last_status_code -> Nullable<BigInt>,
                last_error -> Nullable<Text>,
                delivered_at -> Nullable<$ts>,
                created_at -> $ts,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// Every attempt of every delivery.
            webhook_attempts (id) {
                id -> BigInt,
                delivery_id -> BigInt,
                started_at -> $ts,
                duration_ms -> BigInt,
                status_code -> Nullable<BigInt>,
                error -> Nullable<Text>,
                succeeded -> Bool,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;
            /// One-time events of the service itself (e.g. the first admin key).
            service_flags (name) {
                name -> Text,
                created_at -> $ts,
            }
        }

        diesel::joinable!(coupon_codes -> coupons (coupon_id));
        diesel::joinable!(coupons -> campaigns (campaign_id));
        diesel::joinable!(bulk_jobs -> coupons (coupon_id));
        diesel::joinable!(redemptions -> coupons (coupon_id));
        diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
        diesel::joinable!(webhook_deliveries -> outbox_events (event_id));
        diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
        diesel::allow_tables_to_appear_in_same_query!(
            coupons,
            coupon_codes,
            api_keys,
            service_flags,
            redemptions,
            idempotency_keys,
            service_secrets,
            validation_attempts,
            rule_versions,
            rule_heads,
            rule_audit,
            audit_log,
            outbox_events,
            webhook_endpoints,
            webhook_deliveries,
            webhook_attempts,
            campaigns,
            bulk_jobs,
        );
    };
}

/// PostgreSQL tables.
pub mod pg {
    tables!(Timestamptz, Jsonb);

    /// The SQL type of instants.
    pub type Instant = diesel::sql_types::Timestamptz;

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
    tables!(TimestamptzSqlite, Json);

    /// The SQL type of instants.
    pub type Instant = diesel::sql_types::TimestamptzSqlite;

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
