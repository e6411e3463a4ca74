ALTER TABLE coupons DROP COLUMN max_discount_per_customer_minor;
