//! The durable weather queue (`weather_jobs`): a pass claims every due lookup around
//! one place at once, with a lease and a mark of its own (so that several nodes can
//! work the queue), and settles only the jobs it still holds. Jobs are queued by the
//! run writes in `store`.

use super::model::{WeatherStatus, date_text, parse_date};
use super::store::bump_version;
use super::weather::Conditions;
use super::weather_batch::{Lookup, NEARBY_DEGREES};
use crate::clock::Timestamp;
use crate::domain::ids::UserId;
use crate::params;
use crate::store::{Db, StoreError, Tx};

crate::statements! {
    OLDEST_DUE_PLACE = "SELECT r.lat, r.lon FROM weather_jobs j JOIN runs r ON r.id = j.run_id
             WHERE j.next_attempt_at <= $1 ORDER BY j.next_attempt_at LIMIT 1";
    // The outer `next_attempt_at <= $2` is checked again on PostgreSQL when another
    // node's claim of the same row commits first: a job is claimed once.
    CLAIM_NEAR = "UPDATE weather_jobs SET next_attempt_at = $1, claimed_by = $3
         WHERE next_attempt_at <= $2 AND run_id IN (
             SELECT j.run_id FROM weather_jobs j JOIN runs r ON r.id = j.run_id
             WHERE j.next_attempt_at <= $2 AND r.lat BETWEEN $4 AND $5 AND r.lon BETWEEN $6 AND $7
             ORDER BY j.next_attempt_at LIMIT $8)";
    CLAIMED = "SELECT j.run_id, j.attempts, r.user_id, r.date, r.lat, r.lon
         FROM weather_jobs j JOIN runs r ON r.id = j.run_id WHERE j.claimed_by = $1";
    RETRY_LATER = "UPDATE weather_jobs SET attempts = $3, next_attempt_at = $4, claimed_by = NULL
                     WHERE run_id = $1 AND claimed_by = $2";
    FINISH_JOB = "DELETE FROM weather_jobs WHERE run_id = $1 AND claimed_by = $2";
    STORE_WEATHER = "UPDATE runs SET weather_status = $2, weather_temp_max = $3, weather_temp_min = $4,
             weather_precipitation = $5, weather_wind_max = $6, weather_code = $7, weather_summary = $8
         WHERE id = $1 AND weather_status = 'pending' AND date = $9 AND lat = $10 AND lon = $11";
}

/// What became of a claimed lookup.
pub enum Outcome {
    /// The run's weather is settled (`ok` with conditions, or `unavailable`).
    Done(WeatherStatus, Option<Conditions>),
    /// Ask again at `at`, with `attempts` used.
    Retry { attempts: i64, at: Timestamp },
}

/// The place of the longest-waiting due lookup, if any.
pub async fn oldest_due_place(db: &Db, now: Timestamp) -> Result<Option<(f64, f64)>, StoreError> {
    db.read_optional(OLDEST_DUE_PLACE, params![now]).await
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
) -> Result<Vec<Lookup>, StoreError> {
    let mut tx = db.begin().await?;
    let near = NEARBY_DEGREES;
    let params = params![lease_until, now, mark, lat - near, lat + near, lon - near, lon + near, limit];
    tx.execute(CLAIM_NEAR, params).await?;
    let rows: Vec<(String, i64, UserId, String, f64, f64)> = tx.fetch_all(CLAIMED, params![mark]).await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|(run_id, attempts, user_id, date, lat, lon)| {
            let date = parse_date("date", &date).map_err(|e| StoreError::Decode(e.message))?;
            Ok(Lookup { run_id, user_id, date, lat, lon, attempts })
        })
        .collect()
}

/// Records what became of lookups claimed by `mark`, in one transaction: only for
/// the jobs still held by that mark, and a result only for a run still pending at the
/// same day and place (an edit or another node may have moved on meanwhile).
pub async fn settle(db: &Db, mark: &str, outcomes: &[(&Lookup, Outcome)]) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let mut changed_owners: Vec<&UserId> = Vec::new();
    for (lookup, outcome) in outcomes {
        match outcome {
            Outcome::Retry { attempts, at } => {
                tx.execute(RETRY_LATER, params![&lookup.run_id, mark, *attempts, *at]).await?;
            }
            Outcome::Done(status, conditions) => {
                let held = tx.execute(FINISH_JOB, params![&lookup.run_id, mark]).await? == 1;
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
    tx.commit().await
}

async fn store_weather(
    tx: &mut Tx,
    lookup: &Lookup,
    status: WeatherStatus,
    conditions: Option<&Conditions>,
) -> Result<bool, StoreError> {
    let params = params![
        &lookup.run_id,
        status.as_str(),
        conditions.and_then(|c| c.temperature_max),
        conditions.and_then(|c| c.temperature_min),
        conditions.and_then(|c| c.precipitation),
        conditions.and_then(|c| c.wind_speed_max),
        conditions.and_then(|c| c.code),
        conditions.map(|c| c.summary.as_str()),
        date_text(lookup.date),
        lookup.lat,
        lookup.lon,
    ];
    Ok(tx.execute(STORE_WEATHER, params).await? == 1)
}
