//! Paging parameters and the list envelope shared by every list endpoint:
//! `?page=&count=&total=` → `{items, page, count, total}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};

pub const MAX_COUNT: u64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
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

/// Paging that has been checked.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u64,
    pub count: u64,
    pub total: bool,
}

impl PageQuery {
    pub fn validate(self) -> ApiResult<Paging> {
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("query parameter `count` must be between 1 and {MAX_COUNT}"),
            ));
        }
        if self.page.checked_mul(self.count).is_none_or(|offset| offset > i64::MAX as u64) {
            return Err(ApiError::bad_request("invalid_query", "query parameter `page` is too large"));
        }
        Ok(Paging { page: self.page, count: self.count, total: self.total })
    }
}

impl Paging {
    /// Rows to skip (validated to fit an i64).
    pub fn offset(&self) -> i64 {
        (self.page * self.count) as i64
    }

    /// Wraps one page of items fetched with `offset()`/`count`.
    pub fn page_of<T>(&self, items: Vec<T>, total: Option<u64>) -> Page<T> {
        Page { items, page: self.page, count: self.count, total }
    }

    /// One page of an already loaded, small list.
    pub fn slice<T>(&self, all: Vec<T>) -> Page<T> {
        let total = self.total.then_some(all.len() as u64);
        let offset = usize::try_from(self.page * self.count).unwrap_or(usize::MAX);
        let items = all.into_iter().skip(offset).take(self.count as usize).collect();
        Page { items, page: self.page, count: self.count, total }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub count: u64,
    /// All matching items; absent when `total=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}
