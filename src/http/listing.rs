//! What every list endpoint takes — `filter`, `sort`, `page`, `count`, `total` — and
//! the one query that serves a page of any list.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use super::paging::{MAX_COUNT, Page};
use crate::domain::filter::{self, Schema, SortKey, SqlValue, Typed};
use crate::store::{Db, Read, Record};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A filter expression (SPEC §5), e.g. `(date eq '2016-05-01') and (distance gt 20)`.
    pub filter: Option<String>,
    /// Comma-separated fields, `-` for descending, e.g. `-date,distance`.
    pub sort: Option<String>,
    /// 0-based page index.
    #[serde(default)]
    pub page: u64,
    /// Items per page, 1 to 1000 (default 10).
    #[serde(default = "default_count")]
    pub count: u64,
    /// Whether to count all matching items (default true).
    #[serde(default = "default_total")]
    pub total: bool,
}

fn default_count() -> u64 {
    10
}

fn default_total() -> bool {
    true
}

/// A checked list request.
#[derive(Debug, Clone)]
pub struct Listing {
    pub page: u64,
    pub count: u64,
    pub total: bool,
    pub filter: Option<Typed>,
    /// Most significant first.
    pub order: Vec<SortKey>,
}

impl ListQuery {
    /// Checks paging, the filter and the sort against `schema`; `default_order` applies
    /// when no sort is given.
    pub fn check(self, schema: &Schema, default_order: &[SortKey]) -> ApiResult<Listing> {
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("query parameter `count` must be between 1 and {MAX_COUNT}"),
            ));
        }
        if self.page.checked_mul(self.count).is_none_or(|offset| offset > i64::MAX as u64) {
            return Err(ApiError::bad_request("invalid_query", "query parameter `page` is too large"));
        }
        let filter = match self.filter.as_deref() {
            Some(text) if !text.trim().is_empty() => Some(filter::prepare(text, schema).map_err(|e| {
                ApiError::InvalidFilter { code: "invalid_filter", position: e.position, detail: e.message }
            })?),
            _ => None,
        };
        let order = match self.sort.as_deref() {
            Some(sort) if !sort.trim().is_empty() => filter::order_by(sort, schema).map_err(|e| {
                ApiError::InvalidFilter { code: "invalid_sort", position: e.position, detail: e.message }
            })?,
            _ => default_order.to_vec(),
        };
        Ok(Listing { page: self.page, count: self.count, total: self.total, filter, order })
    }
}

/// One page of `SELECT {columns} FROM {from} WHERE {scope} [AND filter]`, ordered by
/// the listing's order and then `{tiebreak}`. `scope` is the endpoint's own fixed
/// condition, using `$1..` for `scope_params`; nothing else is pasted.
pub struct ListSql<'a> {
    pub columns: &'a str,
    pub from: &'a str,
    pub scope: &'a str,
    pub scope_params: Vec<SqlValue>,
    pub tiebreak: &'a str,
    /// When set, totals are cached while the data's version stays the same.
    pub version: Option<VersionQuery>,
}

/// Reads the version of a list's data: one BIGINT, or no row for version 0. It must
/// be bumped in the same transaction as every change to the data it covers (see
/// [`Db::count_versioned`]).
pub struct VersionQuery {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

impl ListSql<'_> {
    pub async fn fetch(self, db: &Db, listing: &Listing) -> ApiResult<(Vec<Record>, Option<u64>)> {
        let mut params = self.scope_params;
        let mut condition = format!("({})", self.scope);
        if let Some(filter) = &listing.filter {
            let compiled = filter::compile(filter, db.backend, params.len() + 1);
            condition = format!("{condition} AND {}", compiled.sql);
            params.extend(compiled.params);
        }
        let mut order: Vec<String> = listing.order.iter().map(|key| key.sql(db.backend)).collect();
        order.push(self.tiebreak.to_owned());
        let sql = format!(
            "SELECT {} FROM {} WHERE {condition} ORDER BY {} LIMIT {} OFFSET {}",
            self.columns,
            self.from,
            order.join(", "),
            listing.count,
            listing.page * listing.count
        );
        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", self.from);
        listing.page_and_total(db, (&sql, &params), &count_sql, self.version.as_ref()).await
    }
}

impl Listing {
    /// Runs `page` and, when the listing asks for a total the page cannot tell,
    /// `count_sql` (with the page's params). With a `version`, the version is read on
    /// the page's snapshot and the total is reused while it stays the same.
    pub async fn page_and_total(
        &self,
        db: &Db,
        page: Read<'_>,
        count_sql: &str,
        version: Option<&VersionQuery>,
    ) -> ApiResult<(Vec<Record>, Option<u64>)> {
        let (rows, version) = match version.filter(|_| self.total) {
            Some(version) => {
                let results = db.read_together(&[page, (version.sql, &version.params)]).await?;
                let Ok::<[_; 2], _>([rows, version_rows]) = results.try_into() else {
                    return Err(sqlx::Error::Protocol("expected two results".into()).into());
                };
                // Read even when the page turns out to tell the total: one statement
                // more in the same transaction costs less than a second transaction.
                let version = version_rows.first().map(|row| row.try_get_at::<i64>(0)).transpose()?;
                (rows, Some(version.unwrap_or(0)))
            }
            None => (db.read(page.0, page.1).await?, None),
        };
        // A page that is neither full nor past the end already tells the total.
        let offset = self.page * self.count;
        let known =
            (!rows.is_empty() && (rows.len() as u64) < self.count).then(|| offset + rows.len() as u64);
        let total = match (self.total, known, version) {
            (false, _, _) => None,
            (true, Some(known), _) => Some(known),
            (true, None, Some(version)) => Some(db.count_versioned(count_sql, page.1, version).await?),
            (true, None, None) => Some(db.count(count_sql, page.1).await?),
        };
        Ok((rows, total))
    }

    pub fn page_of<T>(&self, items: Vec<T>, total: Option<u64>) -> Page<T> {
        Page { items, page: self.page, count: self.count, total }
    }
}
