//! A run as stored, as shown, and as submitted.

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, Weekday};
use utoipa::ToSchema;

use super::weather::Conditions;
use crate::clock::{Timestamp, rfc3339};
use crate::domain::Invalid;
use crate::domain::ids::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WeatherStatus {
    Ok,
    Pending,
    Unavailable,
}

impl WeatherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Pending => "pending",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "ok" => Self::Ok,
            "pending" => Self::Pending,
            _ => Self::Unavailable,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub user_id: UserId,
    pub date: Date,
    pub distance: f64,
    pub time: f64,
    pub lat: f64,
    pub lon: f64,
    pub notes: String,
    pub weather_status: WeatherStatus,
    pub weather: Option<Conditions>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The ISO 8601 week of `date` and its Monday.
pub fn iso_week(date: Date) -> (i32, u8, Date) {
    let (year, week, _) = date.to_iso_week_date();
    let monday = date - time::Duration::days(i64::from(date.weekday().number_days_from_monday()));
    debug_assert_eq!(monday.weekday(), Weekday::Monday);
    (year, week, monday)
}

pub fn date_text(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

pub fn parse_date(field: &str, text: &str) -> Result<Date, Invalid> {
    let date = Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|_| Invalid::new(field, "must be a date as YYYY-MM-DD"))?;
    if !(1900..=2100).contains(&date.year()) {
        return Err(Invalid::new(field, "must be between the years 1900 and 2100"));
    }
    Ok(date)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Week {
    pub year: i32,
    pub week: u8,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WeatherView {
    pub status: WeatherStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precipitation: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wind_speed_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub user_id: String,
    pub date: String,
    /// Metres.
    pub distance: f64,
    /// Seconds.
    pub time: f64,
    pub location: Location,
    pub notes: String,
    /// Metres per second.
    pub speed: f64,
    pub week: Week,
    pub weather: WeatherView,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Run> for RunView {
    fn from(run: Run) -> Self {
        let (year, week, _) = iso_week(run.date);
        let w = run.weather;
        Self {
            id: run.id,
            user_id: run.user_id.into_string(),
            date: date_text(run.date),
            distance: run.distance,
            time: run.time,
            location: Location { lat: run.lat, lon: run.lon },
            notes: run.notes,
            speed: run.distance / run.time,
            week: Week { year, week },
            weather: WeatherView {
                status: run.weather_status,
                temperature_max: w.as_ref().and_then(|w| w.temperature_max),
                temperature_min: w.as_ref().and_then(|w| w.temperature_min),
                precipitation: w.as_ref().and_then(|w| w.precipitation),
                wind_speed_max: w.as_ref().and_then(|w| w.wind_speed_max),
                code: w.as_ref().and_then(|w| w.code),
                summary: w.map(|w| w.summary),
            },
            created_at: rfc3339(run.created_at),
            updated_at: rfc3339(run.updated_at),
        }
    }
}

/// `{lat, lon}` or `"lat lon"` (seed 002's form).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LocationInput {
    Object {
        #[schema(minimum = -90, maximum = 90)]
        lat: f64,
        #[schema(minimum = -180, maximum = 180)]
        lon: f64,
    },
    /// Latitude and longitude in degrees, separated by spaces or a comma.
    Text(String),
}

impl LocationInput {
    pub fn parse(&self) -> Result<(f64, f64), Invalid> {
        let (lat, lon) = match self {
            Self::Object { lat, lon } => (*lat, *lon),
            Self::Text(text) => {
                let mut parts = text.split(|c: char| c.is_whitespace() || c == ',').filter(|p| !p.is_empty());
                let parsed = (parts.next(), parts.next(), parts.next());
                let (Some(lat), Some(lon), None) = parsed else {
                    return Err(Invalid::new("location", "must be {\"lat\", \"lon\"} or \"lat lon\""));
                };
                let number =
                    |p: &str| p.parse::<f64>().map_err(|_| Invalid::new("location", "must hold two numbers"));
                (number(lat)?, number(lon)?)
            }
        };
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(Invalid::new("location", "latitude must be within ±90 and longitude within ±180"));
        }
        Ok((lat, lon))
    }
}

/// A positive, finite amount (distance, time) of at most `max`.
pub fn positive(field: &str, value: f64, max: f64) -> Result<f64, Invalid> {
    if value.is_finite() && value > 0.0 && value <= max {
        Ok(value)
    } else {
        Err(Invalid::new(field, format!("must be a number greater than 0 and at most {max}")))
    }
}

pub const MAX_DISTANCE: f64 = 1_000_000.0;
pub const MAX_TIME: f64 = 30.0 * 24.0 * 3600.0;
/// Faster than any runner by far; anything above is a typo in distance or time.
pub const MAX_SPEED: f64 = 100.0;

/// Distance and time that make a believable speed.
pub fn check_speed(distance: f64, time: f64) -> Result<(), Invalid> {
    let speed = distance / time;
    if speed.is_finite() && speed <= MAX_SPEED {
        Ok(())
    } else {
        Err(Invalid::new(
            "time",
            format!("makes a speed above {MAX_SPEED} m/s; check distance (metres) and time (seconds)"),
        ))
    }
}

pub fn parse_notes(text: &str) -> Result<String, Invalid> {
    if text.chars().count() > 2000 || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::new("notes", "must be at most 2000 characters, without control characters"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn iso_weeks_across_year_ends() {
        assert_eq!(iso_week(date!(2017 - 01 - 01)), (2016, 52, date!(2016 - 12 - 26)));
        assert_eq!(iso_week(date!(2015 - 01 - 01)), (2015, 1, date!(2014 - 12 - 29)));
        assert_eq!(iso_week(date!(2020 - 12 - 31)), (2020, 53, date!(2020 - 12 - 28)));
        assert_eq!(iso_week(date!(2019 - 12 - 30)), (2020, 1, date!(2019 - 12 - 30)));
    }

    #[test]
    fn locations_in_both_forms() {
        assert_eq!(LocationInput::Text("32.0853 34.7818".into()).parse().unwrap(), (32.0853, 34.7818));
        assert_eq!(LocationInput::Object { lat: -1.0, lon: 2.0 }.parse().unwrap(), (-1.0, 2.0));
        assert!(LocationInput::Text("91 0".into()).parse().is_err());
        assert!(LocationInput::Text("1".into()).parse().is_err());
        assert!(LocationInput::Text("a b".into()).parse().is_err());
    }
}
