//! Webhook endpoints and deliveries: register, change, delete, redeliver; list them.
//! All for admins.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};

use super::{optional_filter_id, split};
use crate::graphql::error::{ApiError, UserError, UserErrorCode};
use crate::graphql::guard::{ADMIN, RoleGuard};
use crate::graphql::inputs::{
    CreateWebhookEndpointInput, CreateWebhookEndpointPayload, DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload, RedeliverWebhookInput, RedeliverWebhookPayload,
    UpdateWebhookEndpointInput, UpdateWebhookEndpointPayload, WebhookDeliveryFilter,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::{CouponEventType, WebhookDelivery, WebhookEndpoint};
use crate::graphql::{caller, global_id, services};
use crate::ids::{self, Kind};
use crate::service::webhooks::{self, EndpointInput};
use crate::storage::{DeliveryFilter, EventType};

/// Webhook reads.
#[derive(Default)]
pub struct WebhookQuery;

/// Webhook reads.
#[Object]
impl WebhookQuery {
    /// Webhook endpoints, oldest first.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<WebhookEndpoint>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let rows = webhooks::list_endpoints(services(ctx)?, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(
            rows,
            limit,
            after,
            |e| e.id,
            |e| WebhookEndpoint(Arc::new(e)),
        ))
    }

    /// The webhook delivery log, newest first: each event for each endpoint, where it
    /// stands, and every attempt.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which deliveries to list.")] filter: Option<WebhookDeliveryFilter>,
    ) -> Result<Page<WebhookDelivery>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let filter = filter.unwrap_or_default();
        let event_id = match &filter.event_id {
            None => None,
            Some(id) => Some(
                id.0.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ApiError::BadUserInput(format!("{:?} is not an event ID", id.0))
                    })?,
            ),
        };
        let filter = DeliveryFilter {
            endpoint_id: optional_filter_id(
                Kind::WebhookEndpoint,
                filter.endpoint_id.as_ref(),
                "a webhook endpoint ID",
            )?,
            status: filter.status.map(Into::into),
            event_id,
        };
        let rows =
            webhooks::list_deliveries(services(ctx)?, &filter, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(
            rows,
            limit,
            after,
            |(d, _)| d.id,
            |(d, e)| WebhookDelivery {
                delivery: Arc::new(d),
                event: Arc::new(e),
            },
        ))
    }
}

/// Webhook changes.
#[derive(Default)]
pub struct WebhookMutation;

fn not_found(path: &[&str], what: &str) -> Vec<UserError> {
    vec![UserError::new(
        path,
        UserErrorCode::NotFound,
        format!("{what} not found"),
    )]
}

/// The stored event types of a list given; `None` when none is given.
fn event_types(list: Option<Vec<CouponEventType>>) -> Option<Vec<EventType>> {
    list.map(|l| l.into_iter().map(EventType::from).collect())
}

/// The coupon filter given: its row id, `None` for an ID that names no coupon.
fn coupon(id: Option<&ID>) -> Option<Option<i64>> {
    id.map(|id| ids::decode(Kind::Coupon, id))
}

/// Webhook changes.
#[Object]
impl WebhookMutation {
    /// Registers a webhook endpoint: committed events of the chosen types are POSTed
    /// to it, signed with its secret (in this response only).
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "URL, event types and an optional coupon filter.")]
        input: CreateWebhookEndpointInput,
    ) -> Result<CreateWebhookEndpointPayload, ApiError> {
        let input = EndpointInput {
            coupon: coupon(input.coupon_id.as_ref()),
            url: Some(input.url),
            description: input.description,
            event_types: event_types(input.event_types),
            ..EndpointInput::default()
        };
        let registered = webhooks::register_endpoint(services(ctx)?, &caller(ctx)?, input).await;
        let (registered, user_errors) = split(registered, "couponId")?;
        let (endpoint, secret) = registered.unzip();
        Ok(CreateWebhookEndpointPayload {
            webhook_endpoint: endpoint.map(|e| WebhookEndpoint(Arc::new(e))),
            secret,
            user_errors,
        })
    }

    /// Changes a webhook endpoint: URL, types, coupon filter; pauses or resumes it;
    /// replaces its secret.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and what to change.")] input: UpdateWebhookEndpointInput,
    ) -> Result<UpdateWebhookEndpointPayload, ApiError> {
        let refuse = |user_errors| UpdateWebhookEndpointPayload {
            webhook_endpoint: None,
            secret: None,
            user_errors,
        };
        let Some(id) = ids::decode(Kind::WebhookEndpoint, &input.id) else {
            return Ok(refuse(not_found(&["input", "id"], "webhook endpoint")));
        };
        let input = EndpointInput {
            coupon: coupon(input.coupon_id.as_ref()),
            url: input.url,
            description: input.description,
            event_types: event_types(input.event_types),
            all_coupons: input.all_coupons,
            active: input.active,
            rotate_secret: input.rotate_secret,
        };
        let changed = webhooks::change_endpoint(services(ctx)?, &caller(ctx)?, id, input).await;
        Ok(match split(changed, "couponId")? {
            (Some(Some((endpoint, secret))), _) => UpdateWebhookEndpointPayload {
                webhook_endpoint: Some(WebhookEndpoint(Arc::new(endpoint))),
                secret,
                user_errors: Vec::new(),
            },
            (Some(None), _) => refuse(not_found(&["input", "id"], "webhook endpoint")),
            (None, user_errors) => refuse(user_errors),
        })
    }

    /// Deletes a webhook endpoint with its deliveries and their log.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint to delete.")] input: DeleteWebhookEndpointInput,
    ) -> Result<DeleteWebhookEndpointPayload, ApiError> {
        let gone = || DeleteWebhookEndpointPayload {
            deleted_id: None,
            user_errors: not_found(&["input", "id"], "webhook endpoint"),
        };
        let Some(id) = ids::decode(Kind::WebhookEndpoint, &input.id) else {
            return Ok(gone());
        };
        Ok(
            match webhooks::delete_endpoint(services(ctx)?, &caller(ctx)?, id).await? {
                Some(_) => DeleteWebhookEndpointPayload {
                    deleted_id: Some(global_id(Kind::WebhookEndpoint, id)),
                    user_errors: Vec::new(),
                },
                None => gone(),
            },
        )
    }

    /// Sends a delivery again (delivered or given up): it is pending from now with a
    /// fresh set of attempts. The receiver sees the same event id.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery to send again.")] input: RedeliverWebhookInput,
    ) -> Result<RedeliverWebhookPayload, ApiError> {
        let gone = || RedeliverWebhookPayload {
            webhook_delivery: None,
            user_errors: not_found(&["input", "deliveryId"], "webhook delivery"),
        };
        let Some(id) = ids::decode(Kind::WebhookDelivery, &input.delivery_id) else {
            return Ok(gone());
        };
        let Some((delivery, event)) =
            webhooks::redeliver(services(ctx)?, &caller(ctx)?, id).await?
        else {
            return Ok(gone());
        };
        Ok(RedeliverWebhookPayload {
            webhook_delivery: event.map(|event| WebhookDelivery {
                delivery: Arc::new(delivery),
                event: Arc::new(event),
            }),
            user_errors: Vec::new(),
        })
    }
}
