// The tables and the coupon change set, as one text that `schema.rs` compiles once for
// each backend: included into `schema::pg` and `schema::sqlite`, where `Instant` and
// `Document` name that backend's SQL types for instants and JSON. Keep it in step with
// `migrations/`.

use chrono::{DateTime, Utc};
use coupons_domain::{CouponSpec, Discount, LifecycleStatus};
use serde_json::{Value, json};

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
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
        starts_at -> Instant,
        expires_at -> Nullable<Instant>,
        max_redemptions -> Nullable<BigInt>,
        per_customer_limit -> Nullable<BigInt>,
        channels -> Document,
        rules -> Document,
        metadata -> Document,
        redemption_count -> BigInt,
        created_at -> Instant,
        updated_at -> Instant,
        min_subtotal_minor -> Nullable<BigInt>,
        reversal_policy -> Text,
        reserved_count -> BigInt,
        campaign_id -> Nullable<BigInt>,
        min_items -> Nullable<BigInt>,
        combines_with -> Text,
        priority -> Integer,
        target -> Nullable<Document>,
        automatic -> Bool,
        max_discount_per_customer_minor -> Nullable<BigInt>,
        time_zone -> Nullable<Text>,
        other_currencies -> Nullable<Document>,
        max_order_discount_percent -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Customer-facing codes, canonical (trimmed, upper case).
    coupon_codes (id) {
        id -> BigInt,
        coupon_id -> BigInt,
        code -> Text,
        usage_limit -> Nullable<BigInt>,
        redemption_count -> BigInt,
        active -> Bool,
        created_at -> Instant,
        reserved_count -> BigInt,
        batch_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
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
        reserved_until -> Nullable<Instant>,
        created_at -> Instant,
        redeemed_at -> Nullable<Instant>,
        closed_at -> Nullable<Instant>,
        updated_at -> Instant,
        campaign_id -> Nullable<BigInt>,
        reserved_at -> Nullable<Instant>,
        lines -> Nullable<Document>,
        device_key -> Nullable<Text>,
        payment_key -> Nullable<Text>,
        address_key -> Nullable<Text>,
        mailbox_key -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;
    /// Failed code checks of outside callers, by keyed hashes of address and network.
    failed_checks (id) {
        id -> BigInt,
        address_key -> Text,
        network_key -> Text,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Abuse signals raised.
    abuse_signals (id) {
        id -> BigInt,
        kind -> Text,
        scope -> Text,
        coupon_id -> Nullable<BigInt>,
        evidence -> Document,
        flagged -> Document,
        action -> Text,
        undo -> Nullable<Document>,
        status -> Text,
        raised_at -> Instant,
        resolved_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;
    /// What abuse detection does by itself, per coupon or campaign.
    abuse_actions (id) {
        id -> BigInt,
        coupon_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        action -> Text,
        updated_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// First responses to idempotency keys.
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        request_hash -> Text,
        response -> Document,
        created_at -> Instant,
        expires_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;
    /// Failed code checks per subject (keyed hash), shared by the instances on one
    /// PostgreSQL database.
    attempt_budgets (subject) {
        subject -> Text,
        budget -> Integer,
        window_start -> Instant,
        failures -> Integer,
        locked_until -> Nullable<Instant>,
        refused -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Validation attempts per coupon, hour and outcome.
    validation_attempts (coupon_id, hour, outcome) {
        coupon_id -> BigInt,
        hour -> Instant,
        outcome -> Text,
        attempts -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Every version of every published rule.
    rule_versions (name, version) {
        name -> Text,
        version -> BigInt,
        source -> Text,
        author -> Text,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// The version in force of each published rule.
    rule_heads (name) {
        name -> Text,
        version -> BigInt,
        changed_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Every publish and rollback.
    rule_audit (id) {
        id -> BigInt,
        name -> Text,
        action -> Text,
        version -> BigInt,
        actor -> Text,
        at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Secrets the service generated for itself.
    service_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// API keys: only a hash of the secret is stored.
    api_keys (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        prefix -> Text,
        secret_hash -> Text,
        created_at -> Instant,
        last_used_at -> Nullable<Instant>,
        revoked_at -> Nullable<Instant>,
        channels -> Document,
        expires_at -> Nullable<Instant>,
        replaced_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Domain events, in commit order.
    outbox_events (id) {
        id -> BigInt,
        event_type -> Text,
        coupon_id -> Nullable<BigInt>,
        entity_id -> Text,
        payload -> Document,
        created_at -> Instant,
        campaign_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Groups of coupons.
    campaigns (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Instant,
        updated_at -> Instant,
        starts_at -> Nullable<Instant>,
        ends_at -> Nullable<Instant>,
        max_uses -> Nullable<BigInt>,
        budget_minor -> Nullable<BigInt>,
        budget_currency -> Nullable<Text>,
        used_count -> BigInt,
        discount_used_minor -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Background jobs (code generation) with their progress and lease.
    bulk_jobs (id) {
        id -> BigInt,
        kind -> Text,
        coupon_id -> BigInt,
        status -> Text,
        params -> Document,
        total -> BigInt,
        done -> BigInt,
        error -> Nullable<Text>,
        cancel_requested -> Bool,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Instant>,
        created_at -> Instant,
        started_at -> Nullable<Instant>,
        finished_at -> Nullable<Instant>,
        updated_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Who changed what, when, from where: one row per change.
    audit_log (id) {
        id -> BigInt,
        at -> Instant,
        actor_key_id -> Nullable<BigInt>,
        actor_role -> Text,
        actor_name -> Text,
        client_ip -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        before -> Nullable<Document>,
        after -> Nullable<Document>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Where events are POSTed; each with its cursor in the outbox and breaker.
    webhook_endpoints (id) {
        id -> BigInt,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Document,
        coupon_id -> Nullable<BigInt>,
        secret -> Text,
        active -> Bool,
        cursor_event_id -> BigInt,
        failures -> BigInt,
        open_until -> Nullable<Instant>,
        created_at -> Instant,
        updated_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// One event for one endpoint, until delivered or given up.
    webhook_deliveries (id) {
        id -> BigInt,
        endpoint_id -> BigInt,
        event_id -> BigInt,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Instant,
        leased_until -> Nullable<Instant>,
        lease_token -> Nullable<Text>,
        last_attempt_at -> Nullable<Instant>,
        last_status_code -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Instant>,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Every attempt of every delivery.
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        started_at -> Instant,
        duration_ms -> BigInt,
        status_code -> Nullable<BigInt>,
        error -> Nullable<Text>,
        succeeded -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// One-time events of the service itself (e.g. the first admin key).
    service_flags (name) {
        name -> Text,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Payments a provider told about: what they pay for and what was said of them.
    payments (id) {
        id -> BigInt,
        provider -> Text,
        payment_ref -> Text,
        reservation_id -> Nullable<BigInt>,
        cart_order_id -> Nullable<Text>,
        currency -> Nullable<Text>,
        facts -> Document,
        created_at -> Instant,
        updated_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Each provider event, once, with its outcome.
    payment_events (id) {
        id -> BigInt,
        provider -> Text,
        event_id -> Text,
        event_type -> Text,
        payment_id -> Nullable<BigInt>,
        outcome -> Document,
        received_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Console sessions, by the hash of their cookie value.
    console_sessions (id_hash) {
        id_hash -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        name -> Text,
        role -> Text,
        key_id -> Nullable<BigInt>,
        csrf_token -> Text,
        created_at -> Instant,
        last_seen_at -> Instant,
        expires_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{Document, Instant};
    /// Console sign-ins under way, by their state.
    console_logins (state) {
        state -> Text,
        nonce -> Text,
        verifier -> Text,
        created_at -> Instant,
    }
}

diesel::joinable!(coupon_codes -> coupons (coupon_id));
diesel::joinable!(payment_events -> payments (payment_id));
diesel::joinable!(coupons -> campaigns (campaign_id));
diesel::joinable!(bulk_jobs -> coupons (coupon_id));
diesel::joinable!(redemptions -> coupons (coupon_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> outbox_events (event_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::allow_tables_to_appear_in_same_query!(
    coupons,
    console_sessions,
    console_logins,
    payments,
    payment_events,
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
    abuse_signals,
    abuse_actions,
    failed_checks,
    attempt_budgets,
);

/// The writable columns of a coupon, derived from a validated spec: the values of an
/// insert (with the counters and instants) and the whole change of an update.
#[derive(diesel::Insertable, diesel::AsChangeset)]
#[diesel(table_name = coupons, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct CouponColumns {
    pub name: String,
    pub description: Option<String>,
    pub status: &'static str,
    pub discount_kind: &'static str,
    pub percent_off: Option<String>,
    pub amount_minor: Option<i64>,
    pub max_discount_minor: Option<i64>,
    pub currency: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_redemptions: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub channels: Value,
    pub rules: Value,
    pub metadata: Value,
    pub min_subtotal_minor: Option<i64>,
    pub min_items: Option<i64>,
    pub reversal_policy: &'static str,
    pub combines_with: String,
    pub priority: i32,
    pub target: Option<Value>,
    pub automatic: bool,
    pub max_discount_per_customer_minor: Option<i64>,
    pub time_zone: Option<&'static str>,
    pub other_currencies: Option<Value>,
    pub max_order_discount_percent: Option<String>,
}

impl CouponColumns {
    pub fn new(spec: &CouponSpec, status: LifecycleStatus) -> Self {
        let main = spec.prices.main();
        let (discount_kind, percent_off, amount_minor, max_discount_minor) = match main.discount {
            Discount::Percentage {
                percent,
                max_discount,
            } => (
                "PERCENTAGE",
                Some(percent.value().to_string()),
                None,
                max_discount.map(|m| m.minor),
            ),
            Discount::FixedAmount(m) => ("FIXED_AMOUNT", None, Some(m.minor), None),
        };
        Self {
            name: spec.name.clone(),
            description: spec.description.clone(),
            status: status.as_str(),
            discount_kind,
            percent_off,
            amount_minor,
            max_discount_minor,
            currency: main.currency().map(|c| c.code().to_owned()),
            starts_at: spec.window.starts_at,
            expires_at: spec.window.expires_at,
            max_redemptions: spec.max_redemptions.get().map(i64::from),
            per_customer_limit: spec.per_customer_limit.get().map(i64::from),
            channels: json!(spec.channels.as_slice()),
            rules: Value::Array(
                spec.rules
                    .iter()
                    .map(|r| json!({"name": r.name, "params": r.params}))
                    .collect(),
            ),
            metadata: spec.metadata.as_value().clone(),
            min_subtotal_minor: main.min_subtotal.map(|m| m.minor),
            min_items: spec.min_items.get().map(i64::from),
            reversal_policy: spec.reversal_policy.as_str(),
            combines_with: spec
                .stacking
                .combines_with()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
            priority: spec.stacking.priority,
            target: match &spec.target {
                coupons_domain::Target::Order => None,
                other => serde_json::to_value(other).ok(),
            },
            automatic: spec.automatic,
            max_discount_per_customer_minor: main.max_discount_per_customer.map(|m| m.minor),
            time_zone: spec.time_zone.map(coupons_domain::TimeZone::name),
            other_currencies: crate::storage::models::OtherCurrency::column(&spec.prices),
            max_order_discount_percent: spec.max_order_discount.map(|p| p.value().to_string()),
        }
    }
}
