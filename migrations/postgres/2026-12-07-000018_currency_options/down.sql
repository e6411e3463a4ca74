ALTER TABLE coupons DROP COLUMN other_currencies;
