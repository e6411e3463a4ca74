//! Campaigns: named groups of coupons (a coupon belongs to at most one) with a window,
//! a cap on uses and a discount budget. Creating and changing them (under the row's
//! lock, with their audit entries), moving coupons in and out, and reading them.

use chrono::{DateTime, Utc};
use coupons_domain::{CampaignLimits, Currency, LimitsError, Money, RedemptionStatus};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::audit::{Actor, AuditAction, EntityType, snapshot, write_audit};
use super::events::{EventType, write_event};
use super::models::StoredCoupon;
use super::{Conn, StorageError, on_backend};

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
    /// Start of the window, if any.
    pub starts_at: Option<DateTime<Utc>>,
    /// End of the window, if any.
    pub ends_at: Option<DateTime<Utc>>,
    /// Cap on uses over all its coupons.
    pub max_uses: Option<i64>,
    /// Discount budget, minor units of `budget_currency`.
    pub budget_minor: Option<i64>,
    /// Currency of the budget.
    pub budget_currency: Option<String>,
    /// Uses held by its coupons.
    pub used_count: i64,
    /// Discount held by its coupons, net of refunds.
    pub discount_used_minor: i64,
}

impl StoredCampaign {
    fn audit_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "maxUses": self.max_uses,
            "budgetMinor": self.budget_minor,
            "budgetCurrency": self.budget_currency,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }

    /// What the campaign allows its coupons.
    pub fn limits(&self) -> Result<CampaignLimits, StorageError> {
        let budget = match (self.budget_minor, &self.budget_currency) {
            (Some(minor), Some(code)) => Some(Money {
                minor,
                currency: Currency::parse(code).map_err(|e| StorageError::Corrupt {
                    table: "campaigns",
                    id: self.id,
                    reason: e.to_string(),
                })?,
            }),
            _ => None,
        };
        Ok(CampaignLimits {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            max_uses: self.max_uses,
            budget,
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

/// What changing a campaign found.
#[derive(Debug, Clone)]
pub enum CampaignChange {
    /// Stored; the campaign as it now is.
    Done(StoredCampaign),
    /// No campaign with that id.
    NotFound,
    /// The limits, with the change applied, are not coherent.
    Invalid(LimitsError),
    /// The budget's currency differs from that of a redemption the campaign already
    /// counts: its spend could not be told in the budget's currency.
    BudgetCurrencyConflict,
}

/// A change to a campaign: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CampaignPatch<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New description.
    pub description: Option<Option<&'a str>>,
    /// New start of the window.
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// New end of the window.
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// New cap on uses.
    pub max_uses: Option<Option<i64>>,
    /// New discount budget.
    pub budget: Option<Option<Money>>,
}

impl CampaignPatch<'_> {
    /// `limits` with this change applied.
    pub fn apply(&self, limits: CampaignLimits) -> CampaignLimits {
        CampaignLimits {
            starts_at: self.starts_at.unwrap_or(limits.starts_at),
            ends_at: self.ends_at.unwrap_or(limits.ends_at),
            max_uses: self.max_uses.unwrap_or(limits.max_uses),
            budget: self.budget.unwrap_or(limits.budget),
        }
    }
}

/// Stores a campaign: `patch` holds its name (required) and description, `limits` its
/// window, cap and budget (checked by the caller); with its audit entry.
pub async fn insert_campaign(
    c: &mut Conn<'_>,
    patch: &CampaignPatch<'_>,
    limits: &CampaignLimits,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StoredCampaign, StorageError> {
    let stored: StoredCampaign = on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        diesel::insert_into(ca::campaigns)
            .values((
                ca::name.eq(patch.name.unwrap_or_default()),
                ca::description.eq(patch.description.flatten()),
                ca::created_at.eq(now),
                ca::updated_at.eq(now),
                ca::starts_at.eq(limits.starts_at),
                ca::ends_at.eq(limits.ends_at),
                ca::max_uses.eq(limits.max_uses),
                ca::budget_minor.eq(limits.budget.map(|b| b.minor)),
                ca::budget_currency.eq(limits.budget.map(|b| b.currency.code())),
            ))
            .get_result(conn)
            .await?
    });
    let (action, entity) = (AuditAction::CampaignCreated, EntityType::Campaign);
    let after = Some(stored.audit_json());
    write_audit(c, actor, action, entity, stored.id, None, after, now).await?;
    Ok(stored)
}

/// Locks a campaign row for the rest of the transaction (with a no-op write) and reads
/// it; `None` when there is no such campaign. A change and the checkouts that read its
/// limits are serialised by this lock; checkouts take it after the coupon's.
pub async fn lock_campaign(
    c: &mut Conn<'_>,
    id: i64,
) -> Result<Option<StoredCampaign>, StorageError> {
    on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        Ok(diesel::update(ca::campaigns.find(id))
            .set(ca::updated_at.eq(ca::updated_at))
            .get_result(conn)
            .await
            .optional()?)
    })
}

/// Whether the campaign counts a redemption (one that holds or held discount) in a
/// currency other than `currency`: then its spend could not be told in a budget of
/// `currency`.
pub async fn other_currency_spend(
    c: &mut Conn<'_>,
    campaign_id: i64,
    currency: &str,
) -> Result<bool, StorageError> {
    let found: Option<i64> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as ocs;
        ocs::redemptions
            .filter(ocs::campaign_id.eq(campaign_id))
            .filter(ocs::currency.ne(currency))
            .filter(ocs::status.ne_all([
                RedemptionStatus::Released.as_str(),
                RedemptionStatus::Expired.as_str(),
            ]))
            .select(ocs::id)
            .first(conn)
            .await
            .optional()?
    });
    Ok(found.is_some())
}

/// Writes a locked campaign's change: `patch` for its name and description, `limits`
/// (checked by the caller) for the rest; with its audit entry.
pub async fn update_campaign(
    c: &mut Conn<'_>,
    before: &StoredCampaign,
    patch: &CampaignPatch<'_>,
    limits: &CampaignLimits,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StoredCampaign, StorageError> {
    let id = before.id;
    let after: StoredCampaign = on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        diesel::update(ca::campaigns.find(id))
            .set((
                ca::name.eq(patch.name.unwrap_or(&before.name)),
                ca::description.eq(patch.description.unwrap_or(before.description.as_deref())),
                ca::updated_at.eq(now),
                ca::starts_at.eq(limits.starts_at),
                ca::ends_at.eq(limits.ends_at),
                ca::max_uses.eq(limits.max_uses),
                ca::budget_minor.eq(limits.budget.map(|b| b.minor)),
                ca::budget_currency.eq(limits.budget.map(|b| b.currency.code())),
            ))
            .get_result(conn)
            .await?
    });
    let (action, entity) = (AuditAction::CampaignUpdated, EntityType::Campaign);
    let (old, new) = (Some(before.audit_json()), Some(after.audit_json()));
    write_audit(c, actor, action, entity, id, old, new, now).await?;
    Ok(after)
}

/// One campaign.
pub async fn campaign(c: &mut Conn<'_>, id: i64) -> Result<Option<StoredCampaign>, StorageError> {
    on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        Ok(ca::campaigns.find(id).first(conn).await.optional()?)
    })
}

/// Campaigns by id, newest first, with ids below `before` when given.
pub async fn campaigns(
    c: &mut Conn<'_>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredCampaign>, StorageError> {
    on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        let mut q = ca::campaigns.into_boxed();
        if let Some(b) = before {
            q = q.filter(ca::id.lt(b));
        }
        Ok(q.order(ca::id.desc()).limit(limit).load(conn).await?)
    })
}

/// Puts a coupon in a campaign, or takes it out (`None`). A change is a coupon update:
/// audited and announced as `COUPON_UPDATED`.
pub async fn set_coupon_campaign(
    c: &mut Conn<'_>,
    coupon_id: i64,
    campaign_id: Option<i64>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<MoveOutcome, StorageError> {
    let (current, row): (StoredCoupon, StoredCoupon) = on_backend!(c, |conn| {
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
        (current, row)
    });
    let (before, after) = (snapshot(&current), snapshot(&row));
    let (action, entity) = (AuditAction::CouponUpdated, EntityType::Coupon);
    write_audit(
        c,
        actor,
        action,
        entity,
        coupon_id,
        before,
        after.clone(),
        now,
    )
    .await?;
    let payload = after.unwrap_or_default();
    let happened = EventType::CouponUpdated;
    write_event(c, happened, Some(coupon_id), coupon_id, payload, now).await?;
    Ok(MoveOutcome::Moved)
}
