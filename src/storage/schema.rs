//! Table definitions, one module per backend.
//!
//! Both modules declare the same tables with the same columns in the same order; only
//! the SQL types of instants (`Timestamptz` / `TimestamptzSqlite`) and JSON (`Jsonb` /
//! `Json` text) differ. The Rust types are identical, so one row struct loads from both
//! and one query body, compiled once per module, serves both (see `with_conn!`).
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
        diesel::allow_tables_to_appear_in_same_query!(coupons, coupon_codes, api_keys, service_flags);
    };
}

/// PostgreSQL tables.
pub mod pg {
    tables!(Timestamptz, Jsonb);
}

/// SQLite tables.
pub mod sqlite {
    tables!(TimestamptzSqlite, Json);
}
