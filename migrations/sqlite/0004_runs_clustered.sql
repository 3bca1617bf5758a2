-- Runs are read per user, newest date first: store them in that order (a clustered,
-- WITHOUT ROWID table keyed by user, date and id), so that a page of a user's list
-- is one contiguous stretch of the table rather than a lookup per row.
--
-- The weather queue references runs(id); it is set aside and restored around the
-- rebuild, because dropping the old table would otherwise cascade into it.

CREATE TABLE weather_jobs_kept AS SELECT run_id, attempts, next_attempt_at FROM weather_jobs;
DROP TABLE weather_jobs;

CREATE TABLE runs_clustered (
    id                     TEXT NOT NULL,
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
    updated_at             BIGINT NOT NULL,
    PRIMARY KEY (user_id, date, id)
) WITHOUT ROWID;
INSERT INTO runs_clustered SELECT id, user_id, date, distance, time, lat, lon, notes, speed, iso_year, iso_week,
    week_start, weather_status, weather_temp_max, weather_temp_min, weather_precipitation, weather_wind_max,
    weather_code, weather_summary, created_at, updated_at FROM runs;
DROP TABLE runs;
ALTER TABLE runs_clustered RENAME TO runs;

-- One run by id (and the queue's reference).
CREATE UNIQUE INDEX runs_id ON runs(id);
-- Counts and filters on the numbers of a run without visiting the table.
CREATE INDEX runs_user_numbers ON runs(user_id, date, distance, time, speed);
-- The weekly report groups a user's runs by ISO week.
CREATE INDEX runs_user_week ON runs(user_id, iso_year, iso_week, week_start, distance, time);
-- Everyone's runs by date (runs:admin).
CREATE INDEX runs_date ON runs(date, id);

CREATE TABLE weather_jobs (
    run_id           TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL
);
CREATE INDEX weather_jobs_due ON weather_jobs(next_attempt_at);
INSERT INTO weather_jobs SELECT run_id, attempts, next_attempt_at FROM weather_jobs_kept;
DROP TABLE weather_jobs_kept;
