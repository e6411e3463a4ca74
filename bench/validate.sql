-- Raw-SQL baseline of one `validateCoupon`: the read of the code with its coupon's
-- counters and version, and the read of what the order already has.
-- The coupon's terms come from a per-instance cache checked against that version
-- (`src/cache.rs`), read whole only when the version changed.
-- The API key is read from a per-instance cache (at most once a second per key), so no
-- key lookup is part of an operation.
\set c random(:first, :last)
SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'BENCH-' || :c LIMIT 1;
SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines
  FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
  WHERE r.order_id = 'v-' || :c AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > now());
