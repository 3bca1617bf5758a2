-- Web pages sign in with a cookie holding an opaque secret; its hash names the
-- session (the same session row the API's tokens use).
ALTER TABLE sessions ADD COLUMN web_secret_hash TEXT;
CREATE UNIQUE INDEX sessions_web_secret ON sessions(web_secret_hash);
