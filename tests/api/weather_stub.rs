//! A stand-in for Open-Meteo on a loopback port: it answers the archive and forecast
//! endpoints with Open-Meteo's JSON, or fails the way a real provider can (4xx, 5xx,
//! a hang past the client's timeout, garbage).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    ClientError,
    ServerError,
    Hang,
    Garbage,
    RateLimited,
}

struct Shared {
    mode: Mutex<Mode>,
    calls: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

pub struct WeatherStub {
    pub base: String,
    shared: Arc<Shared>,
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    shared.paths.lock().unwrap().push(uri.path().to_owned());
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::ClientError => {
            (StatusCode::BAD_REQUEST, axum::Json(json!({"error": true, "reason": "out of range"})))
                .into_response()
        }
        Mode::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")]).into_response(),
        Mode::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        Mode::Garbage => "{\"daily\": [".into_response(),
        Mode::Ok => {
            // Every day from start_date to end_date, as Open-Meteo answers a range.
            let day = |name: &str| {
                let text = query.get(name).map_or("", String::as_str);
                time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            };
            let (Ok(first), Ok(last)) = (day("start_date"), day("end_date")) else {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": true, "reason": "dates"})))
                    .into_response();
            };
            let days: Vec<String> = std::iter::successors(Some(first), |d| d.next_day())
                .take_while(|d| *d <= last)
                .map(|d| d.to_string())
                .collect();
            let each = |value: f64| vec![value; days.len()];
            axum::Json(json!({
                "latitude": 32.08, "longitude": 34.78, "timezone": "UTC",
                "daily_units": {"temperature_2m_max": "°C"},
                "daily": {
                    "time": days,
                    "temperature_2m_max": each(21.5),
                    "temperature_2m_min": each(12.25),
                    "precipitation_sum": each(0.4),
                    "wind_speed_10m_max": each(18.0),
                    "weather_code": each(61.0)
                }
            }))
            .into_response()
        }
    }
}

impl WeatherStub {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Ok),
            calls: AtomicUsize::new(0),
            paths: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/v1/archive", axum::routing::get(answer))
            .route("/v1/forecast", axum::routing::get(answer))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, shared }
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    pub fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().unwrap().clone()
    }

    /// The server arguments that point at this stand-in.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--weather-archive-url".into(),
            format!("{}/v1/archive", self.base),
            "--weather-forecast-url".into(),
            format!("{}/v1/forecast", self.base),
            "--weather-timeout-ms".into(),
            "300".into(),
        ]
    }

    pub fn options(&self) -> crate::helpers::Options {
        let mut options = crate::helpers::Options::default();
        options.args.extend(self.args());
        options
    }
}
