//! DataLoaders: the lookups every item of a list repeats (a redemption's coupon, a
//! coupon's campaign and first code, …) are gathered and read in one service call per
//! page. One loader, [`ServiceLoader`], with a small key type per kind of lookup; a fresh
//! one is added to every request (`prepare_request`), so nothing is cached across
//! requests.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use coupons_domain::CouponId;

use super::error::ApiError;
use super::types::{Campaign, Coupon};
use crate::service::{ServiceError, Services, campaigns, coupons};

/// Reads batches of keys through the service layer.
pub struct ServiceLoader(pub Services);

impl ServiceLoader {
    /// A request's loader: batches run on the Tokio runtime.
    pub fn for_request(services: &Services) -> DataLoader<Self> {
        DataLoader::new(Self(services.clone()), tokio::spawn)
    }
}

/// The coupon with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CouponKey(pub CouponId);

/// The first code of the coupon with this id (the one given at creation, else the
/// oldest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirstCodeKey(pub CouponId);

/// The campaign with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CampaignKey(pub i64);

impl Loader<CouponKey> for ServiceLoader {
    type Value = Coupon;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[CouponKey]) -> Result<HashMap<CouponKey, Coupon>, Self::Error> {
        let ids: Vec<CouponId> = keys.iter().map(|k| k.0).collect();
        let found = coupons::coupons_by_ids(&self.0, &ids).await?;
        Ok(found
            .into_iter()
            .map(|c| (CouponKey(c.id), Coupon(c)))
            .collect())
    }
}

impl Loader<FirstCodeKey> for ServiceLoader {
    type Value = String;
    type Error = Arc<ServiceError>;

    async fn load(
        &self,
        keys: &[FirstCodeKey],
    ) -> Result<HashMap<FirstCodeKey, String>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0.0).collect();
        let found = coupons::first_codes(&self.0, &ids).await?;
        Ok(found
            .into_iter()
            .map(|(id, code)| (FirstCodeKey(CouponId(id)), code))
            .collect())
    }
}

impl Loader<CampaignKey> for ServiceLoader {
    type Value = Campaign;
    type Error = Arc<ServiceError>;

    async fn load(
        &self,
        keys: &[CampaignKey],
    ) -> Result<HashMap<CampaignKey, Campaign>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = campaigns::campaigns_by_ids(&self.0, &ids).await?;
        Ok(found
            .into_iter()
            .map(|c| (CampaignKey(c.id), Campaign(Arc::new(c))))
            .collect())
    }
}

/// Loads one key through the request's loader, batched with the other keys of its kind
/// that the same request asks for.
pub async fn load<K>(
    ctx: &Context<'_>,
    key: K,
) -> Result<Option<<ServiceLoader as Loader<K>>::Value>, ApiError>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    ServiceLoader: Loader<K, Error = Arc<ServiceError>>,
{
    let loader = super::data::<DataLoader<ServiceLoader>>(ctx)?;
    Ok(loader.load_one(key).await?)
}
