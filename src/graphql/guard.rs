//! Role checks on fields. Every field that reads or changes data names the roles that
//! may use it; a request without a valid key is `UNAUTHENTICATED`, a key of another
//! role `FORBIDDEN`.

use async_graphql::{Context, Guard, Result};

use super::error::ApiError;
use crate::auth::{Caller, Role};

/// Only admins.
pub const ADMIN: &[Role] = &[Role::Admin];
/// Admins and analysts (read-only views of coupons).
pub const READERS: &[Role] = &[Role::Admin, Role::Analyst];
/// Checkout calls that change usage: reserve, redeem, release, reverse.
pub const CHECKOUT: &[Role] = &[Role::Admin, Role::Storefront];
/// Validation of a code against an order.
pub const VALIDATE: &[Role] = &[Role::Admin, Role::Storefront, Role::Public];
/// Coupon events: everyone but browser widgets.
pub const EVENTS: &[Role] = &[Role::Admin, Role::Analyst, Role::Storefront];
/// Any valid key.
pub const ANY_KEY: &[Role] = &Role::ALL;

/// Allows the listed roles.
pub struct RoleGuard(&'static [Role]);

impl RoleGuard {
    /// A guard for these roles.
    pub fn new(roles: &'static [Role]) -> Self {
        Self(roles)
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        match ctx.data_opt::<Caller>() {
            None => Err(ApiError::Unauthenticated.into()),
            Some(p) if self.0.contains(&p.role) => Ok(()),
            Some(_) => Err(ApiError::Forbidden(self.0).into()),
        }
    }
}
