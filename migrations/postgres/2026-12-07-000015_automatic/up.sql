-- A coupon with no code that applies to every eligible cart. Its redemptions go
-- through one code row named `AUTO#<id>`, which no typed code can match.
ALTER TABLE coupons ADD COLUMN automatic BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX coupons_automatic ON coupons (id) WHERE automatic;
