//! Weather for a run: the provider trait and the Open-Meteo client (archive API for
//! past dates, forecast API for recent and future ones).

use std::time::Duration;

use serde::Deserialize;
use time::Date;

/// A day's conditions at a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    pub temperature_max: Option<f64>,
    pub temperature_min: Option<f64>,
    pub precipitation: Option<f64>,
    pub wind_speed_max: Option<f64>,
    pub code: Option<i64>,
    pub summary: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WeatherError {
    /// Worth another try later (timeouts, 5xx, 429, unreadable answers).
    #[error("weather provider unavailable: {0}")]
    Transient(String),
    /// The provider asks us to slow down (HTTP 429): not the run's fault, so it does
    /// not use up one of the run's attempts.
    #[error("weather provider rate-limited us; retry in {0} s")]
    RateLimited(i64),
    /// Will not get better (e.g. a date the provider has no data for).
    #[error("weather provider refused: {0}")]
    Permanent(String),
}

pub struct OpenMeteo {
    http: reqwest::Client,
    archive_url: String,
    forecast_url: String,
}

/// The archive lags a few days behind; newer dates come from the forecast API.
const ARCHIVE_LAG_DAYS: i64 = 5;

/// Which of the provider's APIs has `date`'s weather: the archive for past dates, the
/// forecast for recent and future ones. One request asks one of them.
pub fn archived(date: Date, today: Date) -> bool {
    (today - date).whole_days() > ARCHIVE_LAG_DAYS
}

#[derive(Deserialize)]
struct Response {
    daily: Daily,
}

#[derive(Deserialize)]
struct Daily {
    time: Vec<String>,
    temperature_2m_max: Option<Vec<Option<f64>>>,
    temperature_2m_min: Option<Vec<Option<f64>>>,
    precipitation_sum: Option<Vec<Option<f64>>>,
    wind_speed_10m_max: Option<Vec<Option<f64>>>,
    weather_code: Option<Vec<Option<f64>>>,
}

impl Daily {
    /// The conditions of the day at `index`; `None` while the provider lists the day
    /// without its values yet.
    fn day(&self, index: usize) -> Option<Conditions> {
        let at = |values: &Option<Vec<Option<f64>>>| {
            values.as_ref().and_then(|v| v.get(index).copied().flatten()).filter(|f| f.is_finite())
        };
        let code = at(&self.weather_code).map(|c| c as i64);
        let (max, min, rain) =
            (at(&self.temperature_2m_max), at(&self.temperature_2m_min), at(&self.precipitation_sum));
        if code.is_none() && max.is_none() && min.is_none() && rain.is_none() {
            return None;
        }
        Some(Conditions {
            temperature_max: max,
            temperature_min: min,
            precipitation: rain,
            wind_speed_max: at(&self.wind_speed_10m_max),
            code,
            summary: code.map_or("unknown", summary).to_owned(),
        })
    }
}

impl OpenMeteo {
    pub fn new(archive_url: String, forecast_url: String, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http, archive_url, forecast_url })
    }

    /// One day's conditions at a place.
    pub async fn daily(
        &self,
        date: Date,
        lat: f64,
        lon: f64,
        today: Date,
    ) -> Result<Conditions, WeatherError> {
        let days = self.days(lat, lon, date, date, today).await?;
        days.into_iter()
            .find_map(|(day, conditions)| (day == date).then_some(conditions).flatten())
            .ok_or_else(|| WeatherError::Transient(format!("no values yet for {date}")))
    }

    /// Every day's conditions from `first` to `last` at a place, in one request (to
    /// the archive when `first` is archived, else to the forecast): each listed day,
    /// with `None` for a day the provider lists without values yet.
    pub async fn days(
        &self,
        lat: f64,
        lon: f64,
        first: Date,
        last: Date,
        today: Date,
    ) -> Result<Vec<(Date, Option<Conditions>)>, WeatherError> {
        let url = if archived(first, today) { &self.archive_url } else { &self.forecast_url };
        let response = self
            .http
            .get(url)
            .query(&[
                ("latitude", lat.to_string()),
                ("longitude", lon.to_string()),
                ("start_date", first.to_string()),
                ("end_date", last.to_string()),
                (
                    "daily",
                    "temperature_2m_max,temperature_2m_min,precipitation_sum,wind_speed_10m_max,weather_code"
                        .into(),
                ),
                ("timezone", "UTC".into()),
            ])
            .send()
            .await
            .map_err(|e| WeatherError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(60);
            return Err(WeatherError::RateLimited(retry_after.clamp(1, 3600)));
        }
        if status.is_server_error() {
            return Err(WeatherError::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(WeatherError::Permanent(format!("HTTP {status}")));
        }
        let body: Response =
            response.json().await.map_err(|e| WeatherError::Transient(e.without_url().to_string()))?;
        let daily = body.daily;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Ok(daily
            .time
            .iter()
            .enumerate()
            .filter_map(|(i, day)| Some((Date::parse(day, format).ok()?, daily.day(i))))
            .filter(|(day, _)| (first..=last).contains(day))
            .collect())
    }
}

/// A few words for a WMO weather interpretation code (as Open-Meteo reports them).
pub fn summary(code: i64) -> &'static str {
    match code {
        0 => "clear sky",
        1 => "mainly clear",
        2 => "partly cloudy",
        3 => "overcast",
        45 | 48 => "fog",
        51 | 53 | 55 => "drizzle",
        56 | 57 => "freezing drizzle",
        61 | 63 | 65 => "rain",
        66 | 67 => "freezing rain",
        71 | 73 | 75 | 77 => "snow",
        80..=82 => "rain showers",
        85 | 86 => "snow showers",
        95 => "thunderstorm",
        96 | 99 => "thunderstorm with hail",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn wmo_codes_read_as_words() {
        assert_eq!(summary(0), "clear sky");
        assert_eq!(summary(63), "rain");
        assert_eq!(summary(81), "rain showers");
        assert_eq!(summary(12345), "unknown");
    }
}
