-- Payments a provider (Stripe, Braintree) told the service about, and what it said:
-- the facts fold every event of one payment together; the binding is what the
-- storefront put in the payment's metadata (a reservation, or a cart's order id).
CREATE TABLE payments (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider       TEXT NOT NULL,
    payment_ref    TEXT NOT NULL,
    reservation_id BIGINT,
    cart_order_id  TEXT,
    currency       TEXT,
    facts          JSONB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, payment_ref)
);
CREATE INDEX payments_reservation_idx ON payments (reservation_id);
CREATE INDEX payments_cart_order_idx ON payments (cart_order_id);

-- Each provider event, once: claimed by its id inside the transaction that applies it,
-- with the outcome answered again when the provider delivers it once more.
CREATE TABLE payment_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payment_id  BIGINT REFERENCES payments (id) ON DELETE CASCADE,
    outcome     JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX payment_events_payment_idx ON payment_events (payment_id);
