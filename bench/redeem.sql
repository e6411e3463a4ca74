-- Raw-SQL baseline of one `redeemCoupon`: the statements the service runs, in order.
-- Variables: :first..:last the coupon (and code) ids
-- to pick from (first = last for the hot coupon).
-- The coupon's lock returns its counters and version; its terms come from a per-instance
-- cache checked against that version.
-- The API key is read from a per-instance cache (at most once a second per key), so no
-- key lookup is part of an operation.
\set c random(:first, :last)
\set k random(1, 2000000000)
BEGIN;
INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at, expires_at)
  VALUES ('baseline', :client_id || '-' || :k, 'h', 'null', now(), now() + interval '1 day') ON CONFLICT DO NOTHING;
UPDATE coupons SET updated_at = updated_at WHERE id IN (SELECT coupon_id FROM coupon_codes WHERE code = 'BENCH-' || :c) RETURNING id, redemption_count, reserved_count, updated_at;
UPDATE redemptions SET status = 'EXPIRED', holds_use = false, closed_at = now(), updated_at = now()
  WHERE coupon_id = :c AND status = 'RESERVED' AND reserved_until <= now() RETURNING code_id;
SELECT * FROM coupon_codes WHERE code = 'BENCH-' || :c LIMIT 1;
SELECT pg_advisory_xact_lock(7434002, hashtext('o-' || :k));
SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines
  FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
  WHERE r.order_id = 'o-' || :k AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > now());
INSERT INTO redemptions (coupon_id, code_id, code, status, holds_use, customer_key, email_domain, order_id,
    channel, currency, subtotal_minor, discount_minor, refunded_minor, reserved_until, created_at, redeemed_at, updated_at, lines,
    device_key, payment_key, address_key, mailbox_key)
  VALUES (:c, :c, 'BENCH-' || :c, 'REDEEMED', true, md5(:k::text), 'bench.test', 'o-' || :k,
    NULL, 'USD', 10000, 1000, 0, NULL, now(), now(), now(), NULL,
    NULL, NULL, NULL, md5('m' || :k::text)) RETURNING *;
UPDATE coupons SET redemption_count = redemption_count + 1, reserved_count = reserved_count + 0 WHERE id = :c;
UPDATE coupon_codes SET redemption_count = redemption_count + 1, reserved_count = reserved_count + 0 WHERE id = :c;
UPDATE idempotency_keys SET response = '{"Applied":{}}' WHERE scope = 'baseline' AND key = :client_id || '-' || :k;
END;
