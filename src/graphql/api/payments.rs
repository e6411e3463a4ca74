//! Payment hand-off reads: the balance assertions.

use async_graphql::{Context, Object};

use crate::graphql::error::ApiError;
use crate::graphql::guard::{ADMIN, RoleGuard};
use crate::graphql::services;
use crate::graphql::types::BalanceAssertions;
use crate::service::payments;

/// Payment reads.
#[derive(Default)]
pub struct PaymentQuery;

/// Payment reads.
#[Object]
impl PaymentQuery {
    /// Every order paid through Stripe or Braintree whose coupon books disagree with the
    /// provider's events: what `coupons reconcile --payments` reports. Admins only.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn balance_assertions(&self, ctx: &Context<'_>) -> Result<BalanceAssertions, ApiError> {
        let (checked, unbalanced) = payments::balance(services(ctx)?).await?;
        Ok(BalanceAssertions {
            checked,
            unbalanced,
        })
    }
}
