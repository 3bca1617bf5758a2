-- Files (seed 003's file drop): one row per stored object, a per-owner usage counter
-- that enforces the quota, and secrets shared by every node (share-link signing).

CREATE TABLE files (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,             -- sanitized display name
    size          BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    sha256        TEXT NOT NULL,             -- lower-case hex
    object_key    TEXT NOT NULL UNIQUE,      -- server-generated; never a user's name
    created_at    BIGINT NOT NULL
);
-- The list's default order (newest first) and keyset paging; an owner's files.
CREATE INDEX files_created ON files(created_at, id);
CREATE INDEX files_owner ON files(owner_id, created_at, id);

-- Bytes and files held per owner, changed in the transaction that adds or removes a
-- file; the quota is a conditional update of this row.
CREATE TABLE file_usage (
    user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    used_bytes  BIGINT NOT NULL DEFAULT 0,
    files       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    secret      BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);
