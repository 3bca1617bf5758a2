//! `/api/v1/runs…`: runs, the weekly report, CSV import.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::model::{
    LocationInput, MAX_DISTANCE, MAX_TIME, Run, RunView, check_speed, parse_date, parse_notes, positive,
};
use super::report::{self, WeekReport};
use super::{edit, import, store};
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::auth::principal::Principal;
use crate::domain::Invalid;
use crate::domain::ids::{RunId, UserId};
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::listing::ListQuery;
use crate::http::paging::Page;

/// Largest CSV import accepted.
pub const IMPORT_LIMIT: usize = 8 * 1024 * 1024;

/// Whose runs the caller sees: their own, or everyone's with `runs:admin`.
/// The run a keyset cursor names, if it is a run the caller can see.
async fn find_cursor(state: &AppState, cursor: &str, owner: Option<&UserId>) -> ApiResult<Option<Run>> {
    match RunId::parse(cursor) {
        Some(id) => Ok(store::find(&state.db, &id, owner).await?),
        None => Ok(None),
    }
}

fn scope(principal: &Principal) -> Option<&UserId> {
    (!principal.can(Permission::RunsAdmin)).then_some(&principal.user_id)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// `YYYY-MM-DD`, years 1900 to 2100.
    #[schema(format = Date)]
    date: String,
    /// Metres, greater than 0, at most 1,000,000.
    #[schema(exclusive_minimum = 0, maximum = 1000000)]
    distance: f64,
    /// Seconds, greater than 0, at most 30 days; distance / time is at most 100 m/s.
    #[schema(exclusive_minimum = 0, maximum = 2592000)]
    time: f64,
    /// `{lat, lon}` or `"lat lon"`.
    location: LocationInput,
    notes: Option<String>,
}

/// Log a run; its weather is looked up at once, or later if the provider is slow.
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = NewRun,
    responses((status = 201, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn create_run(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewRun>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    principal.require(Permission::RunsWrite)?;
    let fields = edit::Fields {
        date: &body.date,
        distance: Ok(body.distance),
        time: Ok(body.time),
        location: &body.location,
        notes: body.notes.as_deref().unwrap_or_default(),
    };
    let run = edit::create(&state, &principal.user_id, edit::check(fields)?).await?;
    Ok((StatusCode::CREATED, Json(RunView::from(run))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunCursor {
    /// Keyset paging in the default order: the id of the last run seen.
    after: Option<String>,
}

/// Your runs (everyone's for `runs:admin`), filtered, sorted and paged; newest date first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(ListQuery, RunCursor),
    responses((status = 200, body = Page<RunView>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    Query(list): Query<ListQuery>,
    Query(cursor): Query<RunCursor>,
) -> ApiResult<Json<Page<RunView>>> {
    principal.require(Permission::RunsRead)?;
    let owner = scope(&principal);
    let schema = if owner.is_some() { &store::OWN } else { &store::ALL };
    let after = crate::http::listing::cursor(cursor.after.as_deref());
    if after.is_some() && list.sorts() {
        return Err(ApiError::bad_request("invalid_query", "`after` pages the default order; drop `sort`"));
    }
    let listing = list.check(schema, store::DEFAULT_ORDER)?;
    let after = match after {
        Some(id) => Some(find_cursor(&state, id, owner).await?.ok_or_else(|| {
            ApiError::bad_request("invalid_query", "`after` must be the id of one of the runs you can see")
        })?),
        None => None,
    };
    let (runs, total) = store::list(&state.db, owner, after.as_ref(), &listing).await?;
    Ok(Json(listing.page_of(runs.into_iter().map(RunView::from).collect(), total)))
}

/// One run (someone else's is 404).
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<RunId>,
) -> ApiResult<Json<RunView>> {
    principal.require(Permission::RunsRead)?;
    let run = store::find(&state.db, &id, scope(&principal)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(RunView::from(run)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPatch {
    #[schema(format = Date)]
    date: Option<String>,
    #[schema(exclusive_minimum = 0, maximum = 1000000)]
    distance: Option<f64>,
    #[schema(exclusive_minimum = 0, maximum = 2592000)]
    time: Option<f64>,
    location: Option<LocationInput>,
    notes: Option<String>,
}

/// Edit a run; speed and week follow, and the weather is looked up again when the
/// date or place changes.
#[utoipa::path(patch, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path)), request_body = RunPatch,
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn patch_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<RunId>,
    Json(patch): Json<RunPatch>,
) -> ApiResult<Json<RunView>> {
    principal.require(Permission::RunsWrite)?;
    let mut run = store::find(&state.db, &id, scope(&principal)).await?.ok_or(ApiError::NotFound)?;
    let mut errors: Vec<Invalid> = Vec::new();
    let before = (run.date, run.lat, run.lon);
    if let Some(date) = patch.date.as_deref() {
        parse_date("date", date).map(|d| run.date = d).unwrap_or_else(|e| errors.push(e));
    }
    if let Some(distance) = patch.distance {
        positive("distance", distance, MAX_DISTANCE)
            .map(|d| run.distance = d)
            .unwrap_or_else(|e| errors.push(e));
    }
    if let Some(time) = patch.time {
        positive("time", time, MAX_TIME).map(|t| run.time = t).unwrap_or_else(|e| errors.push(e));
    }
    if let Some(location) = &patch.location {
        location.parse().map(|(lat, lon)| (run.lat, run.lon) = (lat, lon)).unwrap_or_else(|e| errors.push(e));
    }
    if let Some(notes) = patch.notes.as_deref() {
        parse_notes(notes).map(|n| run.notes = n).unwrap_or_else(|e| errors.push(e));
    }
    if errors.is_empty() {
        check_speed(run.distance, run.time).unwrap_or_else(|e| errors.push(e));
    }
    if !errors.is_empty() {
        return Err(ApiError::from(errors));
    }
    Ok(Json(RunView::from(edit::save(&state, run, before).await?)))
}

/// Delete a run.
#[utoipa::path(delete, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn delete_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<RunId>,
) -> ApiResult<StatusCode> {
    principal.require(Permission::RunsWrite)?;
    if store::delete(&state.db, &id, scope(&principal)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Distance and speed per ISO week over your runs (the same filter as the run list),
/// newest week first; `sort=week_start` for oldest first.
#[utoipa::path(get, path = "/api/v1/runs/reports/weekly", tag = "runs", params(ListQuery),
    responses((status = 200, body = Page<WeekReport>), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn weekly_report(
    State(state): State<AppState>,
    principal: Principal,
    Query(mut list): Query<ListQuery>,
) -> ApiResult<Json<Page<WeekReport>>> {
    principal.require(Permission::RunsRead)?;
    let owner = scope(&principal);
    let schema = if owner.is_some() { &store::OWN } else { &store::ALL };
    let oldest_first = match list.sort.take().as_deref().map(str::trim) {
        None | Some("" | "-week_start") => false,
        Some("week_start") => true,
        Some(other) => {
            return Err(ApiError::InvalidFilter {
                code: "invalid_sort",
                position: 0,
                detail: format!("the weekly report sorts by `week_start` or `-week_start`, not `{other}`"),
            });
        }
    };
    let listing = list.check(schema, &[])?;
    Ok(Json(report::weekly(&state.db, owner, &listing, oldest_first).await?))
}

/// Import runs from CSV (`date,location,distance,time`, seed 002's format): all rows
/// or none; a bad row is a 422 naming its line.
#[utoipa::path(post, path = "/api/v1/runs/import", tag = "runs",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportResult), (status = 401, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn import_runs(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    principal.require(Permission::RunsWrite)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !matches!(mime.as_str(), "text/csv" | "text/plain" | "application/csv") {
        return Err(ApiError::UnsupportedMediaType("send the runs as text/csv".into()));
    }
    let text = String::from_utf8(Vec::from(body))
        .map_err(|_| ApiError::invalid("body", "the CSV must be UTF-8 text"))?;
    let imported = import::import(&state, &principal.user_id, text).await?;
    Ok((StatusCode::CREATED, Json(ImportResult { imported })))
}

#[derive(serde::Serialize, ToSchema)]
pub struct ImportResult {
    /// Runs stored.
    imported: usize,
}
