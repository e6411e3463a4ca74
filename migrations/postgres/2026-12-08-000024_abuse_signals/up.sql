-- Abuse detection (docs/abuse.md).

-- What a storefront may send about the buyer, each stored as a keyed hash like the
-- customer key: the device, the payment instrument, the shipping address, and the
-- mailbox the e-mail address reaches (dots and +tags taken out where the provider
-- ignores them).
ALTER TABLE redemptions ADD COLUMN device_key TEXT;
ALTER TABLE redemptions ADD COLUMN payment_key TEXT;
ALTER TABLE redemptions ADD COLUMN address_key TEXT;
ALTER TABLE redemptions ADD COLUMN mailbox_key TEXT;
CREATE INDEX redemptions_created_idx ON redemptions (created_at);

-- Failed code checks of outside callers, by keyed hash of the client address and of
-- its network (/24, /48), written in batches.
CREATE TABLE failed_checks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address_key TEXT NOT NULL,
    network_key TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX failed_checks_created_idx ON failed_checks (created_at);

-- Signals raised, with the evidence, the keyed hashes of what they name (customers or
-- addresses), the action taken and what it changed. One open signal per kind and
-- scope: every instance may detect, one raises.
CREATE TABLE abuse_signals (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    coupon_id   BIGINT REFERENCES coupons (id) ON DELETE SET NULL,
    evidence    JSONB NOT NULL,
    flagged     JSONB NOT NULL,
    action      TEXT NOT NULL,
    undo        JSONB,
    status      TEXT NOT NULL,
    raised_at   TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX abuse_signals_open_idx ON abuse_signals (kind, scope) WHERE status = 'OPEN';
CREATE INDEX abuse_signals_coupon_idx ON abuse_signals (coupon_id);
CREATE INDEX abuse_signals_raised_idx ON abuse_signals (raised_at);

-- What detection does by itself about a coupon, set per coupon or per campaign (the
-- coupon's own wins); neither: alert only.
CREATE TABLE abuse_actions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coupon_id   BIGINT UNIQUE REFERENCES coupons (id) ON DELETE CASCADE,
    campaign_id BIGINT UNIQUE REFERENCES campaigns (id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((coupon_id IS NULL) <> (campaign_id IS NULL))
);
