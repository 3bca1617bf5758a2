//! The weekly report: a user's runs grouped by ISO week, newest week first.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::UserId;
use crate::http::listing::Listing;
use crate::http::paging::Page;
use crate::store::filter_sql;
use crate::store::{Db, FromRow, Row, Sql, StoreError};

#[derive(Debug, Serialize, ToSchema)]
pub struct WeekReport {
    pub year: i64,
    pub week: i64,
    /// The Monday of the week.
    pub week_start: String,
    pub runs: i64,
    /// Metres.
    pub total_distance: f64,
    /// Seconds.
    pub total_time: f64,
    pub average_distance: f64,
    /// Total distance / total time, metres per second.
    pub average_speed: f64,
}

impl FromRow for WeekReport {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let runs: i64 = row.get("runs")?;
        let total_distance: f64 = row.get("total_distance")?;
        let total_time: f64 = row.get("total_time")?;
        Ok(WeekReport {
            year: row.get("iso_year")?,
            week: row.get("iso_week")?,
            week_start: row.get("week_start")?,
            runs,
            total_distance,
            total_time,
            average_distance: total_distance / runs as f64,
            average_speed: if total_time > 0.0 { total_distance / total_time } else { 0.0 },
        })
    }
}

/// Weeks of `owner`'s runs (everyone's when `None`) matching the listing's filter;
/// `oldest_first` reverses the order.
pub async fn weekly(
    db: &Db,
    owner: Option<&UserId>,
    listing: &Listing,
    oldest_first: bool,
) -> Result<Page<WeekReport>, StoreError> {
    let (mut condition, mut params) = super::store::owner_scope(owner, None);
    if let Some(typed) = &listing.filter {
        let compiled = filter_sql::compile(typed, db.backend, params.len() + 1);
        condition = format!("{condition} AND {}", compiled.sql);
        params.extend(compiled.params);
    }
    let direction = if oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT iso_year, iso_week, MIN(week_start) AS week_start, COUNT(*) AS runs,
                SUM(distance) AS total_distance, SUM(time) AS total_time
         FROM runs WHERE {condition} GROUP BY iso_year, iso_week
         ORDER BY iso_year {direction}, iso_week {direction} LIMIT {} OFFSET {}",
        listing.count,
        listing.page * listing.count
    );
    let count_sql = format!(
        "SELECT COUNT(*) FROM (SELECT iso_year, iso_week FROM runs WHERE {condition} GROUP BY iso_year, iso_week) weeks"
    );
    let version = super::store::version_query(owner);
    let (items, total) = listing
        .page_and_total(db, Sql::dynamic(&sql), &params, Sql::dynamic(&count_sql), version.as_ref())
        .await?;
    Ok(listing.page_of(items, total))
}

crate::statements! {
    TOTALS = "SELECT COUNT(*), COALESCE(SUM(distance), 0), COALESCE(SUM(time), 0) FROM runs WHERE user_id = $1";
    BEST_WEEK = "SELECT COALESCE(MAX(week_distance), 0) FROM
         (SELECT SUM(distance) AS week_distance FROM runs WHERE user_id = $1 GROUP BY iso_year, iso_week) weeks";
}

/// All of a user's runs at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub runs: i64,
    /// Metres.
    pub distance: f64,
    /// Seconds.
    pub time: f64,
    /// Metres in the user's longest week.
    pub best_week: f64,
}

pub async fn totals(db: &Db, owner: &UserId) -> Result<Totals, StoreError> {
    let (runs, distance, time) =
        db.read_optional::<(i64, f64, f64)>(TOTALS, crate::params![owner]).await?.unwrap_or_default();
    let best_week = db.read_optional::<f64>(BEST_WEEK, crate::params![owner]).await?.unwrap_or_default();
    Ok(Totals { runs, distance, time, best_week })
}
