//! The data generator: users and runs written straight into the server's SQLite file
//! (far faster than the API), sharing one real argon2 hash taken from a user that
//! registered through the API, so every generated user can log in.

use rand::RngExt;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row};
use time::{Date, Duration, macros::date};

/// Writes `users` users (`runner0`…) with `runs_per_user` runs each, and one user
/// (`heavy`) with `heavy_runs`. `template` is a registered user whose hash is reused.
/// Whether the database at `db_path` already holds runs (from an earlier bench run).
pub async fn has_runs(db_path: &std::path::Path) -> anyhow::Result<bool> {
    let options = SqliteConnectOptions::new().filename(db_path);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM runs LIMIT 1").fetch_optional(&mut conn).await?;
    Ok(found.is_some())
}

pub async fn generate(
    db_path: &std::path::Path,
    template: &str,
    users: usize,
    runs_per_user: usize,
    heavy_runs: usize,
) -> anyhow::Result<()> {
    let options =
        SqliteConnectOptions::new().filename(db_path).busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let hash: String = sqlx::query("SELECT password_hash FROM users WHERE username = ?")
        .bind(template)
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    let mut rng = rand::rng();
    let mut tx = conn.begin().await?;
    let owners: Vec<(String, usize)> = (0..users)
        .map(|i| (format!("runner{i}"), runs_per_user))
        .chain(std::iter::once(("heavy".to_owned(), heavy_runs)))
        .collect();
    for (index, (name, runs)) in owners.iter().enumerate() {
        let user_id = format!("00000000-0000-7000-8000-{index:012}");
        sqlx::query(
            "INSERT INTO users (id, username, username_key, name, password_hash, created_at, updated_at)
             VALUES (?, ?, ?, '', ?, 0, 0)",
        )
        .bind(&user_id)
        .bind(name)
        .bind(name)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES (?, 'user')")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        // Many rows a statement: one round trip per batch, not per run.
        const BATCH: usize = 200;
        for first in (0..*runs).step_by(BATCH) {
            let count = BATCH.min(runs - first);
            let values = vec![
                "(?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, 'ok', 20.5, 11.0, 0.0, 12.0, 1, 'mainly clear', 0, 0)";
                count
            ];
            let sql = format!(
                "INSERT INTO runs (id, user_id, date, distance, time, lat, lon, notes, speed, iso_year, iso_week,
                     week_start, weather_status, weather_temp_max, weather_temp_min, weather_precipitation,
                     weather_wind_max, weather_code, weather_summary, created_at, updated_at) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for n in first..first + count {
                let date: Date = date!(2015 - 01 - 01) + Duration::days(rng.random_range(0..3650));
                let distance: f64 = rng.random_range(1000..20000) as f64;
                let time: f64 = distance / rng.random_range(2.0..5.0);
                let (year, week, _) = date.to_iso_week_date();
                let monday = date - Duration::days(i64::from(date.weekday().number_days_from_monday()));
                query = query
                    .bind(format!("{user_id}-{n:08}"))
                    .bind(user_id.clone())
                    .bind(date.to_string())
                    .bind(distance)
                    .bind(time)
                    .bind(rng.random_range(-60.0..60.0))
                    .bind(rng.random_range(-180.0..180.0))
                    .bind(distance / time)
                    .bind(i64::from(year))
                    .bind(i64::from(week))
                    .bind(monday.to_string());
            }
            query.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(())
}
