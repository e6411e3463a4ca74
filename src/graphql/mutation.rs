//! Mutations. Each parses its input, calls one service function, and maps the result
//! into a payload with `userErrors`.

use async_graphql::{Context, ID, Object, Result};
use coupons_domain::CouponId;

use super::error::{
    ApiError, CouponErrorCode, CouponUserError, key_reused, outcome_errors, query_error,
    user_errors,
};
use super::guard::{ADMIN, CHECKOUT, RoleGuard};
use super::ids::{self, Kind};
use super::inputs::{
    AddCodesInput, AddCodesPayload, CreateApiKeyInput, CreateApiKeyPayload, CreateCouponInput,
    CreateCouponPayload, DeleteCouponInput, DeleteCouponPayload, RedeemCouponInput,
    RedeemCouponPayload, ReleaseReservationInput, ReleaseReservationPayload, ReserveCouponInput,
    ReserveCouponPayload, ReverseRedemptionInput, ReverseRedemptionPayload, SetCouponStatusInput,
    SetCouponStatusPayload, UpdateCouponInput, UpdateCouponPayload,
};
use super::inputs::{PublishRuleInput, RollbackRuleInput, RulePayload, SimulateRulesInput};
use super::security::{
    self, RevokeApiKeyInput, RevokeApiKeyPayload, RotateApiKeyInput, RotateApiKeyPayload,
};
use super::types::{ApiKey, Coupon, CouponCode, CouponRejection, Redemption, Rule, RuleSimulation};
use super::webhooks;
use crate::auth::{Principal, Role};
use crate::service::checkout::{self, RedeemTarget};
use crate::service::coupons;
use crate::service::rules;
use crate::service::{ServiceError, Services, api_keys};
use crate::storage::Idempotent;
use coupons_domain::CheckoutOutcome;

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

/// Runs `call` on the coupon that `id` names; an ID that is not a coupon's gets the same
/// userError as an unknown coupon.
async fn on_coupon<T>(
    id: &ID,
    field: &str,
    call: impl AsyncFnOnce(CouponId) -> Result<T, ServiceError>,
) -> Result<(Option<T>, Vec<CouponUserError>), ApiError> {
    match coupon_id(id, field) {
        Ok(id) => split(call(id).await, field),
        Err(user_errors) => Ok((None, user_errors)),
    }
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

use super::caller;

/// Splits a checkout result into (redemption, userErrors), or a top-level error for
/// faults.
fn checkout_result(
    result: Result<Idempotent<CheckoutOutcome>, ServiceError>,
    role: Role,
    id_field: &str,
    not_found: CouponErrorCode,
) -> Result<(Option<Redemption>, Vec<CouponUserError>), ApiError> {
    match result {
        Ok(Idempotent::Fresh(outcome) | Idempotent::Replayed(outcome)) => match outcome {
            CheckoutOutcome::Applied(r) => Ok((Some(Redemption(r)), Vec::new())),
            other => Ok((None, outcome_errors(&other, role, id_field, not_found))),
        },
        Ok(Idempotent::KeyReused) => Ok((None, vec![key_reused()])),
        Err(e) => Ok((None, user_errors(e, id_field)?)),
    }
}

/// The root of all changes.
#[Object]
impl Mutation {
    /// Creates a coupon, with its first code if one is given (or made up in the
    /// configured code format). Fields left out get the server's defaults.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new coupon.")] input: CreateCouponInput,
    ) -> Result<CreateCouponPayload> {
        let svc = ctx.data::<Services>()?;
        let (coupon, user_errors) = split(
            coupons::create_coupon(svc, &caller(ctx)?, input.into_new()).await,
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
        let (svc, caller) = (ctx.data::<Services>()?, caller(ctx)?);
        let id = input.id.clone();
        let patch = input.into_patch();
        let (coupon, user_errors) = on_coupon(&id, "id", async |id| {
            coupons::update_coupon(svc, &caller, id, patch).await
        })
        .await?;
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
        let (svc, caller) = (ctx.data::<Services>()?, caller(ctx)?);
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
    ) -> Result<DeleteCouponPayload> {
        let (svc, caller) = (ctx.data::<Services>()?, caller(ctx)?);
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
    ) -> Result<AddCodesPayload> {
        let (svc, caller) = (ctx.data::<Services>()?, caller(ctx)?);
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

    /// Holds one use of a code for an order until a deadline (default from the server's
    /// configuration). Live reservations count against every limit; an expired one gives
    /// its use back by itself.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn reserve_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code, the order, and an idempotency key.")] input: ReserveCouponInput,
    ) -> Result<ReserveCouponPayload> {
        let (svc, principal) = (ctx.data::<Services>()?, ctx.data::<Principal>()?);
        let result = checkout::reserve(
            svc,
            &caller(ctx)?,
            &input.code,
            input.order.into(),
            input.hold_minutes.map(i64::from),
            &input.idempotency_key,
        )
        .await;
        let (reservation, user_errors) = checkout_result(
            result,
            principal.role,
            "reservationId",
            CouponErrorCode::ReservationNotFound,
        )?;
        Ok(ReserveCouponPayload {
            reservation,
            user_errors,
        })
    }

    /// Redeems a code for an order, or a reservation made earlier. The limits are checked
    /// and the use recorded in one transaction; retries with the same idempotency key get
    /// the first response.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn redeem_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A reservation, or a code and an order; and an idempotency key.")]
        input: RedeemCouponInput,
    ) -> Result<RedeemCouponPayload> {
        let (svc, principal) = (ctx.data::<Services>()?, ctx.data::<Principal>()?);
        let target = match (input.reservation_id, input.code, input.order) {
            (Some(id), None, None) => match ids::decode(Kind::Redemption, &id) {
                Some(n) => RedeemTarget::Reservation(n),
                None => {
                    let user_errors = vec![CouponUserError::new(
                        &["input", "reservationId"],
                        CouponErrorCode::ReservationNotFound,
                        "not found",
                    )];
                    return Ok(RedeemCouponPayload {
                        redemption: None,
                        user_errors,
                    });
                }
            },
            (None, Some(code), Some(order)) => RedeemTarget::Code {
                code,
                order: Box::new(order.into()),
            },
            _ => {
                let user_errors = vec![CouponUserError::new(
                    &["input"],
                    CouponErrorCode::TooMany,
                    "give either reservationId, or code and order",
                )];
                return Ok(RedeemCouponPayload {
                    redemption: None,
                    user_errors,
                });
            }
        };
        let result = checkout::redeem(svc, &caller(ctx)?, target, &input.idempotency_key).await;
        let (redemption, user_errors) = checkout_result(
            result,
            principal.role,
            "reservationId",
            CouponErrorCode::ReservationNotFound,
        )?;
        Ok(RedeemCouponPayload {
            redemption,
            user_errors,
        })
    }

    /// Gives a reservation's use back at once. Releasing twice is harmless.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn release_reservation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reservation.")] input: ReleaseReservationInput,
    ) -> Result<ReleaseReservationPayload> {
        let (svc, principal) = (ctx.data::<Services>()?, ctx.data::<Principal>()?);
        let Some(id) = ids::decode(Kind::Redemption, &input.reservation_id) else {
            let user_errors = vec![CouponUserError::new(
                &["input", "reservationId"],
                CouponErrorCode::ReservationNotFound,
                "not found",
            )];
            return Ok(ReleaseReservationPayload {
                reservation: None,
                user_errors,
            });
        };
        let result = checkout::release(svc, &caller(ctx)?, id)
            .await
            .map(Idempotent::Fresh);
        let (reservation, user_errors) = checkout_result(
            result,
            principal.role,
            "reservationId",
            CouponErrorCode::ReservationNotFound,
        )?;
        Ok(ReleaseReservationPayload {
            reservation,
            user_errors,
        })
    }

    /// Records a refund of all or part of a redemption's discount. A full reversal gives
    /// the use back when the coupon's reversal policy is RESTORE_USAGE.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn reverse_redemption(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The redemption, the refunded part, and an idempotency key.")]
        input: ReverseRedemptionInput,
    ) -> Result<ReverseRedemptionPayload> {
        let (svc, principal) = (ctx.data::<Services>()?, ctx.data::<Principal>()?);
        let Some(id) = ids::decode(Kind::Redemption, &input.redemption_id) else {
            let user_errors = vec![CouponUserError::new(
                &["input", "redemptionId"],
                CouponErrorCode::RedemptionNotFound,
                "not found",
            )];
            return Ok(ReverseRedemptionPayload {
                redemption: None,
                user_errors,
            });
        };
        let result = checkout::reverse(
            svc,
            &caller(ctx)?,
            id,
            input.refunded_discount.map(|d| d.0),
            &input.idempotency_key,
        )
        .await;
        let (redemption, user_errors) = checkout_result(
            result,
            principal.role,
            "redemptionId",
            CouponErrorCode::RedemptionNotFound,
        )?;
        Ok(ReverseRedemptionPayload {
            redemption,
            user_errors,
        })
    }

    /// Publishes a new version of a rule: it must compile and pass its own examples. It
    /// is in force at once here, and on every instance sharing the database within a
    /// second.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn publish_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's name and source.")] input: PublishRuleInput,
    ) -> Result<RulePayload> {
        let svc = ctx.data::<Services>()?;
        let result = rules::publish_rule(svc, &caller(ctx)?, &input.name, &input.source).await;
        let (rule, user_errors) = split(result, "name")?;
        Ok(RulePayload {
            rule: rule.map(Rule),
            user_errors,
        })
    }

    /// Puts an earlier published version of a rule back in force.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn rollback_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's name and the version to restore.")] input: RollbackRuleInput,
    ) -> Result<RulePayload> {
        let svc = ctx.data::<Services>()?;
        let result =
            rules::rollback_rule(svc, &caller(ctx)?, &input.name, i64::from(input.version)).await;
        let (rule, user_errors) = split(result, "name")?;
        Ok(RulePayload {
            rule: rule.map(Rule),
            user_errors,
        })
    }

    /// Runs rules against an order and reports each rule's verdict, message and time.
    /// Writes nothing.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn simulate_rules(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to run, and the order.")] input: SimulateRulesInput,
    ) -> Result<RuleSimulation> {
        let svc = ctx.data::<Services>()?;
        let target = match (input.code, input.coupon_id, input.source) {
            (Some(code), None, None) => rules::SimulationTarget::Code(code),
            (None, Some(id), None) => match ids::decode(Kind::Coupon, &id) {
                Some(n) => rules::SimulationTarget::Coupon(CouponId(n)),
                None => rules::SimulationTarget::Code(String::new()),
            },
            (None, None, Some(source)) => rules::SimulationTarget::Draft {
                source,
                params: input.params.map_or_else(|| serde_json::json!({}), |p| p.0),
            },
            _ => {
                return Err(ApiError::BadUserInput(
                    "give exactly one of code, couponId and source".into(),
                )
                .into());
            }
        };
        let empty = || RuleSimulation {
            discount: None,
            reasons: Vec::new(),
            results: Vec::new(),
            user_errors: Vec::new(),
        };
        Ok(
            match rules::simulate(svc, &caller(ctx)?, target, input.order.into()).await {
                Ok(s) => RuleSimulation {
                    discount: s.discount.map(Into::into),
                    reasons: s.refused.into_iter().map(CouponRejection::from).collect(),
                    results: s.runs.into_iter().map(Into::into).collect(),
                    user_errors: Vec::new(),
                },
                Err(e) => RuleSimulation {
                    user_errors: user_errors(e, "code")?,
                    ..empty()
                },
            },
        )
    }

    /// Creates a campaign, a named group of coupons.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Name and description.")] input: super::campaigns::CreateCampaignInput,
    ) -> Result<super::campaigns::CampaignPayload> {
        super::campaigns::create(ctx, input).await
    }

    /// Renames a campaign or changes its description.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign and what to change.")]
        input: super::campaigns::UpdateCampaignInput,
    ) -> Result<super::campaigns::CampaignPayload> {
        super::campaigns::update(ctx, input).await
    }

    /// Queues the generation of unique codes for a coupon, run in the background: follow
    /// it with `bulkJob(id)` or the `bulkJobProgress(id)` subscription. A pattern with
    /// too little room for the count is refused before anything is written.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn generate_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon, how many codes, their pattern and usage limit.")]
        input: super::jobs::GenerateCodesInput,
    ) -> Result<super::jobs::GenerateCodesPayload> {
        super::jobs::generate(ctx, input).await
    }

    /// Asks a bulk job to stop: a queued job is cancelled at once, a running one before
    /// its next chunk. Codes already written stay (they carry the job in `batchId`).
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn cancel_bulk_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job.")] input: super::jobs::CancelBulkJobInput,
    ) -> Result<super::jobs::CancelBulkJobPayload> {
        super::jobs::cancel(ctx, input).await
    }

    /// Puts a coupon in a campaign (out of any other), or takes it out.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn set_coupon_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon and its campaign (null for none).")]
        input: super::campaigns::SetCouponCampaignInput,
    ) -> Result<super::campaigns::SetCouponCampaignPayload> {
        super::campaigns::set_coupon_campaign(ctx, input).await
    }

    /// Registers a webhook endpoint: committed events of the chosen types are POSTed
    /// to it, signed with its secret (in this response only).
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "URL, event types and an optional coupon filter.")]
        input: webhooks::CreateWebhookEndpointInput,
    ) -> Result<webhooks::CreateWebhookEndpointPayload> {
        webhooks::create(ctx, input).await
    }

    /// Changes a webhook endpoint: URL, types, coupon filter; pauses or resumes it;
    /// replaces its secret.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and what to change.")]
        input: webhooks::UpdateWebhookEndpointInput,
    ) -> Result<webhooks::UpdateWebhookEndpointPayload> {
        webhooks::update(ctx, input).await
    }

    /// Deletes a webhook endpoint with its deliveries and their log.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint to delete.")] input: webhooks::DeleteWebhookEndpointInput,
    ) -> Result<webhooks::DeleteWebhookEndpointPayload> {
        webhooks::delete(ctx, input).await
    }

    /// Sends a delivery again (delivered or given up): it is pending from now with a
    /// fresh set of attempts. The receiver sees the same event id.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery to send again.")] input: webhooks::RedeliverWebhookInput,
    ) -> Result<webhooks::RedeliverWebhookPayload> {
        webhooks::redeliver(ctx, input).await
    }

    /// Revokes an API key: every instance refuses it from the next request on.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to revoke.")] input: RevokeApiKeyInput,
    ) -> Result<RevokeApiKeyPayload> {
        security::revoke(ctx, input).await
    }

    /// Replaces an API key by a new one with the same name, role and channels. The old
    /// key keeps working for `graceMinutes`, then is refused. The new key is in this
    /// response only.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to replace and the grace period of the old one.")]
        input: RotateApiKeyInput,
    ) -> Result<RotateApiKeyPayload> {
        security::rotate(ctx, input).await
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
        let channels = match coupons_domain::Channels::new(&input.channels) {
            Ok(c) => c.as_slice().to_vec(),
            Err(invalid) => {
                return Ok(CreateApiKeyPayload {
                    api_key: None,
                    secret: None,
                    user_errors: invalid.0.into_iter().map(Into::into).collect(),
                });
            }
        };
        let created =
            api_keys::create_api_key(svc, &caller(ctx)?, name, input.role.into(), &channels)
                .await
                .map_err(query_error)?;
        Ok(CreateApiKeyPayload {
            api_key: Some(ApiKey(created.stored)),
            secret: Some(created.secret),
            user_errors: Vec::new(),
        })
    }
}
