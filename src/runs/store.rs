//! Run queries, one text for both backends.

use std::collections::BTreeSet;

use super::model::{Run, WeatherStatus, date_text, iso_week, parse_date};
use super::weather::Conditions;
use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey};
use crate::domain::ids::{RunId, UserId};
use crate::http::listing::{ListSql, Listing, VersionQuery};
use crate::params;
use crate::store::{Db, FromRow, Param, Row, Sql, StoreError, Tx};

macro_rules! columns {
    () => {
        "id, user_id, date, distance, time, lat, lon, notes, weather_status, weather_temp_max, weather_temp_min,
         weather_precipitation, weather_wind_max, weather_code, weather_summary, created_at, updated_at"
    };
}

macro_rules! insert_columns {
    () => {
        "INSERT INTO runs (id, user_id, date, distance, time, lat, lon, notes, speed, iso_year,
        iso_week, week_start, weather_status, weather_temp_max, weather_temp_min, weather_precipitation,
        weather_wind_max, weather_code, weather_summary, created_at, updated_at) VALUES "
    };
}

crate::statements! {
    INSERT_RUN = concat!(
        insert_columns!(),
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    );
    QUEUE_WEATHER = "INSERT INTO weather_jobs (run_id, attempts, next_attempt_at) VALUES ($1, 0, $2)";
    UPDATE_RUN = "UPDATE runs SET date = $3, distance = $4, time = $5, lat = $6, lon = $7, notes = $8, speed = $9,
                iso_year = $10, iso_week = $11, week_start = $12, weather_status = $13, weather_temp_max = $14,
                weather_temp_min = $15, weather_precipitation = $16, weather_wind_max = $17, weather_code = $18,
                weather_summary = $19, created_at = $20, updated_at = $21
             WHERE id = $1 AND user_id = $2";
    UPDATE_RUN_KEEPING_WEATHER = "UPDATE runs SET distance = $3, time = $4, notes = $5, speed = $6, iso_year = $7,
                 iso_week = $8, week_start = $9, updated_at = $10 WHERE id = $1 AND user_id = $2";
    UNQUEUE_WEATHER = "DELETE FROM weather_jobs WHERE run_id = $1";
    FIND_RUN = concat!("SELECT ", columns!(), " FROM runs WHERE id = $1 AND (CAST($2 AS TEXT) IS NULL OR user_id = $2)");
    DELETE_RUN = "DELETE FROM runs WHERE id = $1 AND (CAST($2 AS TEXT) IS NULL OR user_id = $2) RETURNING user_id";
    BUMP_VERSION = "INSERT INTO run_versions (user_id, version) VALUES ($1, 1)
         ON CONFLICT (user_id) DO UPDATE SET version = run_versions.version + 1";
    RUNS_VERSION = "SELECT version FROM run_versions WHERE user_id = $1";
}

macro_rules! run_fields {
    ($($extra:expr),*) => {
        &[
            Field { name: "id", column: "id", ty: FieldType::Text, nullable: false },
            Field { name: "date", column: "date", ty: FieldType::Date, nullable: false },
            Field { name: "distance", column: "distance", ty: FieldType::Real, nullable: false },
            Field { name: "time", column: "time", ty: FieldType::Real, nullable: false },
            Field { name: "speed", column: "speed", ty: FieldType::Real, nullable: false },
            Field { name: "lat", column: "lat", ty: FieldType::Real, nullable: false },
            Field { name: "lon", column: "lon", ty: FieldType::Real, nullable: false },
            Field { name: "notes", column: "notes", ty: FieldType::Text, nullable: false },
            Field { name: "created_at", column: "created_at", ty: FieldType::Timestamp, nullable: false },
            Field { name: "updated_at", column: "updated_at", ty: FieldType::Timestamp, nullable: false },
            Field { name: "weather.status", column: "weather_status", ty: FieldType::Text, nullable: false },
            Field { name: "weather.temperature_max", column: "weather_temp_max", ty: FieldType::Real, nullable: true },
            Field { name: "weather.temperature_min", column: "weather_temp_min", ty: FieldType::Real, nullable: true },
            Field { name: "weather.precipitation", column: "weather_precipitation", ty: FieldType::Real, nullable: true },
            Field { name: "weather.wind_speed_max", column: "weather_wind_max", ty: FieldType::Real, nullable: true },
            Field { name: "weather.code", column: "weather_code", ty: FieldType::Integer, nullable: true },
            Field { name: "weather.summary", column: "weather_summary", ty: FieldType::Text, nullable: true },
            $($extra),*
        ]
    };
}

/// What a user's run list can be filtered and sorted on.
pub const OWN: Schema = Schema { fields: run_fields!() };
/// Administrators (`runs:admin`) may also filter on the owner.
pub const ALL: Schema = Schema {
    fields: run_fields!(Field { name: "user_id", column: "user_id", ty: FieldType::Text, nullable: false }),
};
pub const DEFAULT_ORDER: &[SortKey] = &[SortKey::desc("date")];

impl FromRow for Run {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let date: String = row.get("date")?;
        let status: String = row.get("weather_status")?;
        let summary: Option<String> = row.get("weather_summary")?;
        let weather = match summary {
            Some(summary) => Some(Conditions {
                temperature_max: row.get("weather_temp_max")?,
                temperature_min: row.get("weather_temp_min")?,
                precipitation: row.get("weather_precipitation")?,
                wind_speed_max: row.get("weather_wind_max")?,
                code: row.get("weather_code")?,
                summary,
            }),
            None => None,
        };
        Ok(Run {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            date: parse_date("date", &date).map_err(|e| StoreError::Decode(e.message))?,
            distance: row.get("distance")?,
            time: row.get("time")?,
            lat: row.get("lat")?,
            lon: row.get("lon")?,
            notes: row.get("notes")?,
            weather_status: WeatherStatus::parse(&status),
            weather,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

/// The values of `INSERT_RUN` and `UPDATE_RUN`, in order.
fn run_params(run: &Run) -> [Param<'_>; RUN_PARAMS] {
    let (year, week, monday) = iso_week(run.date);
    let w = run.weather.as_ref();
    [
        Param::from(&run.id),
        Param::from(&run.user_id),
        Param::from(date_text(run.date)),
        Param::from(run.distance),
        Param::from(run.time),
        Param::from(run.lat),
        Param::from(run.lon),
        Param::from(&run.notes),
        Param::from(run.distance / run.time),
        Param::from(i64::from(year)),
        Param::from(i64::from(week)),
        Param::from(date_text(monday)),
        Param::from(run.weather_status.as_str()),
        Param::from(w.and_then(|w| w.temperature_max)),
        Param::from(w.and_then(|w| w.temperature_min)),
        Param::from(w.and_then(|w| w.precipitation)),
        Param::from(w.and_then(|w| w.wind_speed_max)),
        Param::from(w.and_then(|w| w.code)),
        Param::from(w.map(|w| w.summary.as_str())),
        Param::from(run.created_at),
        Param::from(run.updated_at),
    ]
}

/// Parameters per run row of an insert.
const RUN_PARAMS: usize = 21;
/// Rows per statement of an import: few statements, and statements short enough to
/// stay in the prepared-statement cache.
const ROWS_PER_INSERT: usize = 10;
/// Statements of an import between two yields to the runtime: a large import must
/// not keep other requests' tasks from running.
const STATEMENTS_BETWEEN_YIELDS: usize = 50;

/// `($k+1, …, $k+n), …` for `rows` rows of `n` parameters each.
fn values_list(rows: usize, n: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=n).map(|i| format!("${}", row * n + i)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts a pending run's weather lookup in the queue, due now.
async fn queue_weather(tx: &mut Tx, run: &Run, now: Timestamp) -> Result<(), StoreError> {
    if run.weather_status == WeatherStatus::Pending {
        tx.execute(QUEUE_WEATHER, params![&run.id, now]).await?;
    }
    Ok(())
}

/// Stores a new run, queueing its weather lookup when pending.
pub async fn insert(db: &Db, run: &Run, now: Timestamp) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    tx.execute(INSERT_RUN, &run_params(run)).await?;
    queue_weather(&mut tx, run, now).await?;
    bump_version(&mut tx, &run.user_id).await?;
    tx.commit().await
}

/// Stores new runs (all or none), queueing weather lookups for the pending ones, in
/// multi-row statements so that a large import is quick.
pub async fn insert_all(db: &Db, runs: &[Run], now: Timestamp) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    // Every chunk but the last is full: its statement text is built once.
    let full = format!("{}{}", insert_columns!(), values_list(ROWS_PER_INSERT, RUN_PARAMS));
    for (i, chunk) in runs.chunks(ROWS_PER_INSERT).enumerate() {
        let last;
        let sql = match chunk.len() {
            ROWS_PER_INSERT => full.as_str(),
            rows => {
                last = format!("{}{}", insert_columns!(), values_list(rows, RUN_PARAMS));
                last.as_str()
            }
        };
        let params: Vec<Param<'_>> = chunk.iter().flat_map(run_params).collect();
        tx.execute(Sql::dynamic(sql), &params).await?;
        let pending: Vec<Param<'_>> = chunk
            .iter()
            .filter(|r| r.weather_status == WeatherStatus::Pending)
            .flat_map(|r| [Param::from(&r.id), Param::from(now)])
            .collect();
        if !pending.is_empty() {
            let sql = format!(
                "INSERT INTO weather_jobs (run_id, next_attempt_at) VALUES {}",
                values_list(pending.len() / 2, 2)
            );
            tx.execute(Sql::dynamic(&sql), &pending).await?;
        }
        if i % STATEMENTS_BETWEEN_YIELDS == STATEMENTS_BETWEEN_YIELDS - 1 {
            tokio::task::yield_now().await;
        }
    }
    for owner in runs.iter().map(|run| &run.user_id).collect::<BTreeSet<_>>() {
        bump_version(&mut tx, owner).await?;
    }
    tx.commit().await
}

/// Saves an edited run. Its weather columns and queue entry are replaced only when
/// `weather_refreshed` (date or place changed), so an edit that races the weather
/// queue does not undo what the queue just stored.
pub async fn update(db: &Db, run: &Run, now: Timestamp, weather_refreshed: bool) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let changed = if weather_refreshed {
        tx.execute(UPDATE_RUN, &run_params(run)).await?
    } else {
        let (year, week, monday) = iso_week(run.date);
        let params = params![
            &run.id,
            &run.user_id,
            run.distance,
            run.time,
            &run.notes,
            run.distance / run.time,
            i64::from(year),
            i64::from(week),
            date_text(monday),
            run.updated_at,
        ];
        tx.execute(UPDATE_RUN_KEEPING_WEATHER, params).await?
    };
    if changed != 1 {
        return Ok(false);
    }
    if weather_refreshed {
        tx.execute(UNQUEUE_WEATHER, params![&run.id]).await?;
        queue_weather(&mut tx, run, now).await?;
    }
    bump_version(&mut tx, &run.user_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// The run `id` if `owner` owns it (any run when `owner` is `None`).
pub async fn find(db: &Db, id: &RunId, owner: Option<&UserId>) -> Result<Option<Run>, StoreError> {
    db.read_optional(FIND_RUN, params![id, owner]).await
}

pub async fn delete(db: &Db, id: &RunId, owner: Option<&UserId>) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let deleted: Option<UserId> = tx.fetch_optional(DELETE_RUN, params![id, owner]).await?;
    let Some(user_id) = deleted else {
        return Ok(false);
    };
    bump_version(&mut tx, &user_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks a change to `user_id`'s runs (see `run_versions`); call it in the
/// transaction that makes the change.
pub(super) async fn bump_version(tx: &mut Tx, user_id: &UserId) -> Result<(), StoreError> {
    tx.execute(BUMP_VERSION, params![user_id]).await?;
    Ok(())
}

/// A page of runs of `owner` (everyone's when `None`); `after` continues after that
/// run in the default order (newest date first).
pub async fn list(
    db: &Db,
    owner: Option<&UserId>,
    after: Option<&Run>,
    listing: &Listing,
) -> Result<(Vec<Run>, Option<u64>), StoreError> {
    let (scope, params) = owner_scope(owner, after);
    let query = ListSql {
        columns: columns!(),
        from: "runs",
        scope: &scope,
        scope_params: params,
        tiebreak: "id DESC",
        version: version_query(owner),
    };
    query.fetch(db, listing).await
}

/// The version of `owner`'s runs, which every change to them bumps. Only one user's
/// totals are cached: everyone's would need one version bumped by every write.
pub fn version_query(owner: Option<&UserId>) -> Option<VersionQuery<'_>> {
    owner.map(|owner| VersionQuery { sql: RUNS_VERSION, params: vec![Param::from(owner)] })
}

/// The fixed part of a run query: the owner (a plain `user_id = $1`, so that the
/// per-user indexes serve it) and the keyset cursor.
pub fn owner_scope<'a>(owner: Option<&'a UserId>, after: Option<&'a Run>) -> (String, Vec<Param<'a>>) {
    let mut scope = Vec::new();
    let mut params = Vec::new();
    if let Some(owner) = owner {
        params.push(Param::from(owner));
        scope.push(format!("user_id = ${}", params.len()));
    }
    if let Some(cursor) = after {
        params.push(Param::from(date_text(cursor.date)));
        params.push(Param::from(&cursor.id));
        let (d, i) = (params.len() - 1, params.len());
        scope.push(format!("(date < ${d} OR (date = ${d} AND id < ${i}))"));
    }
    if scope.is_empty() {
        scope.push("1 = 1".to_owned());
    }
    (scope.join(" AND "), params)
}
