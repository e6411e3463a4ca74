ALTER TABLE redemptions DROP COLUMN lines;
ALTER TABLE coupons DROP COLUMN target;
