//! `/` and `/dashboard`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::chart::{self, Kind, Point};
use super::errors::page_error;
use super::render;
use super::runs::RunRow;
use super::session::Viewer;
use super::session::{SignedIn, SignedInOnly, Visitor};
use crate::app::AppState;
use crate::http::error::ApiResult;
use crate::http::listing::Listing;

use crate::runs::report::{self, Totals};
use crate::runs::store as runs_store;
use axum::extract::State;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    registration_open: bool,
}

/// The front page; signed-in visitors go on to their dashboard.
pub async fn landing(
    state: axum::extract::State<crate::app::AppState>,
    Visitor(visitor): Visitor,
) -> Response {
    if visitor.is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    let page = Landing { viewer: None, csrf: "", registration_open: state.config.registration_open };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    totals: Totals,
    distance_chart: String,
    speed_chart: String,
    recent: Vec<RunRow>,
}

impl Dashboard<'_> {
    fn km(&self, metres: &f64) -> String {
        format!("{:.1}", metres / 1000.0)
    }

    fn hours(&self, seconds: &f64) -> String {
        format!("{:.1}", seconds / 3600.0)
    }
}

/// Weeks shown in the charts.
const WEEKS: u64 = 12;

/// The signed-in home page: totals, weekly charts, recent runs.
pub async fn dashboard(State(state): State<AppState>, SignedInOnly(visitor): SignedInOnly) -> Response {
    match gather(&state, &visitor).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

async fn gather<'a>(state: &AppState, visitor: &'a SignedIn) -> ApiResult<Dashboard<'a>> {
    let owner = &visitor.principal.user_id;
    let weeks_listing = Listing { page: 0, count: WEEKS, total: false, filter: None, order: Vec::new() };
    let mut weeks = report::weekly(&state.db, Some(owner), &weeks_listing, false).await?.items;
    weeks.reverse();
    let points = |value: fn(&report::WeekReport) -> f64| -> Vec<Point> {
        weeks.iter().map(|w| Point { label: w.week_start.clone(), value: value(w) }).collect()
    };
    let distance_chart =
        chart::svg("distance", "Distance per week", "km", Kind::Bars, &points(|w| w.total_distance / 1000.0));
    let speed_chart =
        chart::svg("speed", "Average speed per week", "km/h", Kind::Line, &points(|w| w.average_speed * 3.6));
    let recent_listing =
        Listing { page: 0, count: 5, total: false, filter: None, order: runs_store::DEFAULT_ORDER.to_vec() };
    let (runs, _) = runs_store::list(&state.db, Some(owner), None, &recent_listing).await?;
    let recent = runs.into_iter().map(RunRow::from).collect();
    let totals = report::totals(&state.db, owner).await?;
    Ok(Dashboard {
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        totals,
        distance_chart,
        speed_chart,
        recent,
    })
}
