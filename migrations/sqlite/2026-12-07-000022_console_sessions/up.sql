-- Console sessions: a person (signed in through the OpenID provider) or an admin key
-- (exchanged once at the console's sign-in) in a browser. Only the SHA-256 of the
-- session's cookie value is stored; the CSRF token is sent back on every change.
CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    email        TEXT,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    key_id       BIGINT REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX console_sessions_key_idx ON console_sessions (key_id);
CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at);

-- Sign-ins under way: the state sent to the provider, with the nonce and PKCE verifier
-- the answer must match; taken (deleted) by the callback.
CREATE TABLE console_logins (
    state      TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    created_at TEXT NOT NULL
);
