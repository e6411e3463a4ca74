-- Raw-SQL baseline of one `validateCart` with three codes: for
-- each code the read of the code with its coupon's counters and version (the terms come
-- from a per-instance cache checked against that version) and the read of what the
-- order already has, then
-- the list of live automatic coupons (none here).
-- The API key is read from a per-instance cache (at most once a second per key), so no
-- key lookup is part of an operation.
\set c random(:first, :last)
\set n random(1, 2000000000)
SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'CART-' || :c LIMIT 1;
SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines
  FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
  WHERE r.order_id = 'cart-' || :n AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > now());
SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'CART-' || (:c + 1) LIMIT 1;
SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines
  FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
  WHERE r.order_id = 'cart-' || :n AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > now());
SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'CART-' || (:c + 2) LIMIT 1;
SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines
  FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
  WHERE r.order_id = 'cart-' || :n AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > now());
SELECT id FROM coupons WHERE automatic = true AND status = 'ACTIVE' AND starts_at <= now()
  AND (expires_at IS NULL OR expires_at > now()) ORDER BY id LIMIT 50;
