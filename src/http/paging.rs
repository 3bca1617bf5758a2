//! The list envelope shared by every list endpoint: `{items, page, count, total}`.

use serde::Serialize;
use utoipa::ToSchema;

pub const MAX_COUNT: u64 = 1000;

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub count: u64,
    /// All matching items; absent when `total=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}
