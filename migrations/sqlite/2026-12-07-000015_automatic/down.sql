DROP INDEX coupons_automatic;
ALTER TABLE coupons DROP COLUMN automatic;
