-- Domain events, written in the transaction of the change they describe: an event exists
-- exactly when its change committed. Ids increase in commit order (writers of events
-- take a transaction-scoped advisory lock first), so a reader that has seen id n has
-- seen every event up to n.
CREATE TABLE outbox_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  TEXT NOT NULL,
    coupon_id   BIGINT,
    entity_id   TEXT NOT NULL,
    payload     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_events_coupon_idx ON outbox_events (coupon_id, id);
