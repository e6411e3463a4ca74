//! Coupons and their codes: read, list, create, change, delete, add codes.

use async_graphql::{Context, ID, Object};
use coupons_domain::CouponId;

use super::{optional_filter_id, split};
use crate::graphql::error::{ApiError, UserError, UserErrorCode};
use crate::graphql::guard::{ADMIN, READERS, RoleGuard};
use crate::graphql::inputs::{
    AddCodesInput, AddCodesPayload, CouponFilter, CreateCouponInput, CreateCouponPayload,
    DeleteCouponInput, DeleteCouponPayload, SetCouponStatusInput, SetCouponStatusPayload,
    UpdateCouponInput, UpdateCouponPayload, warnings,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::{Coupon, CouponCode};
use crate::graphql::{caller, services};
use crate::ids::{self, Kind};
use crate::service::{ServiceError, coupons};
use crate::storage;

/// Coupon reads.
#[derive(Default)]
pub struct CouponQuery;

/// Coupon reads.
#[Object]
impl CouponQuery {
    /// One coupon, by ID or by any of its codes (case-insensitive). Give exactly one.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon's ID.")] id: Option<ID>,
        #[graphql(desc = "One of its codes, in any letter case.")] code: Option<String>,
    ) -> Result<Option<Coupon>, ApiError> {
        let svc = services(ctx)?;
        let found = match (id, code) {
            (Some(id), None) => match ids::decode(Kind::Coupon, &id) {
                Some(n) => coupons::coupon(svc, CouponId(n)).await?,
                None => None,
            },
            (None, Some(code)) => coupons::coupon_by_code(svc, &code).await?,
            _ => {
                return Err(ApiError::BadUserInput(
                    "give exactly one of id or code".into(),
                ));
            }
        };
        Ok(found.map(Coupon))
    }

    /// Coupons, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn coupons(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which coupons to list.")] filter: Option<CouponFilter>,
    ) -> Result<Page<Coupon>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let filter = filter.unwrap_or_default();
        let filter = storage::CouponFilter {
            campaign_id: optional_filter_id(
                Kind::Campaign,
                filter.campaign_id.as_ref(),
                "a campaign ID",
            )?,
            status: filter.status.map(Into::into),
            text: filter.query,
        };
        let (rows, _) =
            coupons::list_coupons(services(ctx)?, &filter, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(rows, limit, after, |c| c.id.0, Coupon))
    }
}

/// Coupon changes.
#[derive(Default)]
pub struct CouponMutation;

/// Decodes a coupon ID, or says which input field held a bad one.
fn coupon_id(id: &ID, field: &str) -> Result<CouponId, Vec<UserError>> {
    ids::decode(Kind::Coupon, id).map(CouponId).ok_or_else(|| {
        vec![UserError::new(
            &["input", field],
            UserErrorCode::NotFound,
            "coupon not found",
        )]
    })
}

/// Runs `call` on the coupon that `id` names; an ID that is not a coupon's gets the same
/// userError as an unknown coupon.
async fn on_coupon<T>(
    id: &ID,
    field: &str,
    call: impl AsyncFnOnce(CouponId) -> Result<T, ServiceError>,
) -> Result<(Option<T>, Vec<UserError>), ApiError> {
    match coupon_id(id, field) {
        Ok(id) => split(call(id).await, field),
        Err(user_errors) => Ok((None, user_errors)),
    }
}

/// Coupon changes.
#[Object]
impl CouponMutation {
    /// Creates a coupon, with its first code if one is given (or made up in the
    /// configured code format). Fields left out get the server's defaults.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new coupon.")] input: CreateCouponInput,
    ) -> Result<CreateCouponPayload, ApiError> {
        let created = coupons::create_coupon(services(ctx)?, &caller(ctx)?, input.into_new()).await;
        let (coupon, user_errors) = split(created, "id")?;
        Ok(CreateCouponPayload {
            warnings: warnings(coupon.as_ref()),
            coupon: coupon.map(Coupon),
            user_errors,
        })
    }

    /// Changes a coupon's definition. Omitted fields stay as they are.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn update_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon and the fields to change.")] input: UpdateCouponInput,
    ) -> Result<UpdateCouponPayload, ApiError> {
        let (svc, caller) = (services(ctx)?, caller(ctx)?);
        let id = input.id.clone();
        let patch = input.into_patch();
        let (coupon, user_errors) = on_coupon(&id, "id", async |id| {
            coupons::update_coupon(svc, &caller, id, patch, None).await
        })
        .await?;
        Ok(UpdateCouponPayload {
            warnings: warnings(coupon.as_ref()),
            coupon: coupon.map(Coupon),
            user_errors,
        })
    }

    /// Moves a coupon through its lifecycle: DRAFT → ACTIVE | ARCHIVED; ACTIVE ⇄ PAUSED;
    /// ACTIVE | PAUSED → ARCHIVED. ARCHIVED is final.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn set_coupon_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon and its new status.")] input: SetCouponStatusInput,
    ) -> Result<SetCouponStatusPayload, ApiError> {
        let (svc, caller) = (services(ctx)?, caller(ctx)?);
        let status = input.status.into();
        let (coupon, user_errors) = on_coupon(&input.id, "id", async |id| {
            coupons::set_coupon_status(svc, &caller, id, status).await
        })
        .await?;
        Ok(SetCouponStatusPayload {
            coupon: coupon.map(Coupon),
            user_errors,
        })
    }

    /// Deletes a coupon and its codes. Refused once the coupon has been redeemed:
    /// archive it instead.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn delete_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon to delete.")] input: DeleteCouponInput,
    ) -> Result<DeleteCouponPayload, ApiError> {
        let (svc, caller) = (services(ctx)?, caller(ctx)?);
        let (done, user_errors) = on_coupon(&input.id, "id", async |id| {
            coupons::delete_coupon(svc, &caller, id).await
        })
        .await?;
        Ok(DeleteCouponPayload {
            deleted_coupon_id: done.map(|()| input.id),
            user_errors,
        })
    }

    /// Adds codes to a coupon: all of them, or none when any is invalid or taken.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn add_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon and the codes to add.")] input: AddCodesInput,
    ) -> Result<AddCodesPayload, ApiError> {
        let (svc, caller) = (services(ctx)?, caller(ctx)?);
        let usage_limit = input.usage_limit.map(i64::from);
        let (added, user_errors) = on_coupon(&input.coupon_id, "couponId", async |id| {
            coupons::add_codes(svc, &caller, id, &input.codes, usage_limit).await
        })
        .await?;
        let (coupon, codes) = match added {
            Some((coupon, codes)) => (
                Some(Coupon(coupon)),
                codes.into_iter().map(CouponCode).collect(),
            ),
            None => (None, Vec::new()),
        };
        Ok(AddCodesPayload {
            coupon,
            codes,
            user_errors,
        })
    }
}
