DROP TABLE service_secrets;
DROP TABLE idempotency_keys;
DROP TABLE redemptions;
ALTER TABLE coupon_codes DROP COLUMN reserved_count;
ALTER TABLE coupons DROP COLUMN reserved_count;
ALTER TABLE coupons DROP COLUMN reversal_policy;
ALTER TABLE coupons DROP COLUMN min_subtotal_minor;
