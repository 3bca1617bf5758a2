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

pub trait WeatherProvider: Send + Sync + 'static {
    fn daily(
        &self,
        date: Date,
        lat: f64,
        lon: f64,
        today: Date,
    ) -> impl Future<Output = Result<Conditions, WeatherError>> + Send;
}

pub struct OpenMeteo {
    http: reqwest::Client,
    archive_url: String,
    forecast_url: String,
}

/// The archive lags a few days behind; newer dates come from the forecast API.
const ARCHIVE_LAG_DAYS: i64 = 5;

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

fn first(values: &Option<Vec<Option<f64>>>) -> Option<f64> {
    values.as_ref().and_then(|v| v.first().copied().flatten()).filter(|f| f.is_finite())
}

impl OpenMeteo {
    pub fn new(archive_url: String, forecast_url: String, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http, archive_url, forecast_url })
    }
}

impl WeatherProvider for OpenMeteo {
    async fn daily(&self, date: Date, lat: f64, lon: f64, today: Date) -> Result<Conditions, WeatherError> {
        let archived = (today - date).whole_days() > ARCHIVE_LAG_DAYS;
        let url = if archived { &self.archive_url } else { &self.forecast_url };
        let day = date.to_string();
        let response = self
            .http
            .get(url)
            .query(&[
                ("latitude", lat.to_string()),
                ("longitude", lon.to_string()),
                ("start_date", day.clone()),
                ("end_date", day.clone()),
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
        if daily.time.first() != Some(&day) {
            return Err(WeatherError::Transient(format!("no data for {day}")));
        }
        let code = first(&daily.weather_code).map(|c| c as i64);
        let values = [&daily.temperature_2m_max, &daily.temperature_2m_min, &daily.precipitation_sum];
        if code.is_none() && values.iter().all(|v| first(v).is_none()) {
            // The archive lists a day before it has its data: ask again later.
            return Err(WeatherError::Transient(format!("no values yet for {day}")));
        }
        Ok(Conditions {
            temperature_max: first(&daily.temperature_2m_max),
            temperature_min: first(&daily.temperature_2m_min),
            precipitation: first(&daily.precipitation_sum),
            wind_speed_max: first(&daily.wind_speed_10m_max),
            code,
            summary: code.map_or("unknown", summary).to_owned(),
        })
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
