//! Getting weather for runs: at once when a run is saved, else later from the
//! durable `weather_jobs` queue (restart-safe, backing off, `unavailable` after the
//! last try), many runs per provider request. Several nodes may work the queue: jobs
//! are claimed with a lease.

use time::OffsetDateTime;

use std::collections::VecDeque;

use super::model::{Run, WeatherStatus};
use super::weather::{Conditions, WeatherError};
use super::weather_batch::{self, Batch, Lookup};
use super::weather_queue::{self, Outcome};
use crate::app::AppState;
use crate::domain::Invalid;
use crate::http::error::{ApiError, ApiResult};

/// Tries after the first, before a run's weather is `unavailable`.
pub const MAX_ATTEMPTS: i64 = 6;
/// Retry `attempt` (1-based) waits a minute, then doubles.
pub fn backoff(attempt: i64) -> i64 {
    60 * (1 << (attempt - 1).clamp(0, 10))
}

/// The server clock's date (UTC).
pub fn today(state: &AppState) -> time::Date {
    OffsetDateTime::from_unix_timestamp(state.clock.now())
        .map_or(OffsetDateTime::UNIX_EPOCH.date(), |t| t.date())
}

/// Fills in `run`'s weather now if the provider answers; otherwise marks it pending.
/// With `HALLPASS_WEATHER_REQUIRED` the run is refused instead: 422 naming `date` when
/// the provider refuses that date for good (a retry could never succeed), else 503.
pub async fn fetch_now(state: &AppState, run: &mut Run) -> ApiResult<()> {
    match state.weather.daily(run.date, run.lat, run.lon, today(state)).await {
        Ok(conditions) => {
            run.weather_status = WeatherStatus::Ok;
            run.weather = Some(conditions);
        }
        Err(WeatherError::Permanent(reason)) if state.config.weather_required => {
            tracing::info!(reason, "weather required but refused for this date: run refused");
            return Err(Invalid::new(
                "date",
                "the weather provider has no weather for this date and place, and weather is required",
            )
            .into());
        }
        Err(err) if state.config.weather_required => {
            tracing::warn!(error = %err, "weather required but unavailable: run refused");
            return Err(ApiError::Unavailable { retry_after: 60 });
        }
        Err(WeatherError::Permanent(reason)) => {
            tracing::info!(reason, "no weather for this run");
            run.weather_status = WeatherStatus::Unavailable;
            run.weather = None;
        }
        Err(err @ (WeatherError::Transient(_) | WeatherError::RateLimited(_))) => {
            tracing::info!(error = %err, "weather lookup deferred");
            run.weather_status = WeatherStatus::Pending;
            run.weather = None;
        }
    }
    Ok(())
}

/// Provider requests one pass may make: with a pass every 15 s, at most 240 a
/// minute, under Open-Meteo's free tier (600 a minute); a 429 pauses the queue.
const REQUESTS_PER_PASS: usize = 60;
/// Lookups claimed around one place at once.
const LOOKUPS_PER_CLAIM: i64 = 5000;

/// Works through the lookups that are due, grouped by place and date range so that
/// one provider request answers many runs; returns how many lookups were handled.
pub async fn process_due(state: &AppState) -> ApiResult<usize> {
    let now = state.clock.now();
    // The lease outlasts the whole pass even if every request runs into its timeout.
    let timeout = i64::try_from(state.config.weather_timeout_ms / 1000 + 1).unwrap_or(60);
    let lease_until = now + REQUESTS_PER_PASS as i64 * timeout + 60;
    let mark = uuid::Uuid::now_v7().simple().to_string();
    let mut pass = Pass { state, mark, now, today: today(state), requests: 0, handled: 0 };
    // Each round asks at least once, unless another node claimed the place first.
    for _ in 0..REQUESTS_PER_PASS {
        if pass.requests >= REQUESTS_PER_PASS {
            break;
        }
        let Some(place) = weather_queue::oldest_due_place(&state.db, now).await? else { break };
        let lookups =
            weather_queue::claim_near(&state.db, place, now, lease_until, &pass.mark, LOOKUPS_PER_CLAIM)
                .await?;
        pass.handled += lookups.len();
        let batches = weather_batch::plan(place.0, place.1, lookups, pass.today);
        if !pass.work(batches).await? {
            break;
        }
    }
    Ok(pass.handled)
}

/// One pass over the queue: its claim mark and what it has done so far.
struct Pass<'a> {
    state: &'a AppState,
    mark: String,
    now: i64,
    today: time::Date,
    requests: usize,
    handled: usize,
}

impl Pass<'_> {
    /// Asks the provider for each batch and settles its lookups; false when the pass
    /// must stop (out of requests, or rate-limited), its unasked lookups put back.
    async fn work(&mut self, mut batches: VecDeque<Batch>) -> ApiResult<bool> {
        while let Some(batch) = batches.pop_front() {
            if self.requests >= REQUESTS_PER_PASS {
                batches.push_front(batch);
                self.put_back(&batches, self.now).await?;
                return Ok(false);
            }
            self.requests += 1;
            let asked =
                self.state.weather.days(batch.lat, batch.lon, batch.first, batch.last, self.today).await;
            let outcomes: Vec<(&Lookup, Outcome)> = match asked {
                Ok(days) => batch.lookups.iter().map(|l| (l, answered(l, &days, self.now))).collect(),
                Err(WeatherError::RateLimited(wait)) => {
                    tracing::info!(wait, "weather provider rate-limited; pausing the queue");
                    batches.push_front(batch);
                    self.put_back(&batches, self.now + wait).await?;
                    return Ok(false);
                }
                Err(WeatherError::Permanent(reason)) => match batch.halves() {
                    Ok([early, late]) => {
                        batches.push_front(late);
                        batches.push_front(early);
                        continue;
                    }
                    Err(batch) => {
                        tracing::info!(date = %batch.first, reason, "no weather for this date and place");
                        let done = || Outcome::Done(WeatherStatus::Unavailable, None);
                        weather_queue::settle(&self.state.db, &self.mark, &each(&batch, |_| done())).await?;
                        continue;
                    }
                },
                Err(err) => {
                    tracing::info!(error = %err, lookups = batch.lookups.len(), "weather lookup failed; will retry");
                    batch.lookups.iter().map(|l| (l, failed(l, self.now))).collect()
                }
            };
            weather_queue::settle(&self.state.db, &self.mark, &outcomes).await?;
        }
        Ok(true)
    }

    /// Gives the claims of `batches` back, due at `at`, their tries untouched.
    async fn put_back(&self, batches: &VecDeque<Batch>, at: i64) -> ApiResult<()> {
        let outcomes: Vec<_> =
            batches.iter().flat_map(|b| each(b, |l| Outcome::Retry { attempts: l.attempts, at })).collect();
        Ok(weather_queue::settle(&self.state.db, &self.mark, &outcomes).await?)
    }
}

fn each(batch: &Batch, outcome: impl Fn(&Lookup) -> Outcome) -> Vec<(&Lookup, Outcome)> {
    batch.lookups.iter().map(|l| (l, outcome(l))).collect()
}

/// A lookup's outcome from the days the provider answered.
fn answered(lookup: &Lookup, days: &[(time::Date, Option<Conditions>)], now: i64) -> Outcome {
    match days.iter().find(|(day, _)| *day == lookup.date) {
        Some((_, Some(conditions))) => Outcome::Done(WeatherStatus::Ok, Some(conditions.clone())),
        // Listed without values (the archive lists a day before it has its data), or
        // missing from the answer: ask again later.
        _ => failed(lookup, now),
    }
}

/// Another try after a backoff, or `unavailable` after the last.
fn failed(lookup: &Lookup, now: i64) -> Outcome {
    let attempt = lookup.attempts + 1;
    if attempt >= MAX_ATTEMPTS {
        Outcome::Done(WeatherStatus::Unavailable, None)
    } else {
        Outcome::Retry { attempts: attempt, at: now + backoff(attempt) }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles() {
        assert_eq!((backoff(1), backoff(2), backoff(5)), (60, 120, 960));
    }
}
