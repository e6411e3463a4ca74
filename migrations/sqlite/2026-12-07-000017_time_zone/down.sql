ALTER TABLE coupons DROP COLUMN time_zone;
