-- A coupon can ask for a smallest number of items (the sum of line quantities).
ALTER TABLE coupons ADD COLUMN min_items BIGINT;
