//! What every list page shares: the filter box (a bad filter shown with its position
//! marked), sorting by column, and paging, all carried in the page's URL.

use serde::{Deserialize, Serialize};

use crate::domain::filter::{Schema, SortKey};
use crate::http::error::ApiError;
use crate::http::listing::{ListQuery, Listing, MAX_PAGE};

/// A page's query string read leniently: the first of repeated names wins, and a
/// query that does not fit `T` is `T::default()` (a page, never a plain-text 400).
pub struct PageQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for PageQuery<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut first: Vec<(String, String)> = Vec::new();
        for (key, value) in pairs {
            if !first.iter().any(|(k, _)| *k == key) {
                first.push((key, value));
            }
        }
        let again = serde_urlencoded::to_string(&first).unwrap_or_default();
        Ok(Self(serde_urlencoded::from_str(&again).unwrap_or_default()))
    }
}

/// Rows per page.
pub const PAGE_ROWS: u64 = 20;

/// A list page's query: `?filter=…&sort=…&page=…` (each optional; a page number that
/// is not one is the first page).
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct ListParams {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sort: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub page: String,
}

/// A filter or sort the list language refused, with the place it went wrong.
pub struct BadQuery {
    /// "filter" or "sort": the box the mistake is in.
    pub field: &'static str,
    pub message: String,
    /// The text before the mistake, the character at it, and the rest.
    pub before: String,
    pub at: String,
    pub after: String,
    /// 1-based, for people.
    pub column: usize,
}

/// How a list page is shown: its rows come from `listing`; the controls from here.
pub struct Controls {
    pub params: ListParams,
    pub page: u64,
    pub error: Option<BadQuery>,
}

impl Controls {
    /// The page's status: `ok`, or 400 when the filter or sort was refused.
    pub fn status(&self, ok: axum::http::StatusCode) -> axum::http::StatusCode {
        if self.error.is_some() { axum::http::StatusCode::BAD_REQUEST } else { ok }
    }

    /// Whether the mistake shown is in `field` ("filter" or "sort").
    pub fn refused(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
}

impl ListParams {
    fn page_number(&self) -> u64 {
        self.page.trim().parse::<u64>().unwrap_or(0).min(MAX_PAGE)
    }

    /// Checks the query against `schema`: the listing to run, or (for a bad filter or
    /// sort) the listing of the unfiltered first page and the mistake to show.
    pub fn check(self, schema: &Schema, default_order: &[SortKey]) -> (Listing, Controls) {
        let page = self.page_number();
        let query = |filter: &str, sort: &str, page| ListQuery {
            filter: Some(filter.to_owned()),
            sort: Some(sort.to_owned()),
            page,
            count: PAGE_ROWS,
            total: true,
        };
        match query(&self.filter, &self.sort, page).check(schema, default_order) {
            Ok(listing) => (listing, Controls { params: self, page, error: None }),
            Err(err) => {
                let plain = query("", "", 0).check(schema, default_order).unwrap_or_else(|_| Listing {
                    page: 0,
                    count: PAGE_ROWS,
                    total: true,
                    filter: None,
                    order: default_order.to_vec(),
                });
                let error = self.explain(&err);
                (plain, Controls { params: self, page: 0, error })
            }
        }
    }

    fn explain(&self, err: &ApiError) -> Option<BadQuery> {
        let ApiError::InvalidFilter { code, position, detail } = err else { return None };
        let (field, text) =
            if *code == "invalid_sort" { ("sort", &self.sort) } else { ("filter", &self.filter) };
        let before: String = text.chars().take(*position).collect();
        let mut rest = text.chars().skip(*position);
        let at = rest.next().map_or_else(|| " ".to_owned(), String::from);
        Some(BadQuery {
            field,
            message: detail.clone(),
            before,
            at,
            after: rest.collect(),
            column: position + 1,
        })
    }
}

/// A sortable column's header: its link (this column ascending, or descending when it
/// is already ascending) and its `aria-sort`.
pub struct Column {
    pub label: &'static str,
    pub href: String,
    pub aria_sort: &'static str,
}

/// Where the pager's links go.
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Controls {
    /// `path` (which may carry a query of its own) with this list's query, changed
    /// by `change`.
    fn link(&self, path: &str, change: impl FnOnce(&mut ListParams)) -> String {
        let mut params = self.params.clone();
        change(&mut params);
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        let joint = if path.contains('?') { '&' } else { '?' };
        if query.is_empty() { path.to_owned() } else { format!("{path}{joint}{query}") }
    }

    /// The headers of the sortable columns: `(label, sort)`, where the column
    /// ascends as `sort` does (`-speed` for a pace, which grows as speed falls).
    pub fn columns(&self, path: &str, columns: &[(&'static str, &'static str)]) -> Vec<Column> {
        let current = self.params.sort.trim();
        let reverse = |sort: &str| sort.strip_prefix('-').map_or_else(|| format!("-{sort}"), str::to_owned);
        columns
            .iter()
            .map(|&(label, ascending)| {
                let descending = reverse(ascending);
                let (aria_sort, next) = if current == ascending {
                    ("ascending", descending)
                } else if current == descending {
                    ("descending", ascending.to_owned())
                } else {
                    ("none", ascending.to_owned())
                };
                let href = self.link(path, |p| {
                    p.sort = next;
                    p.page.clear();
                });
                Column { label, href, aria_sort }
            })
            .collect()
    }

    /// The pager, given how many rows match.
    pub fn pager(&self, path: &str, total: Option<u64>) -> Pager {
        let pages = total.unwrap_or(0).div_ceil(PAGE_ROWS).max(1);
        let page = self.page;
        let at = |n: u64| self.link(path, |p| p.page = if n == 0 { String::new() } else { n.to_string() });
        Pager {
            page: page + 1,
            pages,
            previous: (page > 0).then(|| at(page.min(pages) - 1)),
            next: (page + 1 < pages).then(|| at(page + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::store::{DEFAULT_ORDER, OWN};

    fn params(filter: &str, sort: &str, page: &str) -> ListParams {
        ListParams { filter: filter.into(), sort: sort.into(), page: page.into() }
    }

    #[test]
    fn a_bad_filter_is_marked_where_it_goes_wrong() {
        let (listing, controls) = params("distance gt 'x'", "", "3").check(&OWN, DEFAULT_ORDER);
        let error = controls.error.expect("refused");
        assert_eq!((error.field, listing.page, controls.page), ("filter", 0, 0));
        assert_eq!(format!("{}[{}]{}", error.before, error.at, error.after), "distance gt [']x'");
        assert_eq!(error.column, error.before.chars().count() + 1);
    }

    #[test]
    fn sorting_toggles_and_paging_keeps_the_query() {
        let (_, controls) = params("distance gt 1000", "date", "1").check(&OWN, DEFAULT_ORDER);
        assert!(controls.error.is_none());
        let columns = controls.columns("/runs", &[("Date", "date"), ("Distance", "distance")]);
        assert_eq!(columns[0].aria_sort, "ascending");
        assert_eq!(columns[0].href, "/runs?filter=distance+gt+1000&sort=-date");
        assert_eq!(columns[1].aria_sort, "none");
        let pace = controls.columns("/runs", &[("Pace", "-speed")]);
        assert_eq!(
            (pace[0].aria_sort, pace[0].href.as_str()),
            ("none", "/runs?filter=distance+gt+1000&sort=-speed")
        );
        let (_, by_pace) = params("", "-speed", "").check(&OWN, DEFAULT_ORDER);
        let pace = by_pace.columns("/runs", &[("Pace", "-speed")]);
        assert_eq!((pace[0].aria_sort, pace[0].href.as_str()), ("ascending", "/runs?sort=speed"));
        let pager = controls.pager("/runs", Some(45));
        assert_eq!((pager.page, pager.pages), (2, 3));
        assert_eq!(pager.previous.as_deref(), Some("/runs?filter=distance+gt+1000&sort=date"));
        assert_eq!(pager.next.as_deref(), Some("/runs?filter=distance+gt+1000&sort=date&page=2"));
        let (_, last) = params("", "", "2").check(&OWN, DEFAULT_ORDER);
        assert!(last.pager("/runs", Some(45)).next.is_none());
    }
}
