-- Coupons, their codes, API keys, and one-time service flags.
CREATE TABLE coupons (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL,
    description        TEXT,
    status             TEXT NOT NULL CHECK (status IN ('DRAFT', 'ACTIVE', 'PAUSED', 'ARCHIVED')),
    discount_kind      TEXT NOT NULL CHECK (discount_kind IN ('PERCENTAGE', 'FIXED_AMOUNT')),
    percent_off        TEXT,
    amount_minor       BIGINT,
    max_discount_minor BIGINT,
    currency           TEXT,
    starts_at          TEXT NOT NULL,
    expires_at         TEXT,
    max_redemptions    BIGINT CHECK (max_redemptions IS NULL OR max_redemptions >= 1),
    per_customer_limit BIGINT CHECK (per_customer_limit IS NULL OR per_customer_limit >= 1),
    channels           TEXT NOT NULL DEFAULT '[]',
    rules              TEXT NOT NULL DEFAULT '[]',
    metadata           TEXT NOT NULL DEFAULT '{}',
    redemption_count   BIGINT NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    CHECK (expires_at IS NULL OR starts_at < expires_at),
    CHECK (
        (discount_kind = 'PERCENTAGE' AND percent_off IS NOT NULL AND amount_minor IS NULL)
        OR (discount_kind = 'FIXED_AMOUNT' AND amount_minor IS NOT NULL AND currency IS NOT NULL
            AND percent_off IS NULL AND max_discount_minor IS NULL)
    )
);
CREATE INDEX coupons_status_idx ON coupons (status, id);

CREATE TABLE coupon_codes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    coupon_id        BIGINT NOT NULL REFERENCES coupons (id) ON DELETE CASCADE,
    code             TEXT NOT NULL UNIQUE,
    usage_limit      BIGINT CHECK (usage_limit IS NULL OR usage_limit >= 1),
    redemption_count BIGINT NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TEXT NOT NULL
);
CREATE INDEX coupon_codes_coupon_id_idx ON coupon_codes (coupon_id, id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'storefront', 'analyst', 'public')),
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE service_flags (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
