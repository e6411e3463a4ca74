-- Failed code checks per subject, shared by the instances on one database. SQLite
-- serves one instance, whose limiter counts in memory: the table is here so that both
-- backends have the same schema, and stays empty.
CREATE TABLE attempt_budgets (
    subject      TEXT PRIMARY KEY,
    budget       INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until TEXT,
    refused      BOOLEAN NOT NULL
);
CREATE INDEX attempt_budgets_window_idx ON attempt_budgets (window_start);
