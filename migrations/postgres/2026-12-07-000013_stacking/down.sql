ALTER TABLE coupons DROP COLUMN priority;
ALTER TABLE coupons DROP COLUMN combines_with;
