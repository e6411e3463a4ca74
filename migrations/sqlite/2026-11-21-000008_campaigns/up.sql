-- Campaigns group coupons. A coupon belongs to at most one.
CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
ALTER TABLE coupons ADD COLUMN campaign_id BIGINT REFERENCES campaigns (id);
CREATE INDEX coupons_campaign_idx ON coupons (campaign_id);

-- The campaign of an event's coupon when the event was written, for filtering.
ALTER TABLE outbox_events ADD COLUMN campaign_id BIGINT;
CREATE INDEX outbox_events_campaign_idx ON outbox_events (campaign_id, id);
