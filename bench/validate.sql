-- Raw-SQL baseline of one `validateCoupon`: the API-key lookup, the code-with-coupon read
-- and the read of what the order already has.
\set c random(:first, :last)
SELECT id, role FROM api_keys WHERE secret_hash = 'baseline' AND revoked_at IS NULL LIMIT 1;
SELECT * FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'BENCH-' || :c LIMIT 1;
SELECT coupon_id, currency, discount_minor - refunded_minor FROM redemptions
  WHERE order_id = 'v-' || :c AND holds_use AND (status <> 'RESERVED' OR reserved_until > now());
