//! Campaigns: types, inputs and resolvers. The root fields in `query.rs` and
//! `mutation.rs` call into here.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Result, SimpleObject};
use coupons_domain::{Currency, LimitsError, Money as DomainMoney, Problem};

use super::caller;
use super::error::{CouponErrorCode, CouponUserError, optional_text, query_error};
use super::ids::{self, Kind};
use super::inputs::MoneyInput;
use super::scalars::DateTime;
use super::types::{Coupon, Money, Page, after_id, money, page_size};
use crate::service::{Services, campaigns};
use crate::storage::{CampaignChange, CampaignPatch, MoveOutcome, StoredCampaign};

/// Longest campaign name.
const NAME_MAX: usize = 200;
/// Longest campaign description.
const DESCRIPTION_MAX: usize = 2_000;

/// A named group of coupons.
#[derive(Clone)]
pub struct Campaign(pub Arc<StoredCampaign>);

/// A named group of coupons: list them with `coupons(filter: {campaignId})`, and
/// follow them with `couponEvents(filter: {campaignId})` or a webhook.
#[async_graphql::Object]
impl Campaign {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Campaign, self.0.id)
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Longer description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Before this instant none of its coupons applies (NOT_STARTED).
    async fn starts_at(&self) -> Option<DateTime> {
        self.0.starts_at.map(DateTime)
    }

    /// From this instant on none of its coupons applies (EXPIRED).
    async fn ends_at(&self) -> Option<DateTime> {
        self.0.ends_at.map(DateTime)
    }

    /// Uses allowed over all its coupons (redeemed and live reservations); null for no cap.
    async fn max_uses(&self) -> Option<i64> {
        self.0.max_uses
    }

    /// Total discount its coupons may give, net of refunds; null for no budget. Orders
    /// in another currency are refused while there is a budget.
    async fn budget(&self) -> Option<Money> {
        let (minor, currency) = (self.0.budget_minor?, self.0.budget_currency.as_deref()?);
        money(currency, minor)
    }

    /// Uses its coupons hold: redeemed, reserved, and reversed under a policy that
    /// keeps the use.
    async fn used_count(&self) -> i64 {
        self.0.used_count
    }

    /// Discount its coupons hold, net of refunds, in the budget's currency; null when
    /// there is no budget.
    async fn discount_used(&self) -> Option<Money> {
        money(
            self.0.budget_currency.as_deref()?,
            self.0.discount_used_minor,
        )
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// Input of `createCampaign`.
#[derive(Debug, Clone, InputObject)]
pub struct CreateCampaignInput {
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// Start of the window: before it none of the campaign's coupons applies.
    pub starts_at: Option<DateTime>,
    /// End of the window (exclusive), later than `startsAt`.
    pub ends_at: Option<DateTime>,
    /// Uses allowed over all its coupons, at least 1.
    pub max_uses: Option<i64>,
    /// Total discount its coupons may give, net of refunds, above zero. The discount
    /// that would cross it is lowered to what is left.
    pub budget: Option<MoneyInput>,
}

/// Input of `updateCampaign`: fields left out are unchanged, null clears a limit.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateCampaignInput {
    /// The campaign's ID.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description (empty text clears it).
    pub description: Option<String>,
    /// New start of the window; null for none.
    pub starts_at: MaybeUndefined<DateTime>,
    /// New end of the window; null for none.
    pub ends_at: MaybeUndefined<DateTime>,
    /// New cap on uses; null for none. A cap below the uses held refuses new ones.
    pub max_uses: MaybeUndefined<i64>,
    /// New budget; null for none. It must be in the currency of the redemptions the
    /// campaign already counts.
    pub budget: MaybeUndefined<MoneyInput>,
}

/// Result of `createCampaign` and `updateCampaign`.
#[derive(SimpleObject)]
pub struct CampaignPayload {
    /// The campaign; null when there are user errors.
    pub campaign: Option<Campaign>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `setCouponCampaign`.
#[derive(Debug, Clone, InputObject)]
pub struct SetCouponCampaignInput {
    /// The coupon.
    pub coupon_id: ID,
    /// Its campaign; null takes it out of its campaign.
    pub campaign_id: Option<ID>,
}

/// Result of `setCouponCampaign`.
#[derive(SimpleObject)]
pub struct SetCouponCampaignPayload {
    /// The coupon as it now is.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

fn check_name(name: &str, path: &[&str]) -> Result<String, CouponUserError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CouponUserError::new(
            path,
            CouponErrorCode::Blank,
            "the name is empty",
        ));
    }
    if name.chars().count() > NAME_MAX {
        return Err(CouponUserError::new(
            path,
            CouponErrorCode::TooLong,
            format!("the name is longer than {NAME_MAX} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn campaign_not_found(path: &[&str]) -> CouponUserError {
    CouponUserError::new(path, CouponErrorCode::NotFound, "campaign not found")
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// A budget: a known currency, an amount it can hold, above zero.
fn budget(input: &MoneyInput) -> Result<DomainMoney, CouponUserError> {
    let currency = Currency::parse(&input.currency).map_err(|e| {
        CouponUserError::problem(&["input", "budget", "currency"], &Problem::Money(e))
    })?;
    let amount = &["input", "budget", "amount"];
    let money = DomainMoney::from_decimal(input.amount.0, currency)
        .map_err(|e| CouponUserError::problem(amount, &Problem::Money(e)))?;
    if money.minor < 1 {
        return Err(CouponUserError::problem(
            amount,
            &Problem::AmountNotPositive,
        ));
    }
    Ok(money)
}

/// The name, description and limits of a create or update, checked field by field.
struct Checked {
    name: Option<String>,
    description: Option<Option<String>>,
    starts_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
    ends_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
    max_uses: Option<Option<i64>>,
    budget: Option<Option<DomainMoney>>,
}

impl Checked {
    fn patch(&self) -> CampaignPatch<'_> {
        CampaignPatch {
            name: self.name.as_deref(),
            description: self.description.as_ref().map(Option::as_deref),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            max_uses: self.max_uses,
            budget: self.budget,
        }
    }
}

/// The window of a create or update, as given.
type Window = (
    Option<Option<chrono::DateTime<chrono::Utc>>>,
    Option<Option<chrono::DateTime<chrono::Utc>>>,
);

fn check(
    name: Option<&str>,
    description: Option<&str>,
    (starts_at, ends_at): Window,
    max_uses: Option<Option<i64>>,
    money: Option<Option<&MoneyInput>>,
) -> Result<Checked, Vec<CouponUserError>> {
    let mut errors = Vec::new();
    let name = name
        .map(|n| check_name(n, &["input", "name"]))
        .transpose()
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let description = description
        .map(|d| optional_text(d, DESCRIPTION_MAX, &["input", "description"]))
        .transpose()
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    if max_uses.flatten().is_some_and(|n| n < 1) {
        errors.push(limits_error(LimitsError::NonPositiveUses));
    }
    let budget = match money {
        None => None,
        Some(None) => Some(None),
        Some(Some(m)) => match budget(m) {
            Ok(b) => Some(Some(b)),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Checked {
        name,
        description,
        starts_at,
        ends_at,
        max_uses,
        budget,
    })
}

fn limits_error(e: LimitsError) -> CouponUserError {
    match e {
        LimitsError::WindowReversed => CouponUserError::new(
            &["input", "endsAt"],
            CouponErrorCode::InvalidDateRange,
            "the window must end after it starts",
        ),
        LimitsError::NonPositiveUses => CouponUserError::new(
            &["input", "maxUses"],
            CouponErrorCode::InvalidLimit,
            "the cap on uses must be at least 1",
        ),
        LimitsError::NonPositiveBudget => CouponUserError::new(
            &["input", "budget", "amount"],
            CouponErrorCode::AmountNotPositive,
            "the budget must be above zero",
        ),
    }
}

/// The payload of a stored change.
fn changed(change: CampaignChange) -> CampaignPayload {
    let refuse = |e| CampaignPayload {
        campaign: None,
        user_errors: vec![e],
    };
    match change {
        CampaignChange::Done(c) => CampaignPayload {
            campaign: Some(Campaign(Arc::new(c))),
            user_errors: Vec::new(),
        },
        CampaignChange::NotFound => refuse(campaign_not_found(&["input", "id"])),
        CampaignChange::Invalid(e) => refuse(limits_error(e)),
        CampaignChange::BudgetCurrencyConflict => refuse(CouponUserError::new(
            &["input", "budget", "currency"],
            CouponErrorCode::CurrencyMismatch,
            "the campaign already counts redemptions in another currency",
        )),
    }
}

/// `createCampaign`.
pub async fn create(ctx: &Context<'_>, input: CreateCampaignInput) -> Result<CampaignPayload> {
    let svc = ctx.data::<Services>()?;
    let checked = check(
        Some(&input.name),
        input.description.as_deref(),
        (
            Some(input.starts_at.map(|d| d.0)),
            Some(input.ends_at.map(|d| d.0)),
        ),
        Some(input.max_uses),
        Some(input.budget.as_ref()),
    );
    let checked = match checked {
        Ok(c) => c,
        Err(user_errors) => {
            return Ok(CampaignPayload {
                campaign: None,
                user_errors,
            });
        }
    };
    let stored = campaigns::create_campaign(svc, &caller(ctx)?, &checked.patch())
        .await
        .map_err(query_error)?;
    Ok(changed(stored))
}

/// `updateCampaign`.
pub async fn update(ctx: &Context<'_>, input: UpdateCampaignInput) -> Result<CampaignPayload> {
    let svc = ctx.data::<Services>()?;
    let Some(id) = ids::decode(Kind::Campaign, &input.id) else {
        return Ok(changed(CampaignChange::NotFound));
    };
    let money = maybe(input.budget);
    let checked = check(
        input.name.as_deref(),
        input.description.as_deref(),
        (
            maybe(input.starts_at).map(|d| d.map(|d| d.0)),
            maybe(input.ends_at).map(|d| d.map(|d| d.0)),
        ),
        maybe(input.max_uses),
        money.as_ref().map(Option::as_ref),
    );
    let checked = match checked {
        Ok(c) => c,
        Err(user_errors) => {
            return Ok(CampaignPayload {
                campaign: None,
                user_errors,
            });
        }
    };
    let stored = campaigns::update_campaign(svc, &caller(ctx)?, id, &checked.patch())
        .await
        .map_err(query_error)?;
    Ok(changed(stored))
}

/// `setCouponCampaign`.
pub async fn set_coupon_campaign(
    ctx: &Context<'_>,
    input: SetCouponCampaignInput,
) -> Result<SetCouponCampaignPayload> {
    let svc = ctx.data::<Services>()?;
    let refuse = |e| SetCouponCampaignPayload {
        coupon: None,
        user_errors: vec![e],
    };
    let coupon_gone = || {
        CouponUserError::new(
            &["input", "couponId"],
            CouponErrorCode::NotFound,
            "coupon not found",
        )
    };
    let Some(coupon_id) = ids::decode(Kind::Coupon, &input.coupon_id) else {
        return Ok(refuse(coupon_gone()));
    };
    let campaign_id = match &input.campaign_id {
        None => None,
        Some(id) => match ids::decode(Kind::Campaign, id) {
            Some(n) => Some(n),
            None => return Ok(refuse(campaign_not_found(&["input", "campaignId"]))),
        },
    };
    let (outcome, coupon) =
        campaigns::set_coupon_campaign(svc, &caller(ctx)?, coupon_id, campaign_id)
            .await
            .map_err(query_error)?;
    match outcome {
        MoveOutcome::Moved => {}
        MoveOutcome::CouponNotFound => return Ok(refuse(coupon_gone())),
        MoveOutcome::CampaignNotFound => {
            return Ok(refuse(campaign_not_found(&["input", "campaignId"])));
        }
    }
    Ok(SetCouponCampaignPayload {
        coupon: coupon.map(Coupon),
        user_errors: Vec::new(),
    })
}

/// `campaign(id)`.
pub async fn campaign(ctx: &Context<'_>, id: &ID) -> Result<Option<Campaign>> {
    let svc = ctx.data::<Services>()?;
    let Some(id) = ids::decode(Kind::Campaign, id) else {
        return Ok(None);
    };
    Ok(campaigns::find_campaign(svc, id)
        .await
        .map_err(query_error)?
        .map(|c| Campaign(Arc::new(c))))
}

/// `campaigns`: newest first.
pub async fn campaigns(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<Campaign>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let rows = campaigns::list_campaigns(svc, after, limit as i64 + 1)
        .await
        .map_err(query_error)?;
    Ok(Page::from_rows(
        rows,
        limit,
        after,
        |c| c.id,
        |c| Campaign(Arc::new(c)),
    ))
}
