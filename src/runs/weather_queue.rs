//! The durable weather queue (`weather_jobs`): a pass claims every due lookup around
//! one place at once, with a lease and a mark of its own (so that several nodes can
//! work the queue), and settles only the jobs it still holds. Jobs are queued by the
//! run writes in `store`.

use super::model::{WeatherStatus, date_text, parse_date};
use super::store::bump_version;
use super::weather::Conditions;
use super::weather_batch::{Lookup, NEARBY_DEGREES};
use crate::clock::Timestamp;
use crate::domain::filter::SqlValue;
use crate::http::error::ApiResult;
use crate::store::{Db, Double};

/// What became of a claimed lookup.
pub enum Outcome {
    /// The run's weather is settled (`ok` with conditions, or `unavailable`).
    Done(WeatherStatus, Option<Conditions>),
    /// Ask again at `at`, with `attempts` used.
    Retry { attempts: i64, at: Timestamp },
}

/// The place of the longest-waiting due lookup, if any.
pub async fn oldest_due_place(db: &Db, now: Timestamp) -> ApiResult<Option<(f64, f64)>> {
    let row = db
        .read_optional(
            "SELECT r.lat, r.lon FROM weather_jobs j JOIN runs r ON r.id = j.run_id
             WHERE j.next_attempt_at <= $1 ORDER BY j.next_attempt_at LIMIT 1",
            &[SqlValue::Int(now)],
        )
        .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("lat")?, row.try_get("lon")?)),
        None => None,
    })
}

/// Claims up to `limit` due lookups of runs near (`lat`, `lon`) for the pass marked
/// `mark`, until `lease_until`; returns them as claimed.
pub async fn claim_near(
    db: &Db,
    (lat, lon): (f64, f64),
    now: Timestamp,
    lease_until: Timestamp,
    mark: &str,
    limit: i64,
) -> ApiResult<Vec<Lookup>> {
    let mut tx = db.begin().await?;
    // The outer `next_attempt_at <= $2` is checked again on PostgreSQL when another
    // node's claim of the same row commits first: a job is claimed once.
    sqlx::query(
        "UPDATE weather_jobs SET next_attempt_at = $1, claimed_by = $3
         WHERE next_attempt_at <= $2 AND run_id IN (
             SELECT j.run_id FROM weather_jobs j JOIN runs r ON r.id = j.run_id
             WHERE j.next_attempt_at <= $2 AND r.lat BETWEEN $4 AND $5 AND r.lon BETWEEN $6 AND $7
             ORDER BY j.next_attempt_at LIMIT $8)",
    )
    .bind(lease_until)
    .bind(now)
    .bind(mark)
    .bind(lat - NEARBY_DEGREES)
    .bind(lat + NEARBY_DEGREES)
    .bind(lon - NEARBY_DEGREES)
    .bind(lon + NEARBY_DEGREES)
    .bind(limit)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(String, i64, String, String, f64, f64)> = sqlx::query_as(
        "SELECT j.run_id, j.attempts, r.user_id, r.date, r.lat, r.lon
         FROM weather_jobs j JOIN runs r ON r.id = j.run_id WHERE j.claimed_by = $1",
    )
    .bind(mark)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|(run_id, attempts, user_id, date, lat, lon)| {
            let date =
                parse_date("date", &date).map_err(|e| anyhow::anyhow!("stored run date: {}", e.message))?;
            Ok(Lookup { run_id, user_id, date, lat, lon, attempts })
        })
        .collect()
}

/// Records what became of lookups claimed by `mark`, in one transaction: only for
/// the jobs still held by that mark, and a result only for a run still pending at the
/// same day and place (an edit or another node may have moved on meanwhile).
pub async fn settle(db: &Db, mark: &str, outcomes: &[(&Lookup, Outcome)]) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let mut changed_owners: Vec<&str> = Vec::new();
    for (lookup, outcome) in outcomes {
        match outcome {
            Outcome::Retry { attempts, at } => {
                sqlx::query(
                    "UPDATE weather_jobs SET attempts = $3, next_attempt_at = $4, claimed_by = NULL
                     WHERE run_id = $1 AND claimed_by = $2",
                )
                .bind(&lookup.run_id)
                .bind(mark)
                .bind(attempts)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            Outcome::Done(status, conditions) => {
                let held = sqlx::query("DELETE FROM weather_jobs WHERE run_id = $1 AND claimed_by = $2")
                    .bind(&lookup.run_id)
                    .bind(mark)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if held && store_weather(&mut tx, lookup, *status, conditions.as_ref()).await? {
                    changed_owners.push(&lookup.user_id);
                }
            }
        }
    }
    changed_owners.sort_unstable();
    changed_owners.dedup();
    for user_id in changed_owners {
        bump_version(&mut tx, user_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn store_weather(
    tx: &mut crate::store::Tx,
    lookup: &Lookup,
    status: WeatherStatus,
    conditions: Option<&Conditions>,
) -> ApiResult<bool> {
    let stored = sqlx::query(
        "UPDATE runs SET weather_status = $2, weather_temp_max = $3, weather_temp_min = $4, weather_precipitation = $5,
             weather_wind_max = $6, weather_code = $7, weather_summary = $8
         WHERE id = $1 AND weather_status = 'pending' AND date = $9 AND lat = $10 AND lon = $11",
    )
    .bind(&lookup.run_id)
    .bind(status.as_str())
    .bind(Double(conditions.and_then(|c| c.temperature_max)))
    .bind(Double(conditions.and_then(|c| c.temperature_min)))
    .bind(Double(conditions.and_then(|c| c.precipitation)))
    .bind(Double(conditions.and_then(|c| c.wind_speed_max)))
    .bind(conditions.and_then(|c| c.code))
    .bind(conditions.map(|c| c.summary.clone()))
    .bind(date_text(lookup.date))
    .bind(lookup.lat)
    .bind(lookup.lon)
    .execute(&mut **tx)
    .await?;
    Ok(stored.rows_affected() == 1)
}
