-- Which pass of the weather queue holds a job: a pass claims many jobs at once (every
-- due run around one place), reads them back by this mark, and settles only the jobs
-- it still holds. A claim ends with its lease (`next_attempt_at`), when the job falls
-- due again and another pass may take it over.
ALTER TABLE weather_jobs ADD COLUMN claimed_by TEXT;
