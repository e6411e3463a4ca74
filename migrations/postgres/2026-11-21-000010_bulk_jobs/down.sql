ALTER TABLE coupon_codes DROP COLUMN batch_id;
DROP TABLE bulk_jobs;
