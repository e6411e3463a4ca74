//! Abuse detection's inputs: the signal filter, setting an action, resolving a signal.

use async_graphql::{ID, InputObject, SimpleObject};

use crate::graphql::error::UserError;
use crate::graphql::scalars::DateTime;
use crate::graphql::types::{AbuseAction, AbuseSignal, AbuseSignalKind, AbuseSignalStatus};

/// Which signals to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct AbuseSignalFilter {
    /// Of this kind.
    pub kind: Option<AbuseSignalKind>,
    /// About this coupon.
    pub coupon_id: Option<ID>,
    /// Open or resolved.
    pub status: Option<AbuseSignalStatus>,
    /// Raised at or after.
    pub since: Option<DateTime>,
}

/// What detection does by itself about a coupon, or about the coupons of a campaign
/// that have no action of their own. Name exactly one of `couponId` and `campaignId`.
#[derive(Debug, Clone, InputObject)]
pub struct SetAbuseActionInput {
    /// The coupon.
    pub coupon_id: Option<ID>,
    /// The campaign.
    pub campaign_id: Option<ID>,
    /// The action; null: back to the service's default (`COUPONS_ABUSE_ACTION`).
    pub action: Option<AbuseAction>,
}

/// Result of `setAbuseAction`.
#[derive(SimpleObject)]
pub struct SetAbuseActionPayload {
    /// The action now in force for that coupon or campaign (the default when cleared).
    pub action: Option<AbuseAction>,
    /// Why it could not be set; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Resolves a signal.
#[derive(Debug, Clone, InputObject)]
pub struct ResolveAbuseSignalInput {
    /// The signal.
    pub id: ID,
    /// Also put back what its action changed on the coupon (resume it, remove the
    /// rule it bound, restore its per-customer limit), where the coupon was not
    /// changed that way since.
    #[graphql(default)]
    pub undo: bool,
}

/// Result of `resolveAbuseSignal`.
#[derive(SimpleObject)]
pub struct ResolveAbuseSignalPayload {
    /// The signal, resolved.
    pub signal: Option<AbuseSignal>,
    /// Whether the coupon was changed back.
    pub undone: bool,
    /// Why it could not be resolved; empty on success.
    pub user_errors: Vec<UserError>,
}
