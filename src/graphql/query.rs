//! Queries.

use async_graphql::{Context, ID, Object, Result};
use coupons_domain::CouponId;

use super::error::{ApiError, query_error};
use super::guard::{ANY_KEY, READERS, RoleGuard};
use super::ids::{self, Kind};
use super::inputs::CouponFilter;
use super::types::{
    Coupon, CouponCode, CouponConnection, CouponEdge, Node, Viewer, after_id, page_size, paginate,
};
use crate::auth::Principal;
use crate::service::{Services, coupons};
use crate::storage;

/// The root of all reads.
#[derive(Default)]
pub struct Query;

/// The root of all reads.
#[Object]
impl Query {
    /// Any object by its global ID.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global ID.")] id: ID,
    ) -> Result<Option<Node>> {
        let svc = ctx.data::<Services>()?;
        match ids::decode_any(&id) {
            Some((Kind::Coupon, n)) => Ok(coupons::coupon(svc, CouponId(n))
                .await
                .map_err(query_error)?
                .map(|c| Node::Coupon(Coupon(c)))),
            Some((Kind::CouponCode, n)) => Ok(svc
                .db
                .code(n)
                .await
                .map_err(|e| query_error(e.into()))?
                .map(|c| Node::CouponCode(CouponCode(c)))),
            Some((Kind::ApiKey, _)) | None => Ok(None),
        }
    }

    /// One coupon, by ID or by any of its codes (case-insensitive). Give exactly one.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon's ID.")] id: Option<ID>,
        #[graphql(desc = "One of its codes, in any letter case.")] code: Option<String>,
    ) -> Result<Option<Coupon>> {
        let svc = ctx.data::<Services>()?;
        let found = match (id, code) {
            (Some(id), None) => match ids::decode(Kind::Coupon, &id) {
                Some(n) => coupons::coupon(svc, CouponId(n)).await,
                None => Ok(None),
            },
            (None, Some(code)) => coupons::coupon_by_code(svc, &code).await,
            _ => {
                return Err(ApiError::BadUserInput("give exactly one of id or code".into()).into());
            }
        };
        Ok(found.map_err(query_error)?.map(Coupon))
    }

    /// Coupons, newest first.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupons(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which coupons to list.")] filter: Option<CouponFilter>,
    ) -> Result<CouponConnection> {
        let svc = ctx.data::<Services>()?;
        let limit = page_size(first)?;
        let after = after_id(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = storage::CouponFilter {
            status: filter.status.map(Into::into),
            text: filter.query,
        };
        let (rows, _) = coupons::list_coupons(svc, &filter, after, limit as i64 + 1)
            .await
            .map_err(query_error)?;
        let (items, page_info) = paginate(rows, limit, after, |c| c.id.0);
        Ok(CouponConnection {
            nodes: items.iter().map(|(_, c)| Coupon(c.clone())).collect(),
            edges: items
                .into_iter()
                .map(|(cursor, c)| CouponEdge {
                    cursor,
                    node: Coupon(c),
                })
                .collect(),
            page_info,
        })
    }

    /// The caller's own API key: its role and name.
    #[graphql(guard = "RoleGuard::new(ANY_KEY)")]
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer(ctx.data::<Principal>()?.clone()))
    }
}
