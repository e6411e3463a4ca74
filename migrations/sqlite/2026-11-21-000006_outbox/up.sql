-- Domain events, written in the transaction of the change they describe: an event exists
-- exactly when its change committed. Ids increase in commit order (SQLite has one writer
-- at a time), so a reader that has seen id n has
-- seen every event up to n.
CREATE TABLE outbox_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type  TEXT NOT NULL,
    coupon_id   BIGINT,
    entity_id   TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX outbox_events_coupon_idx ON outbox_events (coupon_id, id);
