//! Webhook endpoints and deliveries: types, inputs and resolvers. The root fields in
//! `query.rs` and `mutation.rs` call into here; all are for admins.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Result, SimpleObject};

use super::caller;
use super::error::{ApiError, CouponErrorCode, CouponUserError, optional_text, query_error};
use super::ids::{self, Kind};
use super::scalars::DateTime;
use super::subscription::{CouponEvent, CouponEventType};
use super::types::{Page, after_id, page_size};
use crate::service::{Services, coupons, webhooks};
use crate::storage::{
    DeliveryFilter, DeliveryStatus, EndpointChange, EventType, NewEndpoint, StoredAttempt,
    StoredDelivery, StoredEndpoint, StoredEvent,
};
use crate::webhooks::new_secret;

/// Longest endpoint URL.
const URL_MAX: usize = 2_048;
/// Longest description.
const DESCRIPTION_MAX: usize = 500;

/// Where events are POSTed.
#[derive(Clone)]
pub struct WebhookEndpoint(pub Arc<StoredEndpoint>);

/// Where events are POSTed, signed with the endpoint's secret. See the README for the
/// request headers and how to check the signature.
#[async_graphql::Object]
impl WebhookEndpoint {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ids::encode(Kind::WebhookEndpoint, self.0.id)
    }

    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The event types it receives; empty for every type.
    async fn event_types(&self) -> Vec<CouponEventType> {
        self.0.types().into_iter().map(Into::into).collect()
    }

    /// Only this coupon's events, if set.
    async fn coupon_id(&self) -> Option<ID> {
        self.0.coupon_id.map(|id| ids::encode(Kind::Coupon, id))
    }

    /// Whether deliveries go out. A paused endpoint's deliveries wait for it.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Failed attempts in a row.
    async fn consecutive_failures(&self) -> i64 {
        self.0.failures
    }

    /// While set and in the future, the breaker is open: no attempts go out until
    /// then, and then one trial attempt decides.
    async fn breaker_open_until(&self) -> Option<DateTime> {
        self.0.open_until.map(DateTime)
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt (or for its endpoint to be resumed).
    Pending,
    /// The endpoint answered with a 2xx status.
    Delivered,
    /// Every attempt failed; `redeliverWebhook` tries again.
    Failed,
}

/// One event for one endpoint.
#[derive(Clone)]
pub struct WebhookDelivery {
    delivery: Arc<StoredDelivery>,
    event: Arc<StoredEvent>,
}

/// One event for one endpoint, with its attempts.
#[async_graphql::Object]
impl WebhookDelivery {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ids::encode(Kind::WebhookDelivery, self.delivery.id)
    }

    /// The endpoint's ID.
    async fn endpoint_id(&self) -> ID {
        ids::encode(Kind::WebhookEndpoint, self.delivery.endpoint_id)
    }

    /// The event delivered; its `id` is sent in `Coupons-Event-Id`.
    async fn event(&self) -> CouponEvent {
        CouponEvent(self.event.clone())
    }

    /// Where it stands.
    async fn status(&self) -> Option<WebhookDeliveryStatus> {
        DeliveryStatus::parse(&self.delivery.status).map(Into::into)
    }

    /// Attempts since it was written or last redelivered by hand.
    async fn attempts(&self) -> i64 {
        self.delivery.attempts
    }

    /// When it is next attempted, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        (self.delivery.status == DeliveryStatus::Pending.as_str())
            .then_some(DateTime(self.delivery.next_attempt_at))
    }

    /// When it was last attempted.
    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.delivery.last_attempt_at.map(DateTime)
    }

    /// The HTTP status of the last attempt, if the endpoint answered.
    async fn last_status_code(&self) -> Option<i64> {
        self.delivery.last_status_code
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.delivery.last_error.as_deref()
    }

    /// When the endpoint accepted it.
    async fn delivered_at(&self) -> Option<DateTime> {
        self.delivery.delivered_at.map(DateTime)
    }

    /// When it was written.
    async fn created_at(&self) -> DateTime {
        DateTime(self.delivery.created_at)
    }

    /// Every attempt, oldest first, redeliveries included.
    async fn attempt_log(&self, ctx: &Context<'_>) -> Result<Vec<WebhookAttempt>> {
        let svc = ctx.data::<Services>()?;
        Ok(webhooks::attempts(svc, self.delivery.id)
            .await
            .map_err(query_error)?
            .into_iter()
            .map(WebhookAttempt::from)
            .collect())
    }
}

/// One POST of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// When it was sent.
    pub started_at: DateTime,
    /// Milliseconds until the answer or the failure.
    pub duration_ms: i64,
    /// The HTTP status, if the endpoint answered.
    pub status_code: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the endpoint accepted it (2xx).
    pub succeeded: bool,
}

impl From<StoredAttempt> for WebhookAttempt {
    fn from(a: StoredAttempt) -> Self {
        Self {
            started_at: DateTime(a.started_at),
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error,
            succeeded: a.succeeded,
        }
    }
}

/// Input of `createWebhookEndpoint`.
#[derive(Debug, Clone, InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where to POST events: an absolute `http` or `https` URL.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// The event types to send (every type when omitted or empty).
    pub event_types: Option<Vec<CouponEventType>>,
    /// Only this coupon's events.
    pub coupon_id: Option<ID>,
}

/// Result of `createWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct CreateWebhookEndpointPayload {
    /// The endpoint; it receives events committed from now on.
    pub webhook_endpoint: Option<WebhookEndpoint>,
    /// The signing secret. Shown only in this response: store it now.
    pub secret: Option<String>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `updateWebhookEndpoint`: fields left out are unchanged.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint's ID.
    pub id: ID,
    /// New URL.
    pub url: Option<String>,
    /// New description (empty text clears it).
    pub description: Option<String>,
    /// New event types (empty for every type).
    pub event_types: Option<Vec<CouponEventType>>,
    /// New coupon filter.
    pub coupon_id: Option<ID>,
    /// Send events to every coupon's events again.
    #[graphql(default)]
    pub all_coupons: bool,
    /// Pause (false) or resume (true). Resuming closes the breaker; the deliveries
    /// that waited go out.
    pub active: Option<bool>,
    /// Replace the signing secret; the new one is in the response.
    #[graphql(default)]
    pub rotate_secret: bool,
}

/// Result of `updateWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct UpdateWebhookEndpointPayload {
    /// The endpoint as changed.
    pub webhook_endpoint: Option<WebhookEndpoint>,
    /// The new signing secret, when `rotateSecret` was set. Shown only here.
    pub secret: Option<String>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `deleteWebhookEndpoint`.
#[derive(Debug, Clone, InputObject)]
pub struct DeleteWebhookEndpointInput {
    /// The endpoint's ID.
    pub id: ID,
}

/// Result of `deleteWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct DeleteWebhookEndpointPayload {
    /// The deleted endpoint's ID.
    pub deleted_id: Option<ID>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `redeliverWebhook`.
#[derive(Debug, Clone, InputObject)]
pub struct RedeliverWebhookInput {
    /// The delivery to send again.
    pub delivery_id: ID,
}

/// Result of `redeliverWebhook`.
#[derive(SimpleObject)]
pub struct RedeliverWebhookPayload {
    /// The delivery, pending again with a fresh set of attempts.
    pub webhook_delivery: Option<WebhookDelivery>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct WebhookDeliveryFilter {
    /// Only this endpoint's.
    pub endpoint_id: Option<ID>,
    /// Only in this state.
    pub status: Option<WebhookDeliveryStatus>,
    /// Only of this event (its `id`, as sent in `Coupons-Event-Id`).
    pub event_id: Option<ID>,
}

fn not_found(path: &[&str], what: &str) -> Vec<CouponUserError> {
    vec![CouponUserError::new(
        path,
        CouponErrorCode::NotFound,
        format!("{what} not found"),
    )]
}

/// Checks a URL: absolute, `http` or `https`, with a host.
fn check_url(url: &str, path: &[&str]) -> Result<String, CouponUserError> {
    let url = url.trim();
    let bad = |message: &str| CouponUserError::new(path, CouponErrorCode::InvalidUrl, message);
    if url.len() > URL_MAX {
        return Err(bad(&format!("the URL is longer than {URL_MAX} characters")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the URL must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    Ok(url.to_owned())
}

/// Decodes and checks a coupon filter.
async fn check_coupon(
    svc: &Services,
    id: &ID,
    path: &[&str],
) -> Result<Result<i64, CouponUserError>> {
    let Some(n) = ids::decode(Kind::Coupon, id) else {
        return Ok(Err(CouponUserError::new(
            path,
            CouponErrorCode::NotFound,
            "coupon not found",
        )));
    };
    let exists = coupons::coupon(svc, coupons_domain::CouponId(n))
        .await
        .map_err(query_error)?
        .is_some();
    Ok(if exists {
        Ok(n)
    } else {
        Err(CouponUserError::new(
            path,
            CouponErrorCode::NotFound,
            "coupon not found",
        ))
    })
}

fn types(list: Option<Vec<CouponEventType>>) -> Option<Vec<EventType>> {
    list.map(|l| {
        let mut out: Vec<EventType> = Vec::new();
        for t in l.into_iter().map(EventType::from) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    })
}

/// `createWebhookEndpoint`.
pub async fn create(
    ctx: &Context<'_>,
    input: CreateWebhookEndpointInput,
) -> Result<CreateWebhookEndpointPayload> {
    let svc = ctx.data::<Services>()?;
    let mut errors = Vec::new();
    let url = check_url(&input.url, &["input", "url"])
        .map_err(|e| errors.push(e))
        .ok();
    let description = input
        .description
        .as_deref()
        .map(|d| optional_text(d, DESCRIPTION_MAX, &["input", "description"]))
        .transpose()
        .map_err(|e| errors.push(e))
        .ok()
        .flatten()
        .flatten();
    let coupon_id = match &input.coupon_id {
        None => None,
        Some(id) => check_coupon(svc, id, &["input", "couponId"])
            .await?
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let (Some(url), true) = (url, errors.is_empty()) else {
        return Ok(CreateWebhookEndpointPayload {
            webhook_endpoint: None,
            secret: None,
            user_errors: errors,
        });
    };
    let new = NewEndpoint {
        url,
        description,
        event_types: types(input.event_types).unwrap_or_default(),
        coupon_id,
        secret: new_secret(),
    };
    let stored = webhooks::create_endpoint(svc, &caller(ctx)?, &new)
        .await
        .map_err(query_error)?;
    Ok(CreateWebhookEndpointPayload {
        webhook_endpoint: Some(WebhookEndpoint(Arc::new(stored))),
        secret: Some(new.secret),
        user_errors: Vec::new(),
    })
}

/// `updateWebhookEndpoint`.
pub async fn update(
    ctx: &Context<'_>,
    input: UpdateWebhookEndpointInput,
) -> Result<UpdateWebhookEndpointPayload> {
    let svc = ctx.data::<Services>()?;
    let refuse = |user_errors| UpdateWebhookEndpointPayload {
        webhook_endpoint: None,
        secret: None,
        user_errors,
    };
    let Some(id) = ids::decode(Kind::WebhookEndpoint, &input.id) else {
        return Ok(refuse(not_found(&["input", "id"], "webhook endpoint")));
    };
    let mut errors = Vec::new();
    let url = match &input.url {
        None => None,
        Some(u) => check_url(u, &["input", "url"])
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let description = match input.description {
        None => None,
        Some(d) => optional_text(&d, DESCRIPTION_MAX, &["input", "description"])
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let coupon_id = match (&input.coupon_id, input.all_coupons) {
        (Some(_), true) => {
            errors.push(CouponUserError::new(
                &["input", "allCoupons"],
                CouponErrorCode::InvalidLimit,
                "give couponId or allCoupons, not both",
            ));
            None
        }
        (Some(c), false) => check_coupon(svc, c, &["input", "couponId"])
            .await?
            .map_err(|e| errors.push(e))
            .ok()
            .map(Some),
        (None, true) => Some(None),
        (None, false) => None,
    };
    if !errors.is_empty() {
        return Ok(refuse(errors));
    }
    let secret = input.rotate_secret.then(new_secret);
    let change = EndpointChange {
        url,
        description,
        event_types: types(input.event_types),
        coupon_id,
        active: input.active,
        secret: secret.clone(),
    };
    let changed = webhooks::update_endpoint(svc, &caller(ctx)?, id, &change)
        .await
        .map_err(query_error)?;
    Ok(match changed {
        Some(e) => UpdateWebhookEndpointPayload {
            webhook_endpoint: Some(WebhookEndpoint(Arc::new(e))),
            secret,
            user_errors: Vec::new(),
        },
        None => refuse(not_found(&["input", "id"], "webhook endpoint")),
    })
}

/// `deleteWebhookEndpoint`.
pub async fn delete(
    ctx: &Context<'_>,
    input: DeleteWebhookEndpointInput,
) -> Result<DeleteWebhookEndpointPayload> {
    let svc = ctx.data::<Services>()?;
    let gone = DeleteWebhookEndpointPayload {
        deleted_id: None,
        user_errors: not_found(&["input", "id"], "webhook endpoint"),
    };
    let Some(id) = ids::decode(Kind::WebhookEndpoint, &input.id) else {
        return Ok(gone);
    };
    let deleted = webhooks::delete_endpoint(svc, &caller(ctx)?, id)
        .await
        .map_err(query_error)?;
    Ok(match deleted {
        Some(_) => DeleteWebhookEndpointPayload {
            deleted_id: Some(ids::encode(Kind::WebhookEndpoint, id)),
            user_errors: Vec::new(),
        },
        None => gone,
    })
}

/// `redeliverWebhook`.
pub async fn redeliver(
    ctx: &Context<'_>,
    input: RedeliverWebhookInput,
) -> Result<RedeliverWebhookPayload> {
    let svc = ctx.data::<Services>()?;
    let gone = || RedeliverWebhookPayload {
        webhook_delivery: None,
        user_errors: not_found(&["input", "deliveryId"], "webhook delivery"),
    };
    let Some(id) = ids::decode(Kind::WebhookDelivery, &input.delivery_id) else {
        return Ok(gone());
    };
    let Some((delivery, event)) = webhooks::redeliver(svc, &caller(ctx)?, id)
        .await
        .map_err(query_error)?
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

/// `webhookEndpoints`.
pub async fn endpoints(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<WebhookEndpoint>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let rows = webhooks::list_endpoints(svc, after, limit as i64 + 1)
        .await
        .map_err(query_error)?;
    Ok(Page::from_rows(
        rows,
        limit,
        after,
        |e| e.id,
        |e| WebhookEndpoint(Arc::new(e)),
    ))
}

/// `webhookDeliveries`: newest first.
pub async fn deliveries(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<WebhookDeliveryFilter>,
) -> Result<Page<WebhookDelivery>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let filter = filter.unwrap_or_default();
    let bad = |what: &str, id: &ID| ApiError::BadUserInput(format!("{:?} is not {what}", id.0));
    let endpoint_id = match &filter.endpoint_id {
        None => None,
        Some(id) => Some(
            ids::decode(Kind::WebhookEndpoint, id)
                .ok_or_else(|| bad("a webhook endpoint ID", id))?,
        ),
    };
    let event_id = match &filter.event_id {
        None => None,
        Some(id) => Some(
            id.0.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("an event ID", id))?,
        ),
    };
    let storage_filter = DeliveryFilter {
        endpoint_id,
        status: filter.status.map(Into::into),
        event_id,
    };
    let rows = webhooks::list_deliveries(svc, &storage_filter, after, limit as i64 + 1)
        .await
        .map_err(query_error)?;
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
