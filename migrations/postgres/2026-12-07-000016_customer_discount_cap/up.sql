-- The most discount one customer may have from a coupon, over all their uses (less
-- refunds), in minor units of the coupon's currency; null: no cap.
ALTER TABLE coupons ADD COLUMN max_discount_per_customer_minor BIGINT;
