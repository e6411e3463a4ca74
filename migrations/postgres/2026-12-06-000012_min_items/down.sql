ALTER TABLE coupons DROP COLUMN min_items;
