-- Raw-SQL baseline of one `validateCoupon`: the API-key lookup and the code-with-coupon read.
\set c random(:first, :last)
SELECT id, role FROM api_keys WHERE secret_hash = 'baseline' AND revoked_at IS NULL LIMIT 1;
SELECT * FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'BENCH-' || :c LIMIT 1;
