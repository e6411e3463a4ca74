-- Checkout: redemptions and reservations, idempotency records, usage counters.
ALTER TABLE coupons ADD COLUMN min_subtotal_minor BIGINT CHECK (min_subtotal_minor IS NULL OR min_subtotal_minor >= 0);
ALTER TABLE coupons ADD COLUMN reversal_policy TEXT NOT NULL DEFAULT 'RESTORE_USAGE'
    CHECK (reversal_policy IN ('RESTORE_USAGE', 'KEEP_USAGE'));
ALTER TABLE coupons ADD COLUMN reserved_count BIGINT NOT NULL DEFAULT 0 CHECK (reserved_count >= 0);
ALTER TABLE coupon_codes ADD COLUMN reserved_count BIGINT NOT NULL DEFAULT 0 CHECK (reserved_count >= 0);

-- One row per reservation or redemption. `holds_use` is true while the row takes a use
-- of the coupon (a live reservation, a redemption, a reversal that keeps its use);
-- counters on coupons and codes equal these rows (see `coupons reconcile`).
CREATE TABLE redemptions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    coupon_id       BIGINT NOT NULL REFERENCES coupons (id) ON DELETE RESTRICT,
    code_id         BIGINT NOT NULL REFERENCES coupon_codes (id) ON DELETE RESTRICT,
    code            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('RESERVED', 'REDEEMED', 'RELEASED', 'EXPIRED', 'REVERSED', 'PARTIALLY_REVERSED')),
    holds_use       BOOLEAN NOT NULL,
    customer_key    TEXT,
    email_domain    TEXT,
    order_id        TEXT NOT NULL,
    channel         TEXT,
    currency        TEXT NOT NULL,
    subtotal_minor  BIGINT NOT NULL CHECK (subtotal_minor >= 0),
    discount_minor  BIGINT NOT NULL CHECK (discount_minor > 0),
    refunded_minor  BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= discount_minor),
    reserved_until  TEXT,
    created_at      TEXT NOT NULL,
    redeemed_at     TEXT,
    closed_at       TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX redemptions_coupon_idx ON redemptions (coupon_id, id);
CREATE INDEX redemptions_code_idx ON redemptions (code_id);
CREATE INDEX redemptions_customer_idx ON redemptions (coupon_id, customer_key) WHERE holds_use;
CREATE INDEX redemptions_due_idx ON redemptions (reserved_until) WHERE status = 'RESERVED';
CREATE INDEX redemptions_order_idx ON redemptions (order_id);

-- The first response to each idempotency key, replayed for retries.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Secrets the service generates for itself when none is configured.
CREATE TABLE service_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
