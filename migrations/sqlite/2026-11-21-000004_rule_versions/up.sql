-- Rules published through the API: every version kept, one in force per name, every
-- change audited. The audit id doubles as the change sequence instances poll.
CREATE TABLE rule_versions (
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL CHECK (version >= 1),
    source     TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE rule_heads (
    name       TEXT PRIMARY KEY,
    version    BIGINT NOT NULL,
    changed_at TEXT NOT NULL
);

CREATE TABLE rule_audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL,
    action  TEXT NOT NULL CHECK (action IN ('PUBLISHED', 'ROLLED_BACK')),
    version BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX rule_audit_name_idx ON rule_audit (name, id);
