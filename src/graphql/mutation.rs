//! Mutations. Each parses its input, calls one service function, and maps the result
//! into a payload with `userErrors`.

use async_graphql::{Context, ID, Object, Result};
use coupons_domain::CouponId;

use super::error::{ApiError, CouponErrorCode, CouponUserError, user_errors};
use super::guard::{ADMIN, RoleGuard};
use super::ids::{self, Kind};
use super::inputs::{
    AddCodesInput, AddCodesPayload, CreateApiKeyInput, CreateApiKeyPayload, CreateCouponInput,
    CreateCouponPayload, DeleteCouponInput, DeleteCouponPayload, SetCouponStatusInput,
    SetCouponStatusPayload, UpdateCouponInput, UpdateCouponPayload,
};
use super::types::{ApiKey, Coupon, CouponCode};
use crate::auth;
use crate::service::coupons::{self, NewCoupon};
use crate::service::{ServiceError, Services};

/// The root of all changes.
#[derive(Default)]
pub struct Mutation;

/// Decodes a coupon ID, or says which input field held a bad one.
fn coupon_id(id: &ID, field: &str) -> Result<CouponId, Vec<CouponUserError>> {
    ids::decode(Kind::Coupon, id).map(CouponId).ok_or_else(|| {
        vec![CouponUserError::new(
            &["input", field],
            CouponErrorCode::NotFound,
            "coupon not found",
        )]
    })
}

/// Splits a service result into (value, userErrors), or a top-level error for faults.
fn split<T>(
    result: Result<T, ServiceError>,
    id_field: &str,
) -> Result<(Option<T>, Vec<CouponUserError>), ApiError> {
    match result {
        Ok(v) => Ok((Some(v), Vec::new())),
        Err(e) => Ok((None, user_errors(e, id_field)?)),
    }
}

/// The root of all changes.
#[Object]
impl Mutation {
    /// Creates a coupon, with its first code if one is given.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new coupon.")] input: CreateCouponInput,
    ) -> Result<CreateCouponPayload> {
        let svc = ctx.data::<Services>()?;
        let (draft, code, status) = input.into_parts();
        let (coupon, user_errors) = split(
            coupons::create_coupon(
                svc,
                NewCoupon {
                    draft,
                    code,
                    status,
                },
            )
            .await,
            "id",
        )?;
        Ok(CreateCouponPayload {
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
    ) -> Result<UpdateCouponPayload> {
        let svc = ctx.data::<Services>()?;
        let id = match coupon_id(&input.id, "id") {
            Ok(id) => id,
            Err(user_errors) => {
                return Ok(UpdateCouponPayload {
                    coupon: None,
                    user_errors,
                });
            }
        };
        let (coupon, user_errors) = split(
            coupons::update_coupon(svc, id, input.into_patch()).await,
            "id",
        )?;
        Ok(UpdateCouponPayload {
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
    ) -> Result<SetCouponStatusPayload> {
        let svc = ctx.data::<Services>()?;
        let id = match coupon_id(&input.id, "id") {
            Ok(id) => id,
            Err(user_errors) => {
                return Ok(SetCouponStatusPayload {
                    coupon: None,
                    user_errors,
                });
            }
        };
        let (coupon, user_errors) = split(
            coupons::set_coupon_status(svc, id, input.status.into()).await,
            "id",
        )?;
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
    ) -> Result<DeleteCouponPayload> {
        let svc = ctx.data::<Services>()?;
        let id = match coupon_id(&input.id, "id") {
            Ok(id) => id,
            Err(user_errors) => {
                return Ok(DeleteCouponPayload {
                    deleted_coupon_id: None,
                    user_errors,
                });
            }
        };
        let (done, user_errors) = split(coupons::delete_coupon(svc, id).await, "id")?;
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
    ) -> Result<AddCodesPayload> {
        let svc = ctx.data::<Services>()?;
        let id = match coupon_id(&input.coupon_id, "couponId") {
            Ok(id) => id,
            Err(user_errors) => {
                return Ok(AddCodesPayload {
                    coupon: None,
                    codes: Vec::new(),
                    user_errors,
                });
            }
        };
        let result =
            coupons::add_codes(svc, id, &input.codes, input.usage_limit.map(i64::from)).await;
        let (added, user_errors) = split(result, "couponId")?;
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

    /// Creates an API key. The key is in this response only.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new key's name and role.")] input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload> {
        let svc = ctx.data::<Services>()?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Ok(CreateApiKeyPayload {
                api_key: None,
                secret: None,
                user_errors: vec![CouponUserError::new(
                    &["input", "name"],
                    if name.is_empty() {
                        CouponErrorCode::Blank
                    } else {
                        CouponErrorCode::TooLong
                    },
                    "name must be 1 to 200 characters",
                )],
            });
        }
        let created = auth::create_api_key(&svc.db, name, input.role.into())
            .await
            .map_err(|e| ApiError::internal(&e))?;
        Ok(CreateApiKeyPayload {
            api_key: Some(ApiKey(created.stored)),
            secret: Some(created.secret),
            user_errors: Vec::new(),
        })
    }
}
