//! The one query that serves a page of any list: the endpoint's fixed scope, the
//! caller's filter (compiled per backend by `filter_sql`), order and paging, and the
//! total when asked for.

use super::filter_sql::{compile, order_sql};
use super::{Db, FromRow, Param, Sql, StoreError};
use crate::domain::filter::{SortKey, Typed};

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

/// One page of `SELECT {columns} FROM {from} WHERE {scope} [AND filter]`, ordered by
/// the listing's order and then `{tiebreak}`. `scope` is the endpoint's own fixed
/// condition, using `$1..` for `scope_params`; nothing else is pasted.
pub struct ListSql<'a> {
    pub columns: &'a str,
    pub from: &'a str,
    pub scope: &'a str,
    pub scope_params: Vec<Param<'a>>,
    pub tiebreak: &'a str,
    /// When set, totals are cached while the data's version stays the same.
    pub version: Option<VersionQuery<'a>>,
}

/// Reads the version of a list's data: one BIGINT, or no row for version 0. It must
/// be bumped in the same transaction as every change to the data it covers (see
/// [`Db::count_versioned`]).
pub struct VersionQuery<'a> {
    pub sql: Sql<'static>,
    pub params: Vec<Param<'a>>,
}

impl ListSql<'_> {
    pub async fn fetch<T: FromRow>(
        self,
        db: &Db,
        listing: &Listing,
    ) -> Result<(Vec<T>, Option<u64>), StoreError> {
        let mut params = self.scope_params;
        let mut condition = format!("({})", self.scope);
        if let Some(filter) = &listing.filter {
            let compiled = compile(filter, db.backend, params.len() + 1);
            condition = format!("{condition} AND {}", compiled.sql);
            params.extend(compiled.params);
        }
        let mut order: Vec<String> = listing.order.iter().map(|key| order_sql(key, db.backend)).collect();
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
        listing
            .page_and_total(db, Sql::dynamic(&sql), &params, Sql::dynamic(&count_sql), self.version.as_ref())
            .await
    }
}

impl Listing {
    /// Runs `page` and, when the listing asks for a total the page cannot tell,
    /// `count` (with the page's params). With a `version`, the version is read on
    /// the page's snapshot and the total is reused while it stays the same.
    pub async fn page_and_total<T: FromRow>(
        &self,
        db: &Db,
        page: Sql<'_>,
        params: &[Param<'_>],
        count: Sql<'_>,
        version: Option<&VersionQuery<'_>>,
    ) -> Result<(Vec<T>, Option<u64>), StoreError> {
        let (rows, version) = match version.filter(|_| self.total) {
            Some(version) => {
                // Read even when the page turns out to tell the total: one statement
                // more in the same transaction costs less than a second transaction.
                let (rows, versions) =
                    db.read_pair::<T, i64>((page, params), (version.sql, &version.params)).await?;
                (rows, Some(versions.first().copied().unwrap_or(0)))
            }
            None => (db.read(page, params).await?, None),
        };
        // A page that is neither full nor past the end already tells the total.
        let offset = self.page * self.count;
        let known =
            (!rows.is_empty() && (rows.len() as u64) < self.count).then(|| offset + rows.len() as u64);
        let total = match (self.total, known, version) {
            (false, _, _) => None,
            (true, Some(known), _) => Some(known),
            (true, None, Some(version)) => Some(db.count_versioned(count, params, version).await?),
            (true, None, None) => Some(db.count(count, params).await?),
        };
        Ok((rows, total))
    }
}
