-- Campaign windows and budgets. A campaign may limit its coupons to a window, to a
-- number of uses and to a total discount in one currency, enforced like coupon caps.
-- `used_count` and `discount_used_minor` equal the rows of `redemptions` with the
-- campaign's id (see `coupons reconcile`): uses held, and discount held net of refunds.
-- SQLite cannot add table constraints, so the checks sit on the columns.
ALTER TABLE campaigns ADD COLUMN starts_at TEXT;
ALTER TABLE campaigns ADD COLUMN ends_at TEXT CHECK (ends_at IS NULL OR starts_at IS NULL OR starts_at < ends_at);
ALTER TABLE campaigns ADD COLUMN max_uses BIGINT CHECK (max_uses IS NULL OR max_uses >= 1);
ALTER TABLE campaigns ADD COLUMN budget_minor BIGINT CHECK (budget_minor IS NULL OR budget_minor >= 1);
ALTER TABLE campaigns ADD COLUMN budget_currency TEXT CHECK ((budget_minor IS NULL) = (budget_currency IS NULL));
ALTER TABLE campaigns ADD COLUMN used_count BIGINT NOT NULL DEFAULT 0 CHECK (used_count >= 0);
ALTER TABLE campaigns ADD COLUMN discount_used_minor BIGINT NOT NULL DEFAULT 0 CHECK (discount_used_minor >= 0);

-- The campaign a reservation or redemption was made under: it keeps counting there if
-- its coupon later moves.
ALTER TABLE redemptions ADD COLUMN campaign_id BIGINT REFERENCES campaigns (id) ON DELETE RESTRICT;
UPDATE redemptions SET campaign_id = (SELECT campaign_id FROM coupons WHERE coupons.id = redemptions.coupon_id);
UPDATE campaigns SET
    used_count = (SELECT COUNT(*) FROM redemptions r WHERE r.campaign_id = campaigns.id AND r.holds_use),
    discount_used_minor = (SELECT COALESCE(SUM(r.discount_minor - r.refunded_minor), 0) FROM redemptions r
        WHERE r.campaign_id = campaigns.id AND r.status NOT IN ('RELEASED', 'EXPIRED'));
CREATE INDEX redemptions_campaign_idx ON redemptions (campaign_id, created_at);
CREATE INDEX redemptions_campaign_due_idx ON redemptions (campaign_id, reserved_until) WHERE status = 'RESERVED';
