-- Runs (seed 002's jogging tracker) with their weather, and the durable queue of
-- weather lookups still to do.

CREATE TABLE runs (
    id                     TEXT PRIMARY KEY,
    user_id                TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    date                   TEXT NOT NULL,            -- YYYY-MM-DD
    distance               DOUBLE PRECISION NOT NULL,  -- metres
    time                   DOUBLE PRECISION NOT NULL,  -- seconds
    lat                    DOUBLE PRECISION NOT NULL,
    lon                    DOUBLE PRECISION NOT NULL,
    notes                  TEXT NOT NULL DEFAULT '',
    speed                  DOUBLE PRECISION NOT NULL,  -- metres per second
    iso_year               BIGINT NOT NULL,
    iso_week               BIGINT NOT NULL,
    week_start             TEXT NOT NULL,            -- the Monday of the ISO week
    weather_status         TEXT NOT NULL,            -- ok | pending | unavailable
    weather_temp_max       DOUBLE PRECISION,
    weather_temp_min       DOUBLE PRECISION,
    weather_precipitation  DOUBLE PRECISION,
    weather_wind_max       DOUBLE PRECISION,
    weather_code           BIGINT,
    weather_summary        TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
-- The list's default order (newest date first) and keyset paging, per user.
CREATE INDEX runs_user_date ON runs(user_id, date, id);
-- Counts and filters on the numbers of a run without visiting the table.
CREATE INDEX runs_user_numbers ON runs(user_id, date, distance, time, speed);
-- The weekly report groups a user's runs by ISO week.
CREATE INDEX runs_user_week ON runs(user_id, iso_year, iso_week, week_start, distance, time);
CREATE INDEX runs_date ON runs(date, id);

CREATE TABLE weather_jobs (
    run_id           TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL
);
CREATE INDEX weather_jobs_due ON weather_jobs(next_attempt_at);
