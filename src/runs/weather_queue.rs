//! The durable weather queue (`weather_jobs`): claiming due lookups with a lease (so
//! that several nodes can work it), recording results only for the claim that is
//! still current, and rescheduling. Jobs are queued by the run writes in `store`.

use super::model::{Run, WeatherStatus, date_text};
use super::store::bump_version;
use super::weather::Conditions;
use crate::clock::Timestamp;
use crate::domain::filter::SqlValue;
use crate::http::error::ApiResult;
use crate::store::{Db, Double};

/// A claimed weather job: the run to look up, the attempts so far, and the claim's
/// mark (the lease end it wrote), which later writes must still find.
pub struct WeatherClaim {
    pub run_id: String,
    pub attempts: i64,
    pub lease: Timestamp,
}

/// Records the outcome of the lookup claimed by `claim` for `run` (as it was read):
/// only if the job is still this claim and the run still pending at the same day and
/// place — an edit or another node may have moved on meanwhile. Returns whether it
/// counted.
pub async fn finish_weather(
    db: &Db,
    claim: &WeatherClaim,
    run: &Run,
    status: WeatherStatus,
    conditions: Option<&Conditions>,
) -> ApiResult<bool> {
    let mut tx = db.pool.begin().await?;
    let ours = sqlx::query("DELETE FROM weather_jobs WHERE run_id = $1 AND next_attempt_at = $2")
        .bind(&claim.run_id)
        .bind(claim.lease)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !ours {
        tx.rollback().await?;
        return Ok(false);
    }
    let stored = sqlx::query(
        "UPDATE runs SET weather_status = $2, weather_temp_max = $3, weather_temp_min = $4, weather_precipitation = $5,
             weather_wind_max = $6, weather_code = $7, weather_summary = $8
         WHERE id = $1 AND weather_status = 'pending' AND date = $9 AND lat = $10 AND lon = $11",
    )
    .bind(&claim.run_id)
    .bind(status.as_str())
    .bind(Double(conditions.and_then(|c| c.temperature_max)))
    .bind(Double(conditions.and_then(|c| c.temperature_min)))
    .bind(Double(conditions.and_then(|c| c.precipitation)))
    .bind(Double(conditions.and_then(|c| c.wind_speed_max)))
    .bind(conditions.and_then(|c| c.code))
    .bind(conditions.map(|c| c.summary.clone()))
    .bind(date_text(run.date))
    .bind(run.lat)
    .bind(run.lon)
    .execute(&mut *tx)
    .await?;
    if stored.rows_affected() == 1 {
        bump_version(&mut tx, &run.user_id).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Claims up to `limit` due weather jobs until `lease_until` (so that another node
/// does not take them too).
pub async fn claim_weather_jobs(
    db: &Db,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> ApiResult<Vec<WeatherClaim>> {
    let due: Vec<(String, i64, i64)> = db
        .read(
            "SELECT run_id, attempts, next_attempt_at FROM weather_jobs WHERE next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2",
            &[SqlValue::Int(now), SqlValue::Int(limit)],
        )
        .await?
        .into_iter()
        .map(|mut r| Ok((r.take("run_id")?, r.try_get("attempts")?, r.try_get("next_attempt_at")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let mut claimed = Vec::new();
    for (run_id, attempts, at) in due {
        let won = sqlx::query(
            "UPDATE weather_jobs SET next_attempt_at = $3 WHERE run_id = $1 AND next_attempt_at = $2",
        )
        .bind(&run_id)
        .bind(at)
        .bind(lease_until)
        .execute(&db.pool)
        .await?
        .rows_affected()
            == 1;
        if won {
            claimed.push(WeatherClaim { run_id, attempts, lease: lease_until });
        }
    }
    Ok(claimed)
}

/// Gives up a claim for another try at `at` with `attempts` used, if the claim still holds.
pub async fn retry_weather_job(db: &Db, claim: &WeatherClaim, attempts: i64, at: Timestamp) -> ApiResult<()> {
    sqlx::query("UPDATE weather_jobs SET attempts = $3, next_attempt_at = $4 WHERE run_id = $1 AND next_attempt_at = $2")
        .bind(&claim.run_id)
        .bind(claim.lease)
        .bind(attempts)
        .bind(at)
        .execute(&db.pool)
        .await?;
    Ok(())
}
