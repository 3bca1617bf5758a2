//! What every list endpoint takes — `filter`, `sort`, `page`, `count`, `total` —
//! checked into a [`Listing`] (served by `store::list`).

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use super::paging::{MAX_COUNT, Page};
use crate::domain::filter::{self, Schema, SortKey};
pub use crate::store::list::{ListSql, Listing, VersionQuery};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A filter expression (SPEC §5), e.g. `(date eq '2016-05-01') and (distance gt 20)`.
    pub filter: Option<String>,
    /// Comma-separated fields, `-` for descending, e.g. `-date,distance`.
    pub sort: Option<String>,
    /// 0-based page index.
    #[serde(default)]
    #[param(minimum = 0, maximum = 1000000000)]
    pub page: u64,
    /// Items per page, 1 to 1000 (default 10).
    #[serde(default = "default_count")]
    #[param(minimum = 1, maximum = 1000)]
    pub count: u64,
    /// Whether to count all matching items (default true).
    #[serde(default = "default_total")]
    pub total: bool,
}

/// The last page index a list accepts (a billion pages of at most 1,000 items).
pub const MAX_PAGE: u64 = 1_000_000_000;

/// A keyset cursor (`after=`): an empty one is none, as an empty `sort=` is.
pub fn cursor(after: Option<&str>) -> Option<&str> {
    after.filter(|id| !id.trim().is_empty())
}

fn default_count() -> u64 {
    10
}

fn default_total() -> bool {
    true
}

impl ListQuery {
    /// Whether a sort was asked for (an empty `sort=` asks for the default order).
    pub fn sorts(&self) -> bool {
        self.sort.as_deref().is_some_and(|sort| !sort.trim().is_empty())
    }

    /// Checks paging, the filter and the sort against `schema`; `default_order` applies
    /// when no sort is given.
    pub fn check(self, schema: &Schema, default_order: &[SortKey]) -> ApiResult<Listing> {
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("query parameter `count` must be between 1 and {MAX_COUNT}"),
            ));
        }
        if self.page > MAX_PAGE {
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

impl Listing {
    pub fn page_of<T>(&self, items: Vec<T>, total: Option<u64>) -> Page<T> {
        Page { items, page: self.page, count: self.count, total }
    }
}
