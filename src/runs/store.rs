//! Run queries, one text for both backends.

use std::sync::Arc;

use super::model::{Run, WeatherStatus, date_text, iso_week};
use super::weather::Conditions;
use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey, SqlValue};
use crate::http::error::ApiResult;
use crate::http::listing::{ListSql, Listing, VersionQuery};
use crate::store::{Db, Double, Record};

macro_rules! columns {
    () => {
        "id, user_id, date, distance, time, lat, lon, notes, weather_status, weather_temp_max, weather_temp_min,
         weather_precipitation, weather_wind_max, weather_code, weather_summary, created_at, updated_at"
    };
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

fn weather_from(row: &mut Record) -> Result<Option<Conditions>, sqlx::Error> {
    let summary: Option<String> = row.take("weather_summary")?;
    Ok(summary.map(|summary| Conditions {
        temperature_max: row.try_get("weather_temp_max").ok().flatten(),
        temperature_min: row.try_get("weather_temp_min").ok().flatten(),
        precipitation: row.try_get("weather_precipitation").ok().flatten(),
        wind_speed_max: row.try_get("weather_wind_max").ok().flatten(),
        code: row.try_get("weather_code").ok().flatten(),
        summary,
    }))
}

/// Takes a run out of its row (moving its text rather than copying it).
fn from_row(mut row: Record) -> Result<Run, sqlx::Error> {
    let row = &mut row;
    let date: String = row.try_get("date")?;
    let status: String = row.try_get("weather_status")?;
    Ok(Run {
        id: row.take("id")?,
        user_id: row.take("user_id")?,
        date: super::model::parse_date("date", &date).map_err(|e| sqlx::Error::Decode(e.message.into()))?,
        distance: row.try_get("distance")?,
        time: row.try_get("time")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        notes: row.take("notes")?,
        weather_status: WeatherStatus::parse(&status),
        weather: weather_from(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn bind_run<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    run: &Run,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let (year, week, monday) = iso_week(run.date);
    let w = run.weather.as_ref();
    query
        .bind(run.id.clone())
        .bind(run.user_id.clone())
        .bind(date_text(run.date))
        .bind(run.distance)
        .bind(run.time)
        .bind(run.lat)
        .bind(run.lon)
        .bind(run.notes.clone())
        .bind(run.distance / run.time)
        .bind(i64::from(year))
        .bind(i64::from(week))
        .bind(date_text(monday))
        .bind(run.weather_status.as_str())
        .bind(Double(w.and_then(|w| w.temperature_max)))
        .bind(Double(w.and_then(|w| w.temperature_min)))
        .bind(Double(w.and_then(|w| w.precipitation)))
        .bind(Double(w.and_then(|w| w.wind_speed_max)))
        .bind(w.and_then(|w| w.code))
        .bind(w.map(|w| w.summary.clone()))
        .bind(run.created_at)
        .bind(run.updated_at)
}

const INSERT_COLUMNS: &str =
    "INSERT INTO runs (id, user_id, date, distance, time, lat, lon, notes, speed, iso_year,
        iso_week, week_start, weather_status, weather_temp_max, weather_temp_min, weather_precipitation,
        weather_wind_max, weather_code, weather_summary, created_at, updated_at) VALUES ";
/// Parameters per run row in `INSERT_COLUMNS`.
const RUN_PARAMS: usize = 21;
/// Rows per statement: few round trips, and few parameters — sqlx's SQLite driver
/// looks up each parameter's name, at a cost that grows with the statement's number
/// of parameters (100,000 rows imported in 4.7–5.4 s with 10 rows, 5.9–6.2 s with 40).
const ROWS_PER_INSERT: usize = 10;

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
async fn queue_weather(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    run: &Run,
    now: Timestamp,
) -> ApiResult<()> {
    if run.weather_status == WeatherStatus::Pending {
        sqlx::query("INSERT INTO weather_jobs (run_id, attempts, next_attempt_at) VALUES ($1, 0, $2)")
            .bind(&run.id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Stores new runs (all or none), queueing weather lookups for the pending ones, in
/// multi-row statements so that a large import is quick.
pub async fn insert_all(db: &Db, runs: &[Run], now: Timestamp) -> ApiResult<()> {
    let mut tx = db.pool.begin().await?;
    // Every chunk but the last is full: its statement text is built once and shared.
    let full: Arc<str> = format!("{INSERT_COLUMNS}{}", values_list(ROWS_PER_INSERT, RUN_PARAMS)).into();
    for chunk in runs.chunks(ROWS_PER_INSERT) {
        let sql = match chunk.len() {
            ROWS_PER_INSERT => full.clone(),
            rows => format!("{INSERT_COLUMNS}{}", values_list(rows, RUN_PARAMS)).into(),
        };
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for run in chunk {
            insert = bind_run(insert, run);
        }
        insert.execute(&mut *tx).await?;
        let pending: Vec<&Run> =
            chunk.iter().filter(|r| r.weather_status == WeatherStatus::Pending).collect();
        if !pending.is_empty() {
            let sql = format!(
                "INSERT INTO weather_jobs (run_id, next_attempt_at) VALUES {}",
                values_list(pending.len(), 2)
            );
            let mut queue = sqlx::query(sqlx::AssertSqlSafe(sql));
            for run in pending {
                queue = queue.bind(run.id.clone()).bind(now);
            }
            queue.execute(&mut *tx).await?;
        }
    }
    for owner in runs.iter().map(|run| run.user_id.as_str()).collect::<std::collections::BTreeSet<_>>() {
        bump_version(&mut tx, owner).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Saves an edited run. Its weather columns and queue entry are replaced only when
/// `weather_refreshed` (date or place changed), so an edit that races the weather
/// queue does not undo what the queue just stored.
pub async fn update(db: &Db, run: &Run, now: Timestamp, weather_refreshed: bool) -> ApiResult<bool> {
    let mut tx = db.pool.begin().await?;
    let changed = if weather_refreshed {
        let sql =
            "UPDATE runs SET date = $3, distance = $4, time = $5, lat = $6, lon = $7, notes = $8, speed = $9,
                iso_year = $10, iso_week = $11, week_start = $12, weather_status = $13, weather_temp_max = $14,
                weather_temp_min = $15, weather_precipitation = $16, weather_wind_max = $17, weather_code = $18,
                weather_summary = $19, created_at = $20, updated_at = $21
             WHERE id = $1 AND user_id = $2";
        bind_run(sqlx::query(sql), run).execute(&mut *tx).await?
    } else {
        let (year, week, monday) = iso_week(run.date);
        sqlx::query(
            "UPDATE runs SET distance = $3, time = $4, notes = $5, speed = $6, iso_year = $7, iso_week = $8,
                 week_start = $9, updated_at = $10 WHERE id = $1 AND user_id = $2",
        )
        .bind(&run.id)
        .bind(&run.user_id)
        .bind(run.distance)
        .bind(run.time)
        .bind(&run.notes)
        .bind(run.distance / run.time)
        .bind(i64::from(year))
        .bind(i64::from(week))
        .bind(date_text(monday))
        .bind(run.updated_at)
        .execute(&mut *tx)
        .await?
    }
    .rows_affected()
        == 1;
    if !changed {
        tx.rollback().await?;
        return Ok(false);
    }
    if weather_refreshed {
        sqlx::query("DELETE FROM weather_jobs WHERE run_id = $1").bind(&run.id).execute(&mut *tx).await?;
        queue_weather(&mut tx, run, now).await?;
    }
    bump_version(&mut tx, &run.user_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// The run `id` if `owner` owns it (any run when `owner` is `None`).
pub async fn find(db: &Db, id: &str, owner: Option<&str>) -> ApiResult<Option<Run>> {
    let sql = concat!("SELECT ", columns!(), " FROM runs WHERE id = $1 AND ($2 = '' OR user_id = $2)");
    let params = [SqlValue::Text(id.to_owned()), SqlValue::Text(owner.unwrap_or_default().to_owned())];
    let row = db.read_optional(sql, &params).await?;
    Ok(row.map(from_row).transpose()?)
}

pub async fn delete(db: &Db, id: &str, owner: Option<&str>) -> ApiResult<bool> {
    let mut tx = db.pool.begin().await?;
    let deleted: Option<String> =
        sqlx::query_scalar("DELETE FROM runs WHERE id = $1 AND ($2 = '' OR user_id = $2) RETURNING user_id")
            .bind(id)
            .bind(owner.unwrap_or(""))
            .fetch_optional(&mut *tx)
            .await?;
    let Some(user_id) = deleted else {
        tx.rollback().await?;
        return Ok(false);
    };
    bump_version(&mut tx, &user_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks a change to `user_id`'s runs (see `run_versions`); call it in the
/// transaction that makes the change.
pub(super) async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>, user_id: &str) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO run_versions (user_id, version) VALUES ($1, 1)
         ON CONFLICT (user_id) DO UPDATE SET version = run_versions.version + 1",
    )
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page of runs of `owner` (everyone's when `None`); `after` continues after that
/// run in the default order (newest date first).
pub async fn list(
    db: &Db,
    owner: Option<&str>,
    after: Option<&Run>,
    listing: &Listing,
) -> ApiResult<(Vec<Run>, Option<u64>)> {
    let (scope, params) = owner_scope(owner, after);
    let query = ListSql {
        columns: columns!(),
        from: "runs",
        scope: &scope,
        scope_params: params,
        tiebreak: "id DESC",
        version: version_query(owner),
    };
    let (rows, total) = query.fetch(db, listing).await?;
    Ok((rows.into_iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// The version of `owner`'s runs, which every change to them bumps. Only one user's
/// totals are cached: everyone's would need one version bumped by every write.
pub fn version_query(owner: Option<&str>) -> Option<VersionQuery> {
    owner.map(|owner| VersionQuery {
        sql: "SELECT version FROM run_versions WHERE user_id = $1",
        params: vec![SqlValue::Text(owner.to_owned())],
    })
}

/// The fixed part of a run query: the owner (a plain `user_id = $1`, so that the
/// per-user indexes serve it) and the keyset cursor.
pub fn owner_scope(owner: Option<&str>, after: Option<&Run>) -> (String, Vec<SqlValue>) {
    let mut scope = Vec::new();
    let mut params = Vec::new();
    if let Some(owner) = owner {
        params.push(SqlValue::Text(owner.to_owned()));
        scope.push(format!("user_id = ${}", params.len()));
    }
    if let Some(cursor) = after {
        params.push(SqlValue::Text(date_text(cursor.date)));
        params.push(SqlValue::Text(cursor.id.clone()));
        let (d, i) = (params.len() - 1, params.len());
        scope.push(format!("(date < ${d} OR (date = ${d} AND id < ${i}))"));
    }
    if scope.is_empty() {
        scope.push("1 = 1".to_owned());
    }
    (scope.join(" AND "), params)
}
