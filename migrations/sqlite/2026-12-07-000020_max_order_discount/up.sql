-- A coupon's cap on the order's line and order discounts once it has taken its own,
-- percent of the subtotal as a decimal string ("30"); null: no cap of its own.
ALTER TABLE coupons ADD COLUMN max_order_discount_percent TEXT;
