//! Batch reads by id, for the GraphQL DataLoaders: one query for the coupons (or
//! campaigns) a whole page of items points at. Steps over a [`Conn`], like the checkout
//! steps; the service opens the connection with [`super::Db::read`].

use coupons_domain::{Coupon, CouponId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::campaigns::StoredCampaign;
use super::models::StoredCoupon;
use super::{Conn, StorageError, on_backend};

/// The coupons with these ids; ids with no coupon are left out.
pub async fn coupons_by_ids(
    c: &mut Conn<'_>,
    ids: &[CouponId],
) -> Result<Vec<Coupon>, StorageError> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<StoredCoupon> = on_backend!(c, |conn| {
        use schema::coupons::dsl as cp;
        cp::coupons.filter(cp::id.eq_any(&ids)).load(conn).await?
    });
    rows.into_iter().map(StoredCoupon::into_domain).collect()
}

/// The campaigns with these ids; ids with no campaign are left out.
pub async fn campaigns_by_ids(
    c: &mut Conn<'_>,
    ids: &[i64],
) -> Result<Vec<StoredCampaign>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        ca::campaigns.filter(ca::id.eq_any(ids)).load(conn).await?
    }))
}
