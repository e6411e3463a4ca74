-- A coupon's terms in the currencies after its main one (whose amounts are in
-- amount_minor, max_discount_minor, min_subtotal_minor and
-- max_discount_per_customer_minor), as JSON: [{"currency", "amount", "max_discount",
-- "min_subtotal", "max_discount_per_customer"}] in minor units, each member present when
-- the main currency has it; null: one currency only.
ALTER TABLE coupons ADD COLUMN other_currencies TEXT;
