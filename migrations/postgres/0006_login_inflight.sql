-- Password checks of an account under way (claimed, not yet settled) and when the last
-- one was claimed: wrong guesses can never outrun the lock (settled failures plus
-- checks in flight stay under the threshold), while right ones wait their turn
-- instead of being counted as failures. A count older than a minute is stale (a node
-- died mid-check) and is ignored.
ALTER TABLE users ADD COLUMN login_inflight BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN login_inflight_at BIGINT;
