//! `/runs`: the signed-in user's runs — a table with the filter language, sorting and
//! paging; a form to log one; CSV import. Editing and deleting are in `run_edit`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{check_post, checked_form};
use super::errors::page_error;
use super::listing::{Column, Controls, ListParams, PageQuery, Pager};
use super::render;
use super::session::Viewer;
use super::session::{SignedIn, SignedInOnly};
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::domain::Invalid;
use crate::http::error::{ApiError, ApiResult, FieldError};
use crate::runs::model::{LocationInput, Run, date_text};
use crate::runs::{edit, import, store};

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    rows: Vec<RunRow>,
    controls: Controls,
    columns: Vec<Column>,
    pager: Pager,
    total: u64,
    /// May log, edit and import runs (`runs:write`).
    can_write: bool,
    more: More,
}

/// What a page shows besides the list: the add form as typed and its errors, an
/// import's outcome.
#[derive(Default)]
pub struct More {
    pub form: RunForm,
    pub errors: Vec<FieldError>,
    pub import_errors: Vec<FieldError>,
    pub notice: Option<String>,
    /// The add form is new: today's date and the latest run's place go in it.
    pub fresh: bool,
}

impl RunsPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.more.errors, field)
    }
}

pub fn error_for<'e>(errors: &'e [FieldError], field: &str) -> Option<&'e str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// A run as the table shows it.
pub struct RunRow {
    pub id: String,
    pub date: String,
    pub km: String,
    pub duration: String,
    pub pace: String,
    pub weather: String,
    pub notes: String,
    /// As the form takes it: "lat lon".
    pub location: String,
}

impl From<Run> for RunRow {
    fn from(run: Run) -> Self {
        let pace = (run.time / (run.distance / 1000.0)).round() as i64;
        Self {
            date: date_text(run.date),
            km: format!("{:.2}", run.distance / 1000.0),
            duration: clock(run.time),
            pace: format!("{}:{:02} /km", pace / 60, pace % 60),
            weather: run.weather.map_or_else(|| run.weather_status.as_str().to_owned(), |w| w.summary),
            location: format!("{} {}", run.lat, run.lon),
            notes: run.notes,
            id: run.id,
        }
    }
}

/// Seconds as `h:mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.round() as i64;
    format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// The run form as typed: kilometres, `h:mm:ss`, "lat lon".
#[derive(Deserialize, Default)]
pub struct RunForm {
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub distance: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub notes: String,
}

/// Most kilometres and hours a form takes (the API's limits, in people's units).
const MAX_KM: f64 = 1000.0;
const MAX_HOURS: u64 = 720;

fn kilometres(text: &str) -> Result<f64, Invalid> {
    let km = text.trim().replace(',', ".").parse::<f64>().ok().filter(|km| km.is_finite());
    match km {
        Some(km) if km > 0.0 && km <= MAX_KM => Ok(km * 1000.0),
        _ => Err(Invalid::new(
            "distance",
            format!("must be a number of kilometres, above 0 and at most {MAX_KM}"),
        )),
    }
}

/// `h:mm:ss`, `m:ss`, or whole minutes, as seconds.
fn duration(text: &str) -> Result<f64, Invalid> {
    let wrong = || Invalid::new("time", "must be a time as h:mm:ss, e.g. 0:42:30");
    let too_long = || Invalid::new("time", format!("must be more than zero and at most {MAX_HOURS} hours"));
    let parts: Vec<&str> = text.trim().split(':').collect();
    // Six digits are more than any time allowed, and keep the sums far from overflow.
    let number = |p: &str| {
        let p = p.trim();
        if p.is_empty() || p.len() > 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(wrong());
        }
        p.parse::<u64>().map_err(|_| wrong())
    };
    let seconds = match parts.as_slice() {
        [minutes] => number(minutes)? * 60,
        [m, s] if number(s)? < 60 => number(m)? * 60 + number(s)?,
        [h, m, s] if number(m)? < 60 && number(s)? < 60 => number(h)? * 3600 + number(m)? * 60 + number(s)?,
        _ => return Err(wrong()),
    };
    if seconds == 0 || seconds > MAX_HOURS * 3600 {
        return Err(too_long());
    }
    Ok(seconds as f64)
}

/// Kilometres for a form: to the metre, without trailing zeros.
pub fn km_text(metres: f64) -> String {
    let text = format!("{:.3}", metres / 1000.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl RunForm {
    /// The form checked as the API checks a run, in the form's units and words.
    pub fn check(&self) -> Result<edit::Checked, Vec<FieldError>> {
        let location = LocationInput::Text(self.location.clone());
        // Browsers send a text area's line breaks as CRLF.
        let notes = self.notes.replace("\r\n", "\n").replace('\r', "\n");
        let fields = edit::Fields {
            date: &self.date,
            distance: kilometres(&self.distance),
            time: duration(&self.time),
            location: &location,
            notes: &notes,
        };
        edit::check(fields).map_err(|err| match err {
            ApiError::Validation(errors) => errors.into_iter().map(for_people).collect(),
            other => vec![FieldError::new("date", other.to_string())],
        })
    }

    /// The form filled with `run`.
    pub fn of(run: &Run) -> Self {
        Self {
            date: date_text(run.date),
            distance: km_text(run.distance),
            time: clock(run.time),
            location: format!("{} {}", run.lat, run.lon),
            notes: run.notes.clone(),
        }
    }
}

/// The API's messages speak of metres and seconds; the form does not.
fn for_people(error: FieldError) -> FieldError {
    match error.field.as_str() {
        "time" if error.message.contains("speed") => {
            FieldError::new("time", "is too short for that distance (faster than 360 km/h)")
        }
        "location" if !error.message.contains('±') => {
            FieldError::new("location", "must be latitude and longitude, e.g. 52.37 4.89")
        }
        _ => error,
    }
}

#[derive(Deserialize, Default)]
pub struct Outcome {
    #[serde(default)]
    imported: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

pub async fn runs(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    PageQuery(params): PageQuery<ListParams>,
    PageQuery(outcome): PageQuery<Outcome>,
) -> Response {
    let notice = match (outcome.imported, outcome.saved.as_deref()) {
        (Some(n), _) => {
            n.parse::<u64>().ok().map(|n| format!("Imported {n} run{}.", if n == 1 { "" } else { "s" }))
        }
        (_, Some("added")) => Some("Run added.".to_owned()),
        (_, Some("updated")) => Some("Run updated.".to_owned()),
        (_, Some("deleted")) => Some("Run deleted.".to_owned()),
        _ => None,
    };
    show(&state, &visitor, params, StatusCode::OK, More { notice, fresh: true, ..More::default() }).await
}

async fn show(
    state: &AppState,
    visitor: &SignedIn,
    params: ListParams,
    status: StatusCode,
    more: More,
) -> Response {
    match gather(state, visitor, params, more).await {
        Ok(page) => render(page.controls.status(status), &page),
        Err(err) => page_error(&err, Some(visitor)),
    }
}

async fn gather<'a>(
    state: &AppState,
    visitor: &'a SignedIn,
    params: ListParams,
    mut more: More,
) -> ApiResult<RunsPage<'a>> {
    visitor.principal.require(Permission::RunsRead)?;
    let owner = &visitor.principal.user_id;
    let (listing, controls) = params.check(&store::OWN, store::DEFAULT_ORDER);
    let (runs, total) = store::list(&state.db, Some(owner), None, &listing).await?;
    let rows: Vec<RunRow> = runs.into_iter().map(RunRow::from).collect();
    if more.fresh {
        more.form.date = date_text(crate::runs::weather_jobs::today(state));
        more.form.location = rows.first().map(|r| r.location.clone()).unwrap_or_default();
    }
    let columns = controls.columns(
        "/runs",
        &[("Date", "date"), ("Distance (km)", "distance"), ("Time", "time"), ("Pace", "-speed")],
    );
    Ok(RunsPage {
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        pager: controls.pager("/runs", total),
        total: total.unwrap_or(0),
        can_write: visitor.principal.can(Permission::RunsWrite),
        columns,
        controls,
        rows,
        more,
    })
}

/// Logs a run from the form; a wrong field is shown beside it, nothing stored.
pub async fn add(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = checked_form::<RunForm>(&state, &visitor, &headers, &body)
        .and_then(|form| visitor.principal.require(Permission::RunsWrite).map(|()| form));
    let form = match checked {
        Ok(form) => form,
        Err(err) => return page_error(&err, Some(&visitor)),
    };
    match form.check() {
        Ok(run) => match edit::create(&state, &visitor.principal.user_id, run).await {
            Ok(_) => Redirect::to("/runs?saved=added").into_response(),
            Err(err) => page_error(&err, Some(&visitor)),
        },
        Err(errors) => {
            let more = More { form, errors, ..More::default() };
            show(&state, &visitor, ListParams::default(), StatusCode::UNPROCESSABLE_ENTITY, more).await
        }
    }
}

/// Imports a CSV file (`date,location,distance,time`): every row or none.
pub async fn import_csv(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let imported = async {
        let (token, csv) = read_upload(&headers, body).await?;
        check_post(&state, &visitor, &headers, &token)?;
        visitor.principal.require(Permission::RunsWrite)?;
        let csv =
            csv.filter(|f| !f.is_empty()).ok_or_else(|| ApiError::invalid("file", "choose a CSV file"))?;
        let text = String::from_utf8(csv).map_err(|_| ApiError::invalid("file", "must be UTF-8 text"))?;
        import::import(&state, &visitor.principal.user_id, text).await
    };
    match imported.await {
        Ok(n) => Redirect::to(&format!("/runs?imported={n}")).into_response(),
        Err(ApiError::Validation(import_errors)) => {
            let more = More { import_errors, fresh: true, ..More::default() };
            show(&state, &visitor, ListParams::default(), StatusCode::UNPROCESSABLE_ENTITY, more).await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

/// The `csrf_token` and the file of the import form (`multipart/form-data`, already
/// bounded by the route's body limit).
async fn read_upload(headers: &HeaderMap, body: Bytes) -> ApiResult<(String, Option<Vec<u8>>)> {
    let malformed = || ApiError::bad_request("malformed_form", "malformed form");
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let boundary = multer::parse_boundary(content_type.unwrap_or_default()).map_err(|_| malformed())?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let (mut token, mut file) = (String::new(), None);
    while let Some(field) = parts.next_field().await.map_err(|_| malformed())? {
        match field.name() {
            Some("csrf_token") => token = field.text().await.map_err(|_| malformed())?,
            Some("file") => file = Some(field.bytes().await.map_err(|_| malformed())?.to_vec()),
            _ => {}
        }
    }
    Ok((token, file))
}

#[cfg(test)]
mod tests {
    use super::{duration, km_text};

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(duration("0:42:30").unwrap(), 2550.0);
        assert_eq!(duration("42:30").unwrap(), 2550.0);
        assert_eq!(duration(" 45 ").unwrap(), 2700.0);
        assert_eq!(duration("720:00:00").unwrap(), 2_592_000.0);
        for wrong in [
            "",
            "0",
            "0:61:00",
            "1:2:3:4",
            "a:b",
            "-1:00",
            "720:00:01",
            "1:+5",
            "307445734561825861",
            "5124095576030432:00:00",
            "99999999999999999999:00",
        ] {
            assert!(duration(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn kilometres_to_the_metre() {
        assert_eq!(km_text(5123.0), "5.123");
        assert_eq!(km_text(10_500.0), "10.5");
        assert_eq!(km_text(12_000.0), "12");
        assert_eq!(km_text(1.0), "0.001");
    }
}
