//! Campaigns: named groups of coupons. A coupon belongs to at most one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::audit::{Actor, AuditAction, EntityType, audit, snapshot};
use super::events::{EventType, event};
use super::models::StoredCoupon;
use super::{Db, StorageError, with_conn, with_tx};

/// A `campaigns` row.
#[derive(Debug, Clone, Queryable)]
pub struct StoredCampaign {
    /// Row id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Longer text.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredCampaign {
    fn audit_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

/// What moving a coupon found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Done (or it was there already).
    Moved,
    /// No such coupon.
    CouponNotFound,
    /// No such campaign.
    CampaignNotFound,
}

impl Db {
    /// Stores a campaign.
    pub async fn insert_campaign(
        &self,
        name: &str,
        description: Option<&str>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<StoredCampaign, StorageError> {
        with_tx!(self, |conn| {
            use schema::campaigns::dsl as ca;
            let stored: StoredCampaign = diesel::insert_into(ca::campaigns)
                .values((
                    ca::name.eq(name),
                    ca::description.eq(description),
                    ca::created_at.eq(now),
                    ca::updated_at.eq(now),
                ))
                .get_result(conn)
                .await?;
            audit!(
                conn,
                actor,
                AuditAction::CampaignCreated,
                EntityType::Campaign,
                stored.id,
                None,
                Some(stored.audit_json()),
                now
            );
            Ok::<_, StorageError>(stored)
        })
    }

    /// Renames or re-describes a campaign (`description: Some(None)` clears it);
    /// `None` if there is none with that id.
    pub async fn update_campaign(
        &self,
        id: i64,
        name: Option<&str>,
        description: Option<Option<&str>>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredCampaign>, StorageError> {
        with_tx!(self, |conn| {
            use schema::campaigns::dsl as ca;
            let Some(before): Option<StoredCampaign> =
                ca::campaigns.find(id).first(conn).await.optional()?
            else {
                return Ok(None);
            };
            let after: StoredCampaign = diesel::update(ca::campaigns.find(id))
                .set((
                    ca::name.eq(name.unwrap_or(&before.name)),
                    ca::description.eq(description.unwrap_or(before.description.as_deref())),
                    ca::updated_at.eq(now),
                ))
                .get_result(conn)
                .await?;
            audit!(
                conn,
                actor,
                AuditAction::CampaignUpdated,
                EntityType::Campaign,
                id,
                Some(before.audit_json()),
                Some(after.audit_json()),
                now
            );
            Ok::<_, StorageError>(Some(after))
        })
    }

    /// One campaign.
    pub async fn campaign(&self, id: i64) -> Result<Option<StoredCampaign>, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::campaigns::dsl as ca;
            ca::campaigns.find(id).first(conn).await.optional()?
        }))
    }

    /// Campaigns by id, newest first, with ids below `before` when given.
    pub async fn campaigns(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredCampaign>, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::campaigns::dsl as ca;
            let mut q = ca::campaigns.into_boxed();
            if let Some(b) = before {
                q = q.filter(ca::id.lt(b));
            }
            q.order(ca::id.desc()).limit(limit).load(conn).await?
        }))
    }

    /// Puts a coupon in a campaign, or takes it out (`None`). A change is a coupon
    /// update: audited and announced as `COUPON_UPDATED`.
    pub async fn set_coupon_campaign(
        &self,
        coupon_id: i64,
        campaign_id: Option<i64>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<MoveOutcome, StorageError> {
        with_tx!(self, |conn| {
            use schema::campaigns::dsl as ca;
            use schema::coupons::dsl as c;
            if let Some(campaign) = campaign_id {
                let found: Option<i64> = ca::campaigns
                    .find(campaign)
                    .select(ca::id)
                    .first(conn)
                    .await
                    .optional()?;
                if found.is_none() {
                    return Ok(MoveOutcome::CampaignNotFound);
                }
            }
            // Writing first takes the row lock (PostgreSQL) before anything is read.
            let current: Option<StoredCoupon> = diesel::update(c::coupons.find(coupon_id))
                .set(c::updated_at.eq(c::updated_at))
                .get_result(conn)
                .await
                .optional()?;
            let Some(current) = current else {
                return Ok(MoveOutcome::CouponNotFound);
            };
            if current.campaign_id == campaign_id {
                return Ok(MoveOutcome::Moved);
            }
            let row: StoredCoupon = diesel::update(c::coupons.find(coupon_id))
                .set((c::campaign_id.eq(campaign_id), c::updated_at.eq(now)))
                .get_result(conn)
                .await?;
            let (before, after) = (snapshot(&current), snapshot(&row));
            audit!(
                conn,
                actor,
                AuditAction::CouponUpdated,
                EntityType::Coupon,
                coupon_id,
                before,
                after.clone(),
                now
            );
            let payload = after.unwrap_or_default();
            event!(
                conn,
                EventType::CouponUpdated,
                Some(coupon_id),
                coupon_id,
                payload,
                now
            );
            Ok::<_, StorageError>(MoveOutcome::Moved)
        })
    }
}
