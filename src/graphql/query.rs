//! Queries.

use async_graphql::{Context, ID, Object, Result};
use coupons_domain::CouponId;

use super::error::{ApiError, query_error, user_errors, visible_rejections};
use super::guard::{ADMIN, ANY_KEY, READERS, RoleGuard, VALIDATE};
use super::ids::{self, Kind};
use super::inputs::{CouponFilter, RedemptionFilter, ValidateCouponInput};
use super::scalars::DateTime;
use super::types::{
    Coupon, CouponCode, CouponRejection, CouponValidation, Node, Page, Redemption, Rule, Viewer,
    after_id, page_size,
};
use crate::auth::Principal;
use crate::service::{Services, checkout, coupons};
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
            Some((Kind::CouponCode, n)) => Ok(coupons::code(svc, n)
                .await
                .map_err(query_error)?
                .map(|c| Node::CouponCode(CouponCode(c)))),
            Some((Kind::Redemption, n)) => Ok(checkout::redemption(svc, n)
                .await
                .map_err(query_error)?
                .map(|r| Node::Redemption(Redemption(r)))),
            Some((Kind::Campaign, n)) => Ok(super::campaigns::campaign(
                ctx,
                &ids::encode(Kind::Campaign, n),
            )
            .await?
            .map(Node::Campaign)),
            Some((Kind::BulkJob, n)) => Ok(super::jobs::job(ctx, &ids::encode(Kind::BulkJob, n))
                .await?
                .map(Node::BulkJob)),
            Some((
                Kind::ApiKey | Kind::AuditEntry | Kind::WebhookEndpoint | Kind::WebhookDelivery,
                _,
            ))
            | None => Ok(None),
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
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn coupons(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which coupons to list.")] filter: Option<CouponFilter>,
    ) -> Result<Page<Coupon>> {
        let svc = ctx.data::<Services>()?;
        let limit = page_size(first)?;
        let after = after_id(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let campaign_id = match &filter.campaign_id {
            None => None,
            Some(id) => Some(ids::decode(Kind::Campaign, id).ok_or_else(|| {
                ApiError::BadUserInput(format!("{:?} is not a campaign ID", id.0))
            })?),
        };
        let filter = storage::CouponFilter {
            status: filter.status.map(Into::into),
            text: filter.query,
            campaign_id,
        };
        let (rows, _) = coupons::list_coupons(svc, &filter, after, limit as i64 + 1)
            .await
            .map_err(query_error)?;
        Ok(Page::from_rows(rows, limit, after, |c| c.id.0, Coupon))
    }

    /// Whether a code applies to an order, and the discount it gives. Changes nothing.
    #[graphql(guard = "RoleGuard::new(VALIDATE)")]
    async fn validate_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code and the order.")] input: ValidateCouponInput,
    ) -> Result<CouponValidation> {
        let svc = ctx.data::<Services>()?;
        let role = ctx.data::<Principal>()?.role;
        let result =
            checkout::validate(svc, &super::caller(ctx)?, &input.code, input.order.into()).await;
        Ok(match result {
            Ok(Ok(discount)) => CouponValidation {
                valid: true,
                discount: Some(discount.into()),
                reasons: Vec::new(),
                user_errors: Vec::new(),
            },
            Ok(Err(reasons)) => CouponValidation {
                valid: false,
                discount: None,
                reasons: visible_rejections(&reasons, role)
                    .into_iter()
                    .map(CouponRejection::from)
                    .collect(),
                user_errors: Vec::new(),
            },
            Err(e) => CouponValidation {
                valid: false,
                discount: None,
                reasons: Vec::new(),
                user_errors: user_errors(e, "code")?,
            },
        })
    }

    /// Reservations and redemptions, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn redemptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which redemptions to list.")] filter: Option<RedemptionFilter>,
    ) -> Result<Page<Redemption>> {
        let svc = ctx.data::<Services>()?;
        let limit = page_size(first)?;
        let after = after_id(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let coupon_id = match filter.coupon_id {
            Some(id) => match ids::decode(Kind::Coupon, &id) {
                Some(n) => Some(n),
                None => {
                    return Err(
                        ApiError::BadUserInput(format!("{:?} is not a coupon ID", id.0)).into(),
                    );
                }
            },
            None => None,
        };
        let customer_key = checkout::customer_filter_key(
            svc,
            filter.customer_id.as_deref(),
            filter.customer_email.as_deref(),
        )
        .map_err(|e| ApiError::BadUserInput(e.to_string()))?;
        let storage_filter = storage::RedemptionFilter {
            coupon_id,
            customer_key,
            order_id: filter.order_id,
            status: filter.status.map(Into::into),
            ..Default::default()
        };
        let rows = checkout::list_redemptions(svc, &storage_filter, after, limit as i64 + 1)
            .await
            .map_err(query_error)?;
        Ok(Page::from_rows(rows, limit, after, |r| r.id, Redemption))
    }

    /// The eligibility rules in force, by name.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn rules(&self, ctx: &Context<'_>) -> Result<Vec<Rule>> {
        let svc = ctx.data::<Services>()?;
        Ok(svc
            .rules
            .names()
            .iter()
            .filter_map(|n| svc.rules.get(n))
            .map(Rule)
            .collect())
    }

    /// One rule in force, with its published versions.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's name.")] name: String,
    ) -> Result<Option<Rule>> {
        let svc = ctx.data::<Services>()?;
        Ok(svc.rules.get(name.trim()).map(Rule))
    }

    /// API keys, newest first (active ones unless asked otherwise). Secrets are never
    /// shown.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which keys to list.")] filter: Option<super::security::ApiKeyFilter>,
    ) -> Result<Page<super::types::ApiKey>> {
        super::security::list_keys(ctx, first, after, filter).await
    }

    /// Every change by admins and checkout calls, newest first: who (key, role,
    /// address), what, and the entity before and after.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which entries to list.")] filter: Option<super::security::AuditLogFilter>,
    ) -> Result<Page<super::security::AuditEntry>> {
        super::security::audit_log(ctx, first, after, filter).await
    }

    /// Campaigns, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<super::campaigns::Campaign>> {
        super::campaigns::campaigns(ctx, first, after).await
    }

    /// What a coupon did over `[from, to)`: codes issued, validation attempts and their
    /// outcomes, reservations, redemptions, reversals, unique customers, discount and
    /// order value per currency, redemption rate, a time series and a breakdown by
    /// channel. Null when there is no such coupon.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon's ID.")] coupon_id: ID,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime,
        #[graphql(
            desc = "Width of the time series' buckets.",
            default_with = "super::reports::ReportBucket::Day"
        )]
        bucket: super::reports::ReportBucket,
    ) -> Result<Option<super::reports::Report>> {
        super::reports::report(ctx, Kind::Coupon, &coupon_id, from, to, bucket).await
    }

    /// What a campaign did over `[from, to)`: the redemptions made under it, and the
    /// codes and validation attempts of the coupons in it now. Null when there is no
    /// such campaign.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn campaign_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign's ID.")] campaign_id: ID,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime,
        #[graphql(
            desc = "Width of the time series' buckets.",
            default_with = "super::reports::ReportBucket::Day"
        )]
        bucket: super::reports::ReportBucket,
    ) -> Result<Option<super::reports::Report>> {
        super::reports::report(ctx, Kind::Campaign, &campaign_id, from, to, bucket).await
    }

    /// One bulk job.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn bulk_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's ID.")] id: ID,
    ) -> Result<Option<super::jobs::BulkJob>> {
        super::jobs::job(ctx, &id).await
    }

    /// Bulk jobs, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn bulk_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the jobs of this coupon.")] coupon_id: Option<ID>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<super::jobs::BulkJob>> {
        super::jobs::jobs(ctx, coupon_id.as_ref(), first, after).await
    }

    /// One campaign.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign's ID.")] id: ID,
    ) -> Result<Option<super::campaigns::Campaign>> {
        super::campaigns::campaign(ctx, &id).await
    }

    /// Webhook endpoints, oldest first.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<super::webhooks::WebhookEndpoint>> {
        super::webhooks::endpoints(ctx, first, after).await
    }

    /// The webhook delivery log, newest first: each event for each endpoint, where it
    /// stands, and every attempt.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "super::page_complexity(first, child_complexity)"
    )]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which deliveries to list.")] filter: Option<
            super::webhooks::WebhookDeliveryFilter,
        >,
    ) -> Result<Page<super::webhooks::WebhookDelivery>> {
        super::webhooks::deliveries(ctx, first, after, filter).await
    }

    /// The caller's own API key: its role and name.
    #[graphql(guard = "RoleGuard::new(ANY_KEY)")]
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer(ctx.data::<Principal>()?.clone()))
    }
}
