-- What part of an order a coupon discounts (lines, shipping, buy X get Y), as JSON;
-- null: the order subtotal.
ALTER TABLE coupons ADD COLUMN target JSONB;
-- How a line discount was shared between the order's lines, as JSON
-- ([{"line", "sku", "minor"}], less what refunds of a line took back); null: not a line
-- discount.
ALTER TABLE redemptions ADD COLUMN lines JSONB;
