//! `/admin`: the users within the visitor's reach (administrators: everyone;
//! managers: users whose roles are all plain) with search and paging, and a form to
//! create one. One user's page is `admin_user`; the audit log is `audit`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{Fields, checked_form, field_errors};
use super::errors::page_error;
use super::listing::{Column, Controls, ListParams, PageQuery, Pager};
use super::render;
use super::runs::error_for;
use super::session::{SignedIn, SignedInOnly, Viewer};
use crate::accounts::create::AccountInput;
use crate::accounts::store as accounts_store;
use crate::app::AppState;
use crate::auth::permissions::{PLAIN_ROLES, Permission};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiResult, FieldError};
use crate::users::manage;

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    search: String,
    search_error: Option<String>,
    rows: Vec<UserRow>,
    columns: Vec<Column>,
    pager: Pager,
    total: u64,
    /// The roles the visitor may give, and which the create form has ticked.
    roles: Vec<(String, bool)>,
    can_create: bool,
    sees_audit: bool,
    form: NewUserForm,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

impl AdminPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

struct UserRow {
    id: String,
    username: String,
    name: String,
    email: String,
    roles: String,
    created: String,
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    /// Words to look for in usernames, names and e-mail addresses.
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    created: Option<String>,
}

/// `q` as a filter: each of username, name and e-mail contains it.
fn search_filter(q: &str) -> String {
    let q = q.trim();
    if q.is_empty() {
        return String::new();
    }
    let mut pattern = String::from("%");
    for c in q.chars() {
        match c {
            '%' | '_' | '\\' => pattern.extend(['\\', c]),
            '\'' => pattern.push_str("''"),
            _ => pattern.push(c),
        }
    }
    pattern.push('%');
    format!("username like '{pattern}' or name like '{pattern}' or email like '{pattern}'")
}

pub async fn users(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    PageQuery(query): PageQuery<AdminQuery>,
) -> Response {
    // The link names the user by id, so only a real user's name is ever shown.
    let created = match query.created.as_deref().and_then(crate::domain::ids::UserId::parse) {
        Some(id) => manage::reachable(&state, &visitor.principal, &id, false).await.ok(),
        None => None,
    };
    let notice = created.map(|user| format!("Created the user {}.", user.username));
    show(&state, &visitor, query, StatusCode::OK, Shown { notice, ..Shown::default() }).await
}

#[derive(Default)]
struct Shown {
    form: NewUserForm,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

async fn show(
    state: &AppState,
    visitor: &SignedIn,
    query: AdminQuery,
    status: StatusCode,
    more: Shown,
) -> Response {
    match gather(state, visitor, query, more).await {
        Ok(page) => {
            let status = if page.search_error.is_some() { StatusCode::BAD_REQUEST } else { status };
            render(status, &page)
        }
        Err(err) => page_error(&err, Some(visitor)),
    }
}

async fn gather<'a>(
    state: &AppState,
    visitor: &'a SignedIn,
    query: AdminQuery,
    more: Shown,
) -> ApiResult<AdminPage<'a>> {
    let principal = &visitor.principal;
    principal.require(Permission::UsersRead)?;
    let params = ListParams { filter: search_filter(&query.q), sort: query.sort, page: query.page };
    let (listing, controls) = params.check(&accounts_store::SCHEMA, accounts_store::DEFAULT_ORDER);
    let (users, total) = manage::list(state, principal, false, &listing).await?;
    let rows = users
        .into_iter()
        .map(|u| UserRow {
            id: u.id.into_string(),
            username: u.username,
            name: u.name,
            email: u.email.unwrap_or_default(),
            roles: u.roles.join(", "),
            created: super::when(u.created_at),
        })
        .collect();
    // The search box stands in for the filter: links carry `q`, not the filter.
    let search = query.q;
    let search_error = controls.error.as_ref().map(|e| e.message.clone());
    let controls = Controls { params: ListParams { filter: String::new(), ..controls.params }, ..controls };
    let path = if search.trim().is_empty() {
        "/admin".to_owned()
    } else {
        format!("/admin?{}", serde_urlencoded::to_string([("q", search.as_str())]).unwrap_or_default())
    };
    let columns =
        controls.columns(&path, &[("Username", "username"), ("Name", "name"), ("Created", "created_at")]);
    let pager = controls.pager(&path, total);
    let admin = principal.can(Permission::UsersAdmin);
    let ticked = |role: &str| {
        if more.form.roles.is_empty() { role == "user" } else { more.form.roles.iter().any(|r| r == role) }
    };
    let roles = state
        .roles
        .names()
        .filter(|r| admin || PLAIN_ROLES.contains(r))
        .map(|r| (r.to_owned(), ticked(r)))
        .collect();
    Ok(AdminPage {
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        search,
        search_error,
        rows,
        columns,
        pager,
        total: total.unwrap_or(0),
        roles,
        can_create: principal.can(Permission::UsersWrite),
        sees_audit: principal.can(Permission::AuditRead),
        form: more.form,
        errors: more.errors,
        notice: more.notice,
    })
}

/// The create form as typed (the password is never shown again).
#[derive(Default)]
pub struct NewUserForm {
    username: String,
    email: String,
    name: String,
    roles: Vec<String>,
}

pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let read = checked_form::<super::auth::CsrfForm>(&state, &visitor, &headers, &body)
        .and_then(|_| Fields::read(&body));
    let fields = match read {
        Ok(fields) => fields,
        Err(err) => return page_error(&err, Some(&visitor)),
    };
    let form = NewUserForm {
        username: fields.first("username"),
        email: fields.first("email"),
        name: fields.first("name"),
        roles: fields.all("roles"),
    };
    let password = fields.first("password");
    let input = AccountInput {
        username: &form.username,
        password: Some(&password),
        email: Some(&form.email),
        name: Some(&form.name),
    };
    let roles = if form.roles.is_empty() { vec!["user".to_owned()] } else { form.roles.clone() };
    let refused = match manage::create(&state, &visitor.principal, ip, &input, &roles).await {
        Ok(user) => {
            return Redirect::to(&format!("/admin?created={}", user.id)).into_response();
        }
        Err(err) => field_errors(err),
    };
    match refused {
        Ok((status, errors)) => {
            show(&state, &visitor, AdminQuery::default(), status, Shown { form, errors, notice: None }).await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn searches_are_literal() {
        assert_eq!(super::search_filter("  "), "");
        assert_eq!(
            super::search_filter("o'k_%"),
            "username like '%o''k\\_\\%%' or name like '%o''k\\_\\%%' or email like '%o''k\\_\\%%'"
        );
    }
}
