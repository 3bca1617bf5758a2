-- A counter per user, bumped in the same transaction as every change to that user's
-- runs. A cached count of a user's runs is used only while the counter still reads
-- what it read when the count was taken, so totals are exact on every node.
CREATE TABLE run_versions (
    user_id  TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    version  BIGINT NOT NULL
);
