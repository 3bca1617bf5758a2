-- One-time links that create the first administrator (`/setup?token=…`), kept hashed.
CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
