-- Which coupons a coupon shares an order with: the classes of discount it combines with
-- (comma-separated; empty: it applies alone) and its priority among them.
ALTER TABLE coupons ADD COLUMN combines_with TEXT NOT NULL DEFAULT '';
ALTER TABLE coupons ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
