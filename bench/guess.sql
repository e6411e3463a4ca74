-- Raw-SQL baseline of one counted failed `validateCoupon` on PostgreSQL (`--guesses`): the
-- code read, which finds nothing, then the failure added to the shared counts of the
-- caller's key (one row for every check: the hot row) and of its customer, in one
-- statement committed by itself, as `storage::attempts::add_shared_failures` runs it.
\set n random(1, 2000000000)
SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'NEVER-MADE-' || :n LIMIT 1;
WITH given AS (
    SELECT s.subject, s.budget FROM unnest(ARRAY['key-bench', 'customer-' || :n], ARRAY[2000000000, 2000000000]) AS s(subject, budget)
)
INSERT INTO attempt_budgets AS b (subject, budget, window_start, failures, locked_until, refused)
SELECT subject, budget, now(), CASE WHEN 1 >= budget THEN 0 ELSE 1 END,
       CASE WHEN 1 >= budget THEN now() + 900000 * interval '1 millisecond' END, false
FROM given
ON CONFLICT (subject) DO UPDATE SET
    budget = EXCLUDED.budget,
    refused = COALESCE(b.locked_until > now(), false),
    failures = CASE
        WHEN b.locked_until > now() THEN b.failures
        WHEN (CASE WHEN b.window_start <= now() - 600000 * interval '1 millisecond' THEN 0 ELSE b.failures END)
             + 1 >= EXCLUDED.budget THEN 0
        ELSE (CASE WHEN b.window_start <= now() - 600000 * interval '1 millisecond' THEN 0 ELSE b.failures END) + 1
    END,
    window_start = CASE
        WHEN b.locked_until > now() THEN b.window_start
        WHEN b.window_start <= now() - 600000 * interval '1 millisecond' THEN now()
        WHEN b.failures + 1 >= EXCLUDED.budget THEN now()
        ELSE b.window_start
    END,
    locked_until = CASE
        WHEN b.locked_until > now() THEN b.locked_until
        WHEN (CASE WHEN b.window_start <= now() - 600000 * interval '1 millisecond' THEN 0 ELSE b.failures END)
             + 1 >= EXCLUDED.budget THEN now() + 900000 * interval '1 millisecond'
        ELSE b.locked_until
    END
RETURNING subject, refused, failures,
    CASE WHEN locked_until > now()
         THEN CAST(EXTRACT(EPOCH FROM locked_until - now()) * 1000 AS BIGINT) END AS locked_ms,
    COALESCE(NOT refused AND locked_until = now() + 900000 * interval '1 millisecond', false) AS locked_now;
