//! CSV import of runs (seed 002's dataset format): `date,location,distance,time`
//! per line, location as `"lat lon"`, an optional header line, fields optionally in
//! double quotes, any line ending, an optional byte-order mark. All rows or none.

use super::model::{
    LocationInput, MAX_DISTANCE, MAX_TIME, Run, WeatherStatus, check_speed, parse_date, positive,
};
use super::{store, weather_jobs};
use crate::app::AppState;
use crate::domain::Invalid;
use crate::domain::ids::UserId;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_ROWS: usize = 100_000;

/// Parses every line; the first bad one is a 422 naming its line number.
pub fn parse(text: &str, user_id: &UserId, now: i64) -> ApiResult<Vec<Run>> {
    let mut runs = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (number, line) in numbered_lines(text).filter(|(_, l)| !l.trim().is_empty()) {
        let line = line.trim();
        if runs.is_empty() && line.trim_start_matches('"').to_ascii_lowercase().starts_with("date") {
            continue;
        }
        if runs.len() == MAX_ROWS {
            return Err(ApiError::invalid("body", format!("at most {MAX_ROWS} runs per import")));
        }
        let bad =
            |e: Invalid| ApiError::invalid(format!("line {number}"), format!("{}: {}", e.field, e.message));
        let fields: Vec<&str> = line.split(',').map(|f| f.trim().trim_matches('"').trim()).collect();
        let [date, location, distance, time] = fields[..] else {
            return Err(ApiError::invalid(
                format!("line {number}"),
                "expected 4 fields: date,location,distance,time",
            ));
        };
        let number_of = |field: &str, text: &str, max: f64| {
            let value = text.parse::<f64>().map_err(|_| Invalid::new(field, "must be a number"))?;
            positive(field, value, max)
        };
        let date = parse_date("date", date).map_err(bad)?;
        let (lat, lon) = LocationInput::Text(location.to_owned()).parse().map_err(bad)?;
        let distance = number_of("distance", distance, MAX_DISTANCE).map_err(bad)?;
        let time = number_of("time", time, MAX_TIME).map_err(bad)?;
        check_speed(distance, time).map_err(bad)?;
        runs.push(Run {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.clone(),
            date,
            distance,
            time,
            lat,
            lon,
            notes: String::new(),
            weather_status: WeatherStatus::Pending,
            weather: None,
            created_at: now,
            updated_at: now,
        });
    }
    if runs.is_empty() {
        return Err(ApiError::invalid("body", "no runs in the file"));
    }
    Ok(runs)
}

/// The lines of `text` with their 1-based numbers: `\n`, `\r\n` and a lone `\r`
/// (old Mac files) each end one.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .flat_map(|piece| piece.strip_suffix('\r').unwrap_or(piece).split('\r'))
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}

/// Imports `text` for `user_id`; returns the number of runs stored. Weather is fetched
/// in the background, or (with `HALLPASS_WEATHER_REQUIRED`) for every row first.
pub async fn import(state: &AppState, user_id: &UserId, text: String) -> ApiResult<usize> {
    let now = state.clock.now();
    // Up to 100,000 rows of parsing: on a blocking thread, not an async worker.
    let owner = user_id.to_owned();
    let mut runs = tokio::task::spawn_blocking(move || parse(&text, &owner, now))
        .await
        .map_err(|err| ApiError::Internal(anyhow::Error::new(err).context("parsing an import")))??;
    if state.config.weather_required {
        for run in &mut runs {
            weather_jobs::fetch_now(state, run).await?;
        }
    }
    // In key order, the clustered table and its indexes grow at their ends rather
    // than splitting pages all over.
    runs.sort_by_key(|run| run.date);
    store::insert_all(&state.db, &runs, now).await?;
    Ok(runs.len())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn line_numbers_follow_every_kind_of_line_ending() {
        let numbered: Vec<(usize, &str)> = super::numbered_lines("a\r\nb\rc\n\nd\r\r\ne").collect();
        assert_eq!(numbered, [(1, "a"), (2, "b"), (3, "c"), (4, ""), (5, "d"), (6, ""), (7, "e")]);
    }

    fn owner() -> crate::domain::ids::UserId {
        crate::domain::ids::UserId::generate()
    }

    #[test]
    fn rows_and_errors() {
        let runs = parse("date,location,distance,time\n2015-01-01,32.0853 34.7818,2000,405\n\n", &owner(), 0)
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].lat, runs[0].distance, runs[0].time), (32.0853, 2000.0, 405.0));
        let err = parse("2015-01-01,32 34,2000,405\n2015-02-30,32 34,2000,405", &owner(), 0).unwrap_err();
        assert!(
            matches!(err, crate::http::error::ApiError::Validation(ref e) if e[0].field == "line 2" && e[0].message.contains("date")),
            "{err:?}"
        );
        let err = parse("2015-01-01,32 34,-5,405", &owner(), 0).unwrap_err();
        assert!(
            matches!(err, crate::http::error::ApiError::Validation(ref e) if e[0].field == "line 1" && e[0].message.contains("distance"))
        );
        assert!(parse("2015-01-01,32 34,2000", &owner(), 0).is_err());
        let excel = "\u{feff}\"date\",\"location\",\"distance\",\"time\"\r\n2015-01-01,\"32.0853 34.7818\",2000,405\r\n";
        assert_eq!(parse(excel, &owner(), 0).unwrap().len(), 1);
        let mac = "2015-01-01,32 34,2000,405\r2015-01-02,32 34,2000,405\r2015-01-03,32 34,2000,x";
        let err = parse(mac, &owner(), 0).unwrap_err();
        assert!(
            matches!(err, crate::http::error::ApiError::Validation(ref e) if e[0].field == "line 3"),
            "{err:?}"
        );
        let crlf = "2015-01-01,32 34,2000,405\r\n2015-01-02,32 34,2000,x\r\n";
        let err = parse(crlf, &owner(), 0).unwrap_err();
        assert!(
            matches!(err, crate::http::error::ApiError::Validation(ref e) if e[0].field == "line 2"),
            "{err:?}"
        );
        assert!(parse("2015-01-01,32 34,1000000,0.0001", &owner(), 0).is_err(), "impossible speed");
        assert!(parse("", &owner(), 0).is_err());
    }
}
