//! Abuse detection: the signals raised, the action per coupon or campaign, resolving a
//! signal (and putting back what its action changed).

use std::sync::Arc;

use async_graphql::{Context, Object};

use super::optional_filter_id;
use crate::graphql::error::{ApiError, UserError, UserErrorCode};
use crate::graphql::guard::{ADMIN, READERS, RoleGuard};
use crate::graphql::inputs::{
    AbuseSignalFilter, ResolveAbuseSignalInput, ResolveAbuseSignalPayload, SetAbuseActionInput,
    SetAbuseActionPayload,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::AbuseSignal;
use crate::graphql::{caller, services};
use crate::ids::{self, Kind};
use crate::service::abuse::{self, ResolveRefusal};
use crate::storage::abuse::{ActionTarget, SignalFilter};

/// Abuse detection's reads.
#[derive(Default)]
pub struct AbuseQuery;

/// Abuse detection's reads.
#[Object]
impl AbuseQuery {
    /// The abuse signals raised, newest first (`docs/abuse.md` defines each kind).
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn abuse_signals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which signals to list.")] filter: Option<AbuseSignalFilter>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<AbuseSignal>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let f = filter.unwrap_or_default();
        let filter = SignalFilter {
            kind: f.kind.map(|k| {
                coupons_domain::abuse::SignalKind::from(k)
                    .as_str()
                    .to_owned()
            }),
            coupon_id: optional_filter_id(Kind::Coupon, f.coupon_id.as_ref(), "a coupon ID")?,
            status: f.status.map(|s| s.as_str().to_owned()),
            since: f.since.map(|t| t.0),
        };
        let rows = abuse::signals(services(ctx)?, filter, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(
            rows,
            limit,
            after,
            |s| s.id,
            |s| AbuseSignal(Arc::new(s)),
        ))
    }
}

/// Abuse detection's changes.
#[derive(Default)]
pub struct AbuseMutation;

/// Abuse detection's changes.
#[Object]
impl AbuseMutation {
    /// Sets what detection does by itself when it raises a signal about a coupon, for
    /// one coupon or for the coupons of a campaign that have no action of their own.
    /// Audited.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn set_abuse_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon or campaign, and the action.")] input: SetAbuseActionInput,
    ) -> Result<SetAbuseActionPayload, ApiError> {
        let refused = |field: &str, code, message: &str| SetAbuseActionPayload {
            action: None,
            user_errors: vec![UserError::new(&["input", field], code, message)],
        };
        let target = match (&input.coupon_id, &input.campaign_id) {
            (Some(id), None) => match ids::decode(Kind::Coupon, id) {
                Some(id) => ActionTarget::Coupon(id),
                None => {
                    return Ok(refused(
                        "couponId",
                        UserErrorCode::NotFound,
                        "coupon not found",
                    ));
                }
            },
            (None, Some(id)) => match ids::decode(Kind::Campaign, id) {
                Some(id) => ActionTarget::Campaign(id),
                None => {
                    return Ok(refused(
                        "campaignId",
                        UserErrorCode::NotFound,
                        "campaign not found",
                    ));
                }
            },
            _ => {
                return Ok(refused(
                    "couponId",
                    UserErrorCode::TargetAmbiguous,
                    "name exactly one of couponId and campaignId",
                ));
            }
        };
        let svc = services(ctx)?;
        let action = input.action.map(Into::into);
        if !abuse::set_action(svc, target, action, &caller(ctx)?.actor()).await? {
            let field = match target {
                ActionTarget::Coupon(_) => "couponId",
                ActionTarget::Campaign(_) => "campaignId",
            };
            return Ok(refused(field, UserErrorCode::NotFound, "not found"));
        }
        Ok(SetAbuseActionPayload {
            action: Some(action.unwrap_or(svc.abuse.default_action).into()),
            user_errors: Vec::new(),
        })
    }

    /// Resolves an open signal, which lets detection raise another of its kind and
    /// scope; with `undo`, first puts back what its action changed on the coupon.
    /// Audited.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn resolve_abuse_signal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The signal, and whether to undo its action.")]
        input: ResolveAbuseSignalInput,
    ) -> Result<ResolveAbuseSignalPayload, ApiError> {
        let refused = |code, message: &str| ResolveAbuseSignalPayload {
            signal: None,
            undone: false,
            user_errors: vec![UserError::new(&["input", "id"], code, message)],
        };
        let Some(id) = ids::decode(Kind::AbuseSignal, &input.id) else {
            return Ok(refused(UserErrorCode::SignalNotFound, "signal not found"));
        };
        let done = abuse::resolve(services(ctx)?, id, input.undo, &caller(ctx)?.actor()).await?;
        Ok(match done {
            Ok((signal, undone)) => ResolveAbuseSignalPayload {
                signal: Some(AbuseSignal(Arc::new(signal))),
                undone,
                user_errors: Vec::new(),
            },
            Err(ResolveRefusal::NotFound) => {
                refused(UserErrorCode::SignalNotFound, "signal not found")
            }
            Err(ResolveRefusal::AlreadyResolved) => refused(
                UserErrorCode::SignalResolved,
                "the signal is resolved already",
            ),
        })
    }
}
