-- Accounts, roles, sessions with rotating refresh tokens, and token signing keys.
-- Timestamps are Unix seconds (BIGINT) so one query text serves SQLite and PostgreSQL.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    username_key   TEXT NOT NULL UNIQUE,          -- lower-cased: unique case-insensitively
    email          TEXT,
    email_key      TEXT UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    profile        TEXT NOT NULL DEFAULT '{}',
    attributes     TEXT NOT NULL DEFAULT '{}',
    password_hash  TEXT,
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT,
    expired_at     BIGINT
);

CREATE TABLE user_roles (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles(role);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_used_at        BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    revoked_at          BIGINT,
    user_agent          TEXT NOT NULL DEFAULT '',
    ip                  TEXT NOT NULL DEFAULT '',
    refresh_generation  BIGINT NOT NULL DEFAULT 0,
    refresh_rotated_at  BIGINT,
    successor_box       BYTEA
);
CREATE INDEX sessions_user ON sessions(user_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    generation  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    private_der  BYTEA NOT NULL,
    public_key   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
