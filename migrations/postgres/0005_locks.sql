-- Named locks: a transaction that must not interleave with others of its kind takes
-- one by updating its row (see store::take_lock).
CREATE TABLE locks (
    name  TEXT PRIMARY KEY,
    taken BIGINT NOT NULL DEFAULT 0
);
INSERT INTO locks (name) VALUES ('admins');
