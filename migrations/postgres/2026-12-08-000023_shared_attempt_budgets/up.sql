-- Failed code checks per subject (API key, address, customer), shared by every instance
-- on this database, so that n instances do not give a guesser n times the budget. The
-- subject is a keyed hash (like customer keys): no address is stored. `budget` is the
-- budget applied by the last failure counted; `refused` says whether that failure came
-- while the subject was locked out (its verdict must not be told).
CREATE TABLE attempt_budgets (
    subject      TEXT PRIMARY KEY,
    budget       INTEGER NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until TIMESTAMPTZ,
    refused      BOOLEAN NOT NULL
);
CREATE INDEX attempt_budgets_window_idx ON attempt_budgets (window_start);
