-- The IANA time zone a coupon's dates are read and shown in; null: UTC. Its window is
-- still stored as instants.
ALTER TABLE coupons ADD COLUMN time_zone TEXT;
