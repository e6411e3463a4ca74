-- Bulk jobs: long work (generating codes) run in the background by any instance. An
-- instance holds a job through a lease that it renews with every chunk of progress; a
-- job whose lease ran out is taken over where it stopped.
CREATE TABLE bulk_jobs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('GENERATE_CODES')),
    coupon_id        BIGINT NOT NULL REFERENCES coupons (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    params           JSONB NOT NULL,
    total            BIGINT NOT NULL CHECK (total >= 1),
    done             BIGINT NOT NULL DEFAULT 0 CHECK (done >= 0 AND done <= total),
    error            TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX bulk_jobs_open_idx ON bulk_jobs (id) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX bulk_jobs_coupon_idx ON bulk_jobs (coupon_id, id);

-- The job that generated a code. No foreign key: a million-row insert would check
-- each one, and the job's row is kept as long as its coupon.
ALTER TABLE coupon_codes ADD COLUMN batch_id BIGINT;
