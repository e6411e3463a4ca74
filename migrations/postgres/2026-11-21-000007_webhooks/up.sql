-- Webhook endpoints: where events are POSTed, signed with the endpoint's secret.
-- `cursor_event_id` is the newest outbox event the endpoint's deliveries were made for;
-- a delivery row is written for each matching event after it, in the same transaction
-- that moves it, so every event is offered exactly once per endpoint.
-- `failures` and `open_until` are the endpoint's circuit breaker.
CREATE TABLE webhook_endpoints (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     JSONB NOT NULL,
    coupon_id       BIGINT,
    secret          TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    cursor_event_id BIGINT NOT NULL,
    failures        BIGINT NOT NULL DEFAULT 0,
    open_until      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- One event for one endpoint, until it is delivered or given up. An instance that
-- takes a delivery leases it (`leased_until`, `lease_token`); a lease that runs out
-- (the instance died mid-delivery) frees it for another attempt.
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    leased_until     TIMESTAMPTZ,
    lease_token      TEXT,
    last_attempt_at  TIMESTAMPTZ,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx
    ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- Every attempt of every delivery: the delivery log.
CREATE TABLE webhook_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    started_at  TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    succeeded   BOOLEAN NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
