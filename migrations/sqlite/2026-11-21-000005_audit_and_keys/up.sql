-- API keys: channel scope, and an end for keys replaced by rotation.
ALTER TABLE api_keys ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN replaced_by BIGINT;

-- Every admin change and checkout change, written in the transaction of the change.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    actor_key_id BIGINT,
    actor_role   TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    client_ip    TEXT,
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    before       TEXT,
    after        TEXT
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_key_id, id);
