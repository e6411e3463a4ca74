-- Reports: when each row was reserved, and indexes that keep per-coupon and
-- per-campaign reports over a time range fast at millions of redemptions.
ALTER TABLE redemptions ADD COLUMN reserved_at TEXT;
UPDATE redemptions SET reserved_at = created_at WHERE status IN ('RESERVED', 'RELEASED', 'EXPIRED');
CREATE INDEX redemptions_coupon_redeemed_idx ON redemptions (coupon_id, redeemed_at) WHERE redeemed_at IS NOT NULL;
CREATE INDEX redemptions_campaign_redeemed_idx ON redemptions (campaign_id, redeemed_at) WHERE redeemed_at IS NOT NULL;
CREATE INDEX redemptions_coupon_reserved_idx ON redemptions (coupon_id, reserved_at) WHERE reserved_at IS NOT NULL;
CREATE INDEX redemptions_campaign_reserved_idx ON redemptions (campaign_id, reserved_at) WHERE reserved_at IS NOT NULL;
