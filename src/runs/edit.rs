//! Logging and editing a run: the checks every field goes through and the writes
//! that follow, shared by the API and the pages.

use time::Date;

use super::model::{
    LocationInput, MAX_DISTANCE, MAX_TIME, Run, WeatherStatus, check_speed, parse_date, parse_notes, positive,
};
use super::{store, weather_jobs};
use crate::app::AppState;
use crate::domain::Invalid;
use crate::domain::ids::UserId;
use crate::http::error::{ApiError, ApiResult};

/// A run's fields as submitted: distance (metres) and time (seconds) already read
/// from whatever form they came in, or refused.
pub struct Fields<'a> {
    pub date: &'a str,
    pub distance: Result<f64, Invalid>,
    pub time: Result<f64, Invalid>,
    pub location: &'a LocationInput,
    pub notes: &'a str,
}

/// Fields that passed every check.
pub struct Checked {
    pub date: Date,
    pub distance: f64,
    pub time: f64,
    pub lat: f64,
    pub lon: f64,
    pub notes: String,
}

/// Checks every field, naming each one that is wrong (422).
pub fn check(fields: Fields<'_>) -> ApiResult<Checked> {
    let mut errors: Vec<Invalid> = Vec::new();
    let date = parse_date("date", fields.date).map_err(|e| errors.push(e)).ok();
    let distance =
        fields.distance.and_then(|d| positive("distance", d, MAX_DISTANCE)).map_err(|e| errors.push(e)).ok();
    let time = fields.time.and_then(|t| positive("time", t, MAX_TIME)).map_err(|e| errors.push(e)).ok();
    let location = fields.location.parse().map_err(|e| errors.push(e)).ok();
    let notes = parse_notes(fields.notes).map_err(|e| errors.push(e)).ok();
    if let (Some(distance), Some(time)) = (distance, time) {
        check_speed(distance, time).unwrap_or_else(|e| errors.push(e));
    }
    match (date, distance, time, location, notes) {
        (Some(date), Some(distance), Some(time), Some((lat, lon)), Some(notes)) if errors.is_empty() => {
            Ok(Checked { date, distance, time, lat, lon, notes })
        }
        _ => Err(ApiError::from(errors)),
    }
}

/// Logs a run for `owner`; its weather is looked up at once, or later if the
/// provider is slow.
pub async fn create(state: &AppState, owner: &UserId, run: Checked) -> ApiResult<Run> {
    let now = state.clock.now();
    let mut run = Run {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: owner.clone(),
        date: run.date,
        distance: run.distance,
        time: run.time,
        lat: run.lat,
        lon: run.lon,
        notes: run.notes,
        weather_status: WeatherStatus::Pending,
        weather: None,
        created_at: now,
        updated_at: now,
    };
    weather_jobs::fetch_now(state, &mut run).await?;
    store::insert(&state.db, &run, now).await?;
    Ok(run)
}

/// Replaces every field of `run` with `with`.
pub fn replace(run: &mut Run, with: Checked) {
    (run.date, run.distance, run.time, run.lat, run.lon, run.notes) =
        (with.date, with.distance, with.time, with.lat, with.lon, with.notes);
}

/// Stores an edited `run`, whose date and place were `before`: the weather is looked
/// up again when they changed. A run deleted meanwhile is a 404.
pub async fn save(state: &AppState, mut run: Run, before: (Date, f64, f64)) -> ApiResult<Run> {
    let now = state.clock.now();
    let moved = (run.date, run.lat, run.lon) != before;
    if moved {
        weather_jobs::fetch_now(state, &mut run).await?;
    }
    run.updated_at = now;
    if !store::update(&state.db, &run, now, moved).await? {
        return Err(ApiError::NotFound);
    }
    Ok(run)
}
