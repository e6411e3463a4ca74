ALTER TABLE coupons DROP COLUMN max_order_discount_percent;
