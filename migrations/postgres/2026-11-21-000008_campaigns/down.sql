DROP INDEX outbox_events_campaign_idx;
ALTER TABLE outbox_events DROP COLUMN campaign_id;
DROP INDEX coupons_campaign_idx;
ALTER TABLE coupons DROP COLUMN campaign_id;
DROP TABLE campaigns;
