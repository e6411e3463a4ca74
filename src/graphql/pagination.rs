//! Pagination: Relay connections over id-ordered lists. A resolver checks `first` with
//! [`page_size`] and the cursor with [`after_id`], fetches `limit + 1` rows after (or
//! before) that id, and [`Page::from_rows`] cuts the page and its `pageInfo`.

use async_graphql::{OutputType, SimpleObject};

use super::error::ApiError;
use super::types::{
    AbuseSignal, ApiKey, AuditEntry, BulkJob, Campaign, Coupon, CouponCode, Redemption,
    WebhookDelivery, WebhookEndpoint,
};
use crate::ids;

/// Most items one page of a connection may hold.
pub const MAX_PAGE: usize = 100;
/// Items in a page when `first` is not given.
pub const DEFAULT_PAGE: usize = 20;

/// Checks `first` against [`MAX_PAGE`].
pub fn page_size(first: Option<i32>) -> Result<usize, ApiError> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (0..=MAX_PAGE as i32).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::BadUserInput(format!(
            "first must be between 0 and {MAX_PAGE} (got {n})"
        ))),
    }
}

/// Decodes an `after` cursor.
pub fn after_id(after: Option<&str>) -> Result<Option<i64>, ApiError> {
    after
        .map(|a| {
            ids::decode_cursor(a)
                .ok_or_else(|| ApiError::BadUserInput(format!("invalid cursor {a:?}")))
        })
        .transpose()
}

/// Where a page of a list stands.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Whether items precede this page (true whenever `after` was given).
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// An item of a list, with its cursor.
#[derive(SimpleObject)]
#[graphql(concrete(name = "CouponEdge", params(Coupon)))]
#[graphql(concrete(name = "CouponCodeEdge", params(CouponCode)))]
#[graphql(concrete(name = "RedemptionEdge", params(Redemption)))]
#[graphql(concrete(name = "ApiKeyEdge", params(ApiKey)))]
#[graphql(concrete(name = "AuditEntryEdge", params(AuditEntry)))]
#[graphql(concrete(name = "CampaignEdge", params(Campaign)))]
#[graphql(concrete(name = "WebhookEndpointEdge", params(WebhookEndpoint)))]
#[graphql(concrete(name = "WebhookDeliveryEdge", params(WebhookDelivery)))]
#[graphql(concrete(name = "BulkJobEdge", params(BulkJob)))]
#[graphql(concrete(name = "AbuseSignalEdge", params(AbuseSignal)))]
pub struct Edge<T: OutputType> {
    /// Opaque position of this item in the list; pass it as `after` for the items after it.
    pub cursor: String,
    /// The item.
    pub node: T,
}

/// A coupon in a list.
pub type CouponEdge = Edge<Coupon>;
/// A code in a list.
pub type CouponCodeEdge = Edge<CouponCode>;
/// A redemption in a list.
pub type RedemptionEdge = Edge<Redemption>;
/// An API key in a list.
pub type ApiKeyEdge = Edge<ApiKey>;
/// An audit entry in a list.
pub type AuditEntryEdge = Edge<AuditEntry>;
/// A campaign in a list.
pub type CampaignEdge = Edge<Campaign>;
/// A webhook endpoint in a list.
pub type WebhookEndpointEdge = Edge<WebhookEndpoint>;
/// A webhook delivery in a list.
pub type WebhookDeliveryEdge = Edge<WebhookDelivery>;
/// A bulk job in a list.
pub type BulkJobEdge = Edge<BulkJob>;
/// An abuse signal in a list.
pub type AbuseSignalEdge = Edge<AbuseSignal>;

/// A page of a list (Relay connection).
#[derive(SimpleObject)]
#[graphql(concrete(name = "CouponConnection", params(Coupon, CouponEdge)))]
#[graphql(concrete(name = "CouponCodeConnection", params(CouponCode, CouponCodeEdge)))]
#[graphql(concrete(name = "RedemptionConnection", params(Redemption, RedemptionEdge)))]
#[graphql(concrete(name = "ApiKeyConnection", params(ApiKey, ApiKeyEdge)))]
#[graphql(concrete(name = "AuditEntryConnection", params(AuditEntry, AuditEntryEdge)))]
#[graphql(concrete(name = "CampaignConnection", params(Campaign, CampaignEdge)))]
#[graphql(concrete(
    name = "WebhookEndpointConnection",
    params(WebhookEndpoint, WebhookEndpointEdge)
))]
#[graphql(concrete(
    name = "WebhookDeliveryConnection",
    params(WebhookDelivery, WebhookDeliveryEdge)
))]
#[graphql(concrete(name = "BulkJobConnection", params(BulkJob, BulkJobEdge)))]
#[graphql(concrete(name = "AbuseSignalConnection", params(AbuseSignal, AbuseSignalEdge)))]
pub struct Connection<T: OutputType, E: OutputType> {
    /// The items of this page with their cursors.
    pub edges: Vec<E>,
    /// The items of this page.
    pub nodes: Vec<T>,
    /// Where this page stands.
    pub page_info: PageInfo,
}

/// A page of `T`s.
pub type Page<T> = Connection<T, Edge<T>>;

impl<T: OutputType + Clone> Page<T>
where
    Edge<T>: OutputType,
{
    /// A page of `items` with their cursors.
    pub fn new(items: Vec<(String, T)>, page_info: PageInfo) -> Self {
        Self {
            nodes: items.iter().map(|(_, n)| n.clone()).collect(),
            edges: items
                .into_iter()
                .map(|(cursor, node)| Edge { cursor, node })
                .collect(),
            page_info,
        }
    }

    /// A page from `limit + 1` fetched `rows` (see [`paginate`]), each made into a `T`.
    pub fn from_rows<R>(
        rows: Vec<R>,
        limit: usize,
        after: Option<i64>,
        id: impl Fn(&R) -> i64,
        wrap: impl Fn(R) -> T,
    ) -> Self {
        let (items, page_info) = paginate(rows, limit, after, id);
        Self::new(
            items.into_iter().map(|(c, r)| (c, wrap(r))).collect(),
            page_info,
        )
    }
}

/// Cuts a fetched run of `limit + 1` rows into one page: (rows, pageInfo).
pub fn paginate<T>(
    mut rows: Vec<T>,
    limit: usize,
    after: Option<i64>,
    id: impl Fn(&T) -> i64,
) -> (Vec<(String, T)>, PageInfo) {
    let has_next_page = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<(String, T)> = rows.into_iter().map(|r| (ids::cursor(id(&r)), r)).collect();
    let info = PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: items.first().map(|(c, _)| c.clone()),
        end_cursor: items.last().map(|(c, _)| c.clone()),
    };
    (items, info)
}

/// The complexity of a connection field: the page size (default 20, at most 100) times
/// the complexity of one item.
pub fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.map_or(20, |n| usize::try_from(n.clamp(1, 100)).unwrap_or(100));
    page.saturating_mul(child_complexity).saturating_add(1)
}
