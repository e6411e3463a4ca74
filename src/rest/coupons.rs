//! `/api/coupons`: create, read, list, replace, change and delete coupons, with ETags
//! so two admins cannot overwrite each other's changes.

use axum::extract::{Path, Query, State};
use axum::http::header::{ETAG, IF_MATCH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use coupons_domain::CouponId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{Authed, Body, Problem, RestState, parse};
use crate::graphql::guard::{ADMIN, READERS};
use crate::graphql::inputs::{CreateCouponInput, UpdateCouponInput};
use crate::graphql::scalars::{DateTime, Decimal};
use crate::graphql::types::{
    Coupon, CouponLifecycleStatus, CouponStatus, Discount, DiscountClass, Money, ReversalPolicy,
    RuleBinding, Target,
};
use crate::ids::{self, Kind};
use crate::service::coupons;
use crate::storage;

/// A coupon, as GraphQL's `Coupon` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponBody {
    /// Opaque ID (the same as in GraphQL).
    id: String,
    /// Display name.
    name: String,
    /// Longer description.
    description: Option<String>,
    /// Status now, from the lifecycle status, the window and usage.
    status: CouponStatus,
    /// Status as set by an admin.
    lifecycle_status: CouponLifecycleStatus,
    /// What it takes off.
    discount: Discount,
    /// First instant it can be used.
    starts_at: DateTime,
    /// First instant it can no longer be used; null for never.
    expires_at: Option<DateTime>,
    /// The IANA time zone its dates are read in; null: UTC.
    time_zone: Option<&'static str>,
    /// Most redemptions over all its codes; null for no cap.
    max_redemptions: Option<u32>,
    /// Most redemptions by one customer; null for no cap.
    per_customer_limit: Option<u32>,
    /// Sales channels it is limited to; empty for every channel.
    channels: Vec<String>,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    metadata: Value,
    /// Rules it applies, in order.
    rules: Vec<RuleBinding>,
    /// Smallest order subtotal in each currency, the main one first.
    min_subtotals: Vec<Money>,
    /// Smallest number of items; null for none.
    min_items: Option<i32>,
    /// The per-customer discount cap in each currency.
    max_discounts_per_customer: Vec<Money>,
    /// Cap on the order's line and order discounts, percent of the subtotal.
    max_order_discount_percent: Option<Decimal>,
    /// What part of an order it discounts.
    target: Target,
    /// Classes of discount it shares an order with; empty: alone.
    combines_with: Vec<DiscountClass>,
    /// Its place among the coupons of one order.
    priority: i32,
    /// What a full reversal does to the use it took.
    reversal_policy: ReversalPolicy,
    /// Whether it applies to every eligible cart by itself, with no code.
    automatic: bool,
    /// Redemptions that hold a use.
    redemption_count: i64,
    /// Reservations that hold a use now.
    reserved_count: i64,
    /// When it was created.
    created_at: DateTime,
    /// When it was last changed (its `ETag` comes from this).
    updated_at: DateTime,
}

impl CouponBody {
    /// The body of a coupon, with GraphQL's conversions.
    fn of(coupon: &Coupon) -> Self {
        let c = &coupon.0;
        let spec = &c.spec;
        Self {
            id: ids::encode(Kind::Coupon, c.id.0),
            name: spec.name.clone(),
            description: spec.description.clone(),
            status: c.status(chrono::Utc::now()).into(),
            lifecycle_status: c.lifecycle.into(),
            discount: Discount::of(&spec.prices),
            starts_at: DateTime(spec.window.starts_at),
            expires_at: spec.window.expires_at.map(DateTime),
            time_zone: spec.time_zone.map(coupons_domain::TimeZone::name),
            max_redemptions: spec.max_redemptions.get(),
            per_customer_limit: spec.per_customer_limit.get(),
            channels: spec.channels.as_slice().to_vec(),
            metadata: spec.metadata.as_value().clone(),
            rules: spec
                .rules
                .iter()
                .map(|r| RuleBinding {
                    name: r.name.clone(),
                    params: async_graphql::Json(r.params.clone()),
                })
                .collect(),
            min_subtotals: coupon.per_currency(|t| t.min_subtotal),
            min_items: spec.min_items.get().and_then(|n| i32::try_from(n).ok()),
            max_discounts_per_customer: coupon.per_currency(|t| t.max_discount_per_customer),
            max_order_discount_percent: spec.max_order_discount.map(|p| Decimal(p.value())),
            target: (&spec.target).into(),
            combines_with: spec
                .stacking
                .combines_with()
                .iter()
                .map(|c| (*c).into())
                .collect(),
            priority: spec.stacking.priority,
            reversal_policy: spec.reversal_policy.into(),
            automatic: spec.automatic,
            redemption_count: c.redemption_count,
            reserved_count: c.reserved_count,
            created_at: DateTime(c.created_at),
            updated_at: DateTime(c.updated_at),
        }
    }
}

/// A coupon's version as an entity tag: the instant it last changed, in microseconds.
fn etag(c: &coupons_domain::Coupon) -> HeaderValue {
    let tag = format!("\"{}\"", c.updated_at.timestamp_micros());
    HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` header names: required on `PUT` and `PATCH` (`428`
/// without it); `*` matches any version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Err(Problem::field(
            StatusCode::PRECONDITION_REQUIRED,
            &["header", "If-Match"],
            "PRECONDITION_REQUIRED",
            "send If-Match with the ETag of the coupon as you read it (or * to overwrite any version)",
        ));
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        // A tag this service never gave matches no version.
        .or(Ok(Some(i64::MIN)))
}

/// A coupon answered with its ETag.
async fn answer(status: StatusCode, coupon: coupons_domain::Coupon) -> Response {
    let tag = etag(&coupon);
    let body = CouponBody::of(&Coupon(coupon));
    let mut response = (status, axum::Json(&body)).into_response();
    response.headers_mut().insert(ETAG, tag);
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/api/coupons/{}", body.id))
    {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// The coupon an ID in a path names; an ID that is not a coupon's is not found.
fn coupon_id(id: &str) -> Result<CouponId, Problem> {
    ids::decode(Kind::Coupon, id)
        .map(CouponId)
        .ok_or_else(not_found)
}

fn not_found() -> Problem {
    Problem::field(
        StatusCode::NOT_FOUND,
        &["id"],
        "NOT_FOUND",
        "coupon not found",
    )
}

/// Create a coupon
///
/// Creates a coupon, with its first code if one is given. Fields left out get the
/// server's defaults.
#[utoipa::path(
    operation_id = "createCoupon",
    post,
    path = "/api/coupons",
    tag = "coupons",
    request_body = CreateCouponInput,
    responses(
        (status = 201, description = "Created", body = CouponBody, headers(("ETag" = String), ("Location" = String))),
        (status = 422, description = "Invalid fields, each listed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code belongs to another coupon", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(state): State<RestState>,
    authed: Authed,
    Body(input): Body<CreateCouponInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(ADMIN)?;
    let created = coupons::create_coupon(&state.services, &caller, input.into_new())
        .await
        .map_err(|e| Problem::from_service(e, "id"))?;
    Ok(answer(StatusCode::CREATED, created).await)
}

/// Read a coupon
///
/// One coupon.
#[utoipa::path(
    operation_id = "getCoupon",
    get,
    path = "/api/coupons/{id}",
    tag = "coupons",
    params(("id" = String, Path, description = "The coupon's ID")),
    responses(
        (status = 200, description = "The coupon", body = CouponBody, headers(("ETag" = String))),
        (status = 404, description = "No such coupon", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn read(
    State(state): State<RestState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    authed.allowed(READERS)?;
    let found = coupons::coupon(&state.services, coupon_id(&id)?)
        .await
        .map_err(|e| Problem::from_service(e, "id"))?;
    match found {
        Some(coupon) => Ok(answer(StatusCode::OK, coupon).await),
        None => Err(not_found()),
    }
}

/// Which coupons to list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 0 to 100 (default 20).
    limit: Option<i32>,
    /// The `nextCursor` of the page before.
    after: Option<String>,
    /// Only coupons in this status now.
    status: Option<CouponStatus>,
    /// Only coupons whose name or code contains this text.
    query: Option<String>,
    /// Only coupons of this campaign.
    campaign_id: Option<String>,
}

/// A page of coupons, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponPage {
    /// The coupons.
    items: Vec<CouponBody>,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// List coupons
///
/// Coupons, newest first, a page at a time.
#[utoipa::path(
    operation_id = "listCoupons",
    get,
    path = "/api/coupons",
    tag = "coupons",
    params(
        ("limit" = Option<i32>, Query, description = "Page size, 0 to 100 (default 20)"),
        ("after" = Option<String>, Query, description = "The `nextCursor` of the page before"),
        ("status" = Option<CouponStatus>, Query, description = "Only coupons in this status now"),
        ("query" = Option<String>, Query, description = "Only coupons whose name or code contains this text"),
        ("campaignId" = Option<String>, Query, description = "Only coupons of this campaign"),
    ),
    responses(
        (status = 200, description = "A page", body = CouponPage),
        (status = 422, description = "A bad cursor, size or filter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<RestState>,
    authed: Authed,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    authed.allowed(READERS)?;
    let Query(query) = query.map_err(|e| {
        Problem::from_api(&crate::graphql::error::ApiError::BadUserInput(
            e.body_text(),
        ))
    })?;
    let limit = crate::graphql::pagination::page_size(query.limit)?;
    let after = crate::graphql::pagination::after_id(query.after.as_deref())?;
    // An ID that is no campaign's matches no coupon.
    let campaign_id = query
        .campaign_id
        .map(|id| ids::decode(Kind::Campaign, &id).unwrap_or(-1));
    let filter = storage::CouponFilter {
        campaign_id,
        status: query.status.map(Into::into),
        text: query.query,
    };
    let (rows, _) = coupons::list_coupons(&state.services, &filter, after, limit as i64 + 1)
        .await
        .map_err(|e| Problem::from_service(e, "id"))?;
    let (rows, page) =
        crate::graphql::pagination::paginate(rows, limit, after, |c: &coupons_domain::Coupon| {
            c.id.0
        });
    let mut items = Vec::with_capacity(rows.len());
    for (_, c) in rows {
        items.push(CouponBody::of(&Coupon(c)));
    }
    let next_cursor = page.has_next_page.then_some(page.end_cursor).flatten();
    Ok(axum::Json(CouponPage { items, next_cursor }).into_response())
}

/// What a `PUT` body leaves out becomes this: cleared, or the default a new coupon gets.
/// `name` and `discount` are required; the window's start stays unless given.
fn replaced(mut body: Map<String, Value>) -> Result<Map<String, Value>, Problem> {
    for required in ["name", "discount"] {
        if !body.contains_key(required) {
            return Err(Problem::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                &[required],
                "BLANK",
                "PUT replaces the coupon's editable fields: give at least name and discount",
            ));
        }
    }
    let defaults = [
        ("description", Value::Null),
        ("expiresAt", Value::Null),
        ("maxRedemptions", Value::Null),
        ("perCustomerLimit", Value::Null),
        ("channels", json!([])),
        ("metadata", json!({})),
        ("rules", json!([])),
        ("minItems", Value::Null),
        ("reversalPolicy", json!("RESTORE_USAGE")),
        ("combinesWith", json!([])),
        ("priority", json!(0)),
        ("target", json!({"order": true})),
        ("timeZone", Value::Null),
        ("maxOrderDiscountPercent", Value::Null),
    ];
    for (key, value) in defaults {
        body.entry(key).or_insert(value);
    }
    // One of each pair of spellings clears the money lists.
    for (one, many) in [
        ("minSubtotal", "minSubtotals"),
        ("maxDiscountPerCustomer", "maxDiscountsPerCustomer"),
    ] {
        if !body.contains_key(one) && !body.contains_key(many) {
            body.insert(many.into(), Value::Null);
        }
    }
    Ok(body)
}

/// Replace a coupon
///
/// Replaces a coupon's editable fields: what the body leaves out is cleared or gets
/// the default of a new coupon. Needs `If-Match`.
#[utoipa::path(
    operation_id = "replaceCoupon",
    put,
    path = "/api/coupons/{id}",
    tag = "coupons",
    params(
        ("id" = String, Path, description = "The coupon's ID"),
        ("If-Match" = String, Header, description = "The ETag of the coupon as read, or `*`"),
    ),
    request_body(content = UpdateCouponInput, description = "Every editable field; `name` and `discount` are required."),
    responses(
        (status = 200, description = "Replaced", body = CouponBody, headers(("ETag" = String))),
        (status = 404, description = "No such coupon", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The coupon changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each listed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn replace(
    State(state): State<RestState>,
    authed: Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(ADMIN)?;
    let version = if_match(&headers)?;
    let id = coupon_id(&id)?;
    let input: UpdateCouponInput =
        parse(&serde_json::to_vec(&replaced(body)?).unwrap_or_default())?;
    update(&state, &caller, id, input, version).await
}

/// Change a coupon
///
/// Changes some of a coupon's fields: the body's fields change, `null` clears a
/// nullable one, the rest stay. Needs `If-Match`.
#[utoipa::path(
    operation_id = "updateCoupon",
    patch,
    path = "/api/coupons/{id}",
    tag = "coupons",
    params(
        ("id" = String, Path, description = "The coupon's ID"),
        ("If-Match" = String, Header, description = "The ETag of the coupon as read, or `*`"),
    ),
    request_body(content = UpdateCouponInput, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Changed", body = CouponBody, headers(("ETag" = String))),
        (status = 404, description = "No such coupon", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The coupon changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each listed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn change(
    State(state): State<RestState>,
    authed: Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(input): Body<UpdateCouponInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(ADMIN)?;
    let version = if_match(&headers)?;
    update(&state, &caller, coupon_id(&id)?, input, version).await
}

async fn update(
    state: &RestState,
    caller: &crate::auth::Caller,
    id: CouponId,
    input: UpdateCouponInput,
    version: Option<i64>,
) -> Result<Response, Problem> {
    let changed = coupons::update_coupon(&state.services, caller, id, input.into_patch(), version)
        .await
        .map_err(|e| Problem::from_service(e, "id"))?;
    Ok(answer(StatusCode::OK, changed).await)
}

/// Delete a coupon
///
/// Deletes a coupon and its codes; refused once it has been redeemed (archive it).
#[utoipa::path(
    operation_id = "deleteCoupon",
    delete,
    path = "/api/coupons/{id}",
    tag = "coupons",
    params(("id" = String, Path, description = "The coupon's ID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such coupon", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has redemptions", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete(
    State(state): State<RestState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let caller = authed.allowed(ADMIN)?;
    coupons::delete_coupon(&state.services, &caller, coupon_id(&id)?)
        .await
        .map_err(|e| Problem::from_service(e, "id"))?;
    Ok(StatusCode::NO_CONTENT)
}
