-- A customer's earlier orders, for rules that read them ("first order only" checked
-- against what was redeemed here).
CREATE INDEX redemptions_customer_orders_idx ON redemptions (customer_key, order_id)
    WHERE redeemed_at IS NOT NULL;
