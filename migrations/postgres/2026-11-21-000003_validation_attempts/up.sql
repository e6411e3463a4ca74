-- Validation attempts per coupon, hour and outcome (VALID or a rejection code).
-- coupon_id 0 counts attempts with codes that do not exist.
CREATE TABLE validation_attempts (
    coupon_id BIGINT NOT NULL,
    hour      TIMESTAMPTZ NOT NULL,
    outcome   TEXT NOT NULL,
    attempts  BIGINT NOT NULL CHECK (attempts >= 0),
    PRIMARY KEY (coupon_id, hour, outcome)
);
