//! `/runs/{id}/edit` and `/runs/{id}/delete`: one of the signed-in user's own runs.
//! Anyone else's run does not exist here (404), whatever the visitor's roles.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{CsrfForm, checked_form};
use super::errors::page_error;
use super::render;
use super::runs::{RunForm, error_for};
use super::session::Viewer;
use super::session::{SignedIn, SignedInOnly};
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::domain::ids::RunId;
use crate::http::error::{ApiError, ApiResult, FieldError};
use crate::runs::model::Run;
use crate::runs::{edit, store};

#[derive(Template)]
#[template(path = "run_edit.html")]
struct EditPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    id: &'a str,
    form: RunForm,
    errors: Vec<FieldError>,
}

impl EditPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

/// The visitor's own run `id`, or 404.
async fn own_run(state: &AppState, visitor: &SignedIn, id: &str) -> ApiResult<Run> {
    let id = RunId::parse(id).ok_or(ApiError::NotFound)?;
    store::find(&state.db, &id, Some(&visitor.principal.user_id)).await?.ok_or(ApiError::NotFound)
}

pub async fn edit_form(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
) -> Response {
    let found = async {
        visitor.principal.require(Permission::RunsWrite)?;
        own_run(&state, &visitor, &id).await
    };
    match found.await {
        Ok(run) => {
            let form = RunForm::of(&run);
            let page = EditPage {
                viewer: Some(&visitor.viewer),
                csrf: &visitor.csrf,
                id: &id,
                form,
                errors: vec![],
            };
            render(StatusCode::OK, &page)
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

/// Saves the whole form over the run; a wrong field is shown beside it.
pub async fn save(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let found = async {
        let form: RunForm = checked_form(&state, &visitor, &headers, &body)?;
        visitor.principal.require(Permission::RunsWrite)?;
        Ok::<_, ApiError>((form, own_run(&state, &visitor, &id).await?))
    };
    let (form, mut run) = match found.await {
        Ok(found) => found,
        Err(err) => return page_error(&err, Some(&visitor)),
    };
    match form.check() {
        Ok(mut checked) => {
            // What the form showed and came back unchanged keeps its stored value, so
            // saving rounds nothing.
            let shown = RunForm::of(&run);
            if form.distance.trim() == shown.distance {
                checked.distance = run.distance;
            }
            if form.time.trim() == shown.time {
                checked.time = run.time;
            }
            let before = (run.date, run.lat, run.lon);
            edit::replace(&mut run, checked);
            match edit::save(&state, run, before).await {
                Ok(_) => Redirect::to("/runs?saved=updated").into_response(),
                Err(err) => page_error(&err, Some(&visitor)),
            }
        }
        Err(errors) => {
            let page = EditPage { viewer: Some(&visitor.viewer), csrf: &visitor.csrf, id: &id, form, errors };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let deleted = async {
        let _: CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        visitor.principal.require(Permission::RunsWrite)?;
        let id = RunId::parse(&id).ok_or(ApiError::NotFound)?;
        if store::delete(&state.db, &id, Some(&visitor.principal.user_id)).await? {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    };
    match deleted.await {
        Ok(()) => Redirect::to("/runs?saved=deleted").into_response(),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}
