DROP TABLE abuse_actions;
DROP TABLE abuse_signals;
DROP TABLE failed_checks;
DROP INDEX redemptions_created_idx;
ALTER TABLE redemptions DROP COLUMN mailbox_key;
ALTER TABLE redemptions DROP COLUMN address_key;
ALTER TABLE redemptions DROP COLUMN payment_key;
ALTER TABLE redemptions DROP COLUMN device_key;
