//! Getting weather for runs: at once when a run is saved, else later from the
//! durable `weather_jobs` queue (restart-safe, backing off, `unavailable` after the
//! last try). Several nodes may work the queue: each job is claimed with a lease.

use time::OffsetDateTime;

use super::model::{Run, WeatherStatus};
use super::weather::{WeatherError, WeatherProvider};
use super::{store, weather_queue};
use crate::app::AppState;
use crate::domain::Invalid;
use crate::http::error::{ApiError, ApiResult};

/// Tries after the first, before a run's weather is `unavailable`.
pub const MAX_ATTEMPTS: i64 = 6;
/// Jobs claimed in one pass.
const BATCH: i64 = 10;

/// Retry `attempt` (1-based) waits a minute, then doubles.
pub fn backoff(attempt: i64) -> i64 {
    60 * (1 << (attempt - 1).clamp(0, 10))
}

fn today(state: &AppState) -> time::Date {
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

/// Works through the jobs that are due; returns how many were handled.
pub async fn process_due(state: &AppState) -> ApiResult<usize> {
    // The lease outlasts the whole batch even if every lookup runs into its timeout.
    let timeout = i64::try_from(state.config.weather_timeout_ms / 1000 + 1).unwrap_or(60);
    let lease_until = state.clock.now() + BATCH * timeout + 60;
    let claims = weather_queue::claim_weather_jobs(&state.db, state.clock.now(), lease_until, BATCH).await?;
    for claim in &claims {
        let Some(run) = store::find(&state.db, &claim.run_id, None).await? else { continue };
        let attempt = claim.attempts + 1;
        let result = state.weather.daily(run.date, run.lat, run.lon, today(state)).await;
        match result {
            Ok(conditions) => {
                weather_queue::finish_weather(&state.db, claim, &run, WeatherStatus::Ok, Some(&conditions))
                    .await?;
            }
            Err(WeatherError::RateLimited(wait)) => {
                tracing::info!(run_id = %claim.run_id, wait, "weather provider rate-limited; pausing this job");
                weather_queue::retry_weather_job(&state.db, claim, claim.attempts, state.clock.now() + wait)
                    .await?;
            }
            Err(err) if matches!(err, WeatherError::Permanent(_)) || attempt >= MAX_ATTEMPTS => {
                tracing::info!(run_id = %claim.run_id, attempt, error = %err, "weather unavailable for good");
                weather_queue::finish_weather(&state.db, claim, &run, WeatherStatus::Unavailable, None)
                    .await?;
            }
            Err(err) => {
                tracing::info!(run_id = %claim.run_id, attempt, error = %err, "weather lookup failed; will retry");
                weather_queue::retry_weather_job(
                    &state.db,
                    claim,
                    attempt,
                    state.clock.now() + backoff(attempt),
                )
                .await?;
            }
        }
    }
    Ok(claims.len())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles() {
        assert_eq!((backoff(1), backoff(2), backoff(5)), (60, 120, 960));
    }
}
