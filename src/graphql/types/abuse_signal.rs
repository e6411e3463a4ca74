//! `AbuseSignal`: what abuse detection raised, on what evidence, and what it did.

use std::sync::Arc;

use async_graphql::{Enum, ID, Json, Object};
use coupons_domain::abuse::{AbuseAction as DomainAction, SignalKind};

use crate::graphql::global_id;
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::abuse::StoredSignal;

/// A kind of abuse (`docs/abuse.md` defines each and its threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "SignalKind")]
pub enum AbuseSignalKind {
    /// One code used by many more distinct customers in the window than it ever was.
    LeakedCode,
    /// Failed checks from many addresses, each trying several codes.
    GuessingCampaign,
    /// Several customers sharing a device, payment instrument, shipping address or
    /// mailbox redeeming one coupon.
    FarmedAccounts,
    /// A coupon used far faster than its own normal rate.
    Velocity,
}

/// What detection does by itself when it raises a signal about a coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "DomainAction")]
pub enum AbuseAction {
    /// Raise the signal and send `ABUSE_SIGNAL_RAISED`; change nothing.
    Alert,
    /// Also bind the `customer_id_required` rule: orders must name the customer's id.
    RequireCustomer,
    /// Also allow each customer one use (a per-customer limit of 1).
    StepUpLimits,
    /// Also pause the coupon.
    Pause,
}

/// Whether a signal still wants attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum AbuseSignalStatus {
    /// Raised, not yet resolved: no other signal of its kind and scope is raised.
    Open,
    /// Resolved by an admin.
    Resolved,
}

impl AbuseSignalStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// A signal abuse detection raised.
#[derive(Clone)]
pub struct AbuseSignal(pub Arc<StoredSignal>);

/// A signal abuse detection raised.
#[Object]
impl AbuseSignal {
    /// Its ID.
    async fn id(&self) -> ID {
        global_id(Kind::AbuseSignal, self.0.id)
    }

    /// What kind of abuse.
    async fn kind(&self) -> Option<AbuseSignalKind> {
        self.0.kind.parse::<SignalKind>().ok().map(Into::into)
    }

    /// The coupon it is about; null for a guessing campaign (or a deleted coupon).
    async fn coupon_id(&self) -> Option<ID> {
        self.0.coupon_id.map(|id| global_id(Kind::Coupon, id))
    }

    /// The counts it was raised on, with the thresholds they passed.
    async fn evidence(&self) -> Json<serde_json::Value> {
        Json(self.0.evidence.clone())
    }

    /// Keyed hashes of the customers (farmed accounts) or client addresses (guessing)
    /// it names: compare them with `customerKey` in exports, never reversible.
    async fn flagged(&self) -> Vec<String> {
        self.0
            .flagged
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The action taken when it was raised.
    async fn action(&self) -> Option<AbuseAction> {
        self.0.action.parse::<DomainAction>().ok().map(Into::into)
    }

    /// What the action changed on the coupon, which `resolveAbuseSignal(undo: true)`
    /// puts back; null when it changed nothing.
    async fn changed(&self) -> Option<Json<serde_json::Value>> {
        self.0.undo.clone().map(Json)
    }

    /// Open or resolved.
    async fn status(&self) -> AbuseSignalStatus {
        if self.0.status == AbuseSignalStatus::Open.as_str() {
            AbuseSignalStatus::Open
        } else {
            AbuseSignalStatus::Resolved
        }
    }

    /// When it was raised.
    async fn raised_at(&self) -> DateTime {
        DateTime(self.0.raised_at)
    }

    /// When an admin resolved it.
    async fn resolved_at(&self) -> Option<DateTime> {
        self.0.resolved_at.map(DateTime)
    }
}
