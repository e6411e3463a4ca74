//! The one place where errors become GraphQL.
//!
//! Two channels, as the API conventions say:
//! - **`userErrors`** in mutation payloads, for input a person can fix: a field path, a
//!   stable [`UserErrorCode`] and a message. Built by [`user_errors`] from
//!   [`ServiceError`].
//! - **top-level `errors`** with `extensions.code`, for requests that are malformed, not
//!   authenticated or not allowed, and for server faults: [`ApiError`]. A fault is logged
//!   with its whole chain and reported to the client only as `INTERNAL_SERVER_ERROR`.
//!
//! Resolvers return `Result<_, ApiError>` and use `?` on service and storage results:
//! the `From` impls below are the only conversions. They never return
//! `async_graphql::Result` with `?` on a service error, because async-graphql converts
//! any `Display` type into an error without a code, with its text shown to the client.

use async_graphql::{Enum, SimpleObject};
use coupons_domain::{
    CheckoutOutcome, CodeError, Field, FieldError, LimitsError, MoneyError, MoneyList, Problem,
    RejectionKind,
};

use std::sync::Arc;

use crate::auth::Role;
use crate::messages::{self, Language};
use crate::service::ServiceError;
use crate::service::checkout::visible_rejections;
use crate::service::reports::PeriodError;
use crate::storage::StorageError;

/// Top-level errors, each with a stable `extensions.code`.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an error
/// without extensions, so the only way from here to GraphQL is the `From` below, which
/// always sets the code.
#[derive(Debug)]
pub enum ApiError {
    /// No credentials.
    Unauthenticated,
    /// Credentials that are not a usable key: malformed, unknown, revoked or expired
    /// (the message says which).
    KeyRefused(String),
    /// The key's role may not use this field; the roles that may.
    Forbidden(&'static [Role]),
    /// The key is scoped to channels and the call names another (or none).
    ChannelForbidden,
    /// The key's role may not read the schema by introspection.
    IntrospectionDisabled,
    /// An argument is out of range or malformed.
    BadUserInput(String),
    /// Too many failed code checks: the caller must wait.
    Throttled {
        /// Whole seconds until the lockout ends.
        retry_after_secs: u64,
    },
    /// The body is not a GraphQL request over JSON.
    BadRequest(String),
    /// A GraphQL request sent with `GET`: only `POST` runs documents.
    GetNotServed,
    /// A `POST /graphql` body not declared as JSON (`Content-Type: application/json`).
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    BodyTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// More requests in one batch than allowed.
    BatchTooLarge {
        /// The largest batch accepted.
        max: usize,
    },
    /// More aliased fields in one document than allowed.
    TooManyAliases {
        /// The most aliases accepted.
        max: usize,
    },
    /// The document does not parse (or nests too deeply to try).
    ParseFailed(String),
    /// The request took longer than the configured timeout; it was abandoned.
    Timeout {
        /// The timeout, in milliseconds.
        millis: u128,
    },
    /// The client did not send the request body within the body read timeout.
    BodyTimeout {
        /// The timeout, in milliseconds.
        millis: u128,
    },
    /// The client address or API key has as many WebSockets open as allowed.
    TooManyConnections {
        /// The most open at once.
        max: usize,
    },
    /// A subscriber fell behind and missed events; its subscription ended.
    SubscriberLagged {
        /// Events it missed.
        missed: u64,
    },
    /// A browser page from an origin not in `COUPONS_CORS_ORIGINS` opened a WebSocket.
    OriginNotAllowed,
    /// The database is out of reach (restarting, failing over): nothing was done that
    /// a retry with the same idempotency key would not find; try again shortly.
    Unavailable,
    /// A server fault; details are in the server log only.
    Internal,
}

impl ApiError {
    /// The stable code in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::KeyRefused(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::ChannelForbidden | Self::IntrospectionDisabled => "FORBIDDEN",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::Throttled { .. } => "THROTTLED",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::GetNotServed => "METHOD_NOT_ALLOWED",
            Self::BodyTooLarge { .. } => "BODY_TOO_LARGE",
            Self::BatchTooLarge { .. } => "BATCH_TOO_LARGE",
            Self::TooManyAliases { .. } => "TOO_MANY_ALIASES",
            Self::ParseFailed(_) => "GRAPHQL_PARSE_FAILED",
            Self::Timeout { .. } => "TIMEOUT",
            Self::BodyTimeout { .. } => "BODY_TIMEOUT",
            Self::TooManyConnections { .. } => "TOO_MANY_CONNECTIONS",
            Self::SubscriberLagged { .. } => "SUBSCRIBER_LAGGED",
            Self::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message for the client.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => {
                "authentication required: send the header 'Authorization: Bearer <API key>'".into()
            }
            Self::KeyRefused(why) => why.clone(),
            Self::Forbidden(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                format!(
                    "this API key's role may not use this field; it is for {} keys",
                    names.join(", ")
                )
            }
            Self::ChannelForbidden => {
                "this API key is limited to other channels: name one of its channels in order.channel".into()
            }
            Self::IntrospectionDisabled => {
                "introspection is disabled for this API key's role".into()
            }
            Self::BadUserInput(m) | Self::BadRequest(m) | Self::ParseFailed(m) => m.clone(),
            Self::Throttled { retry_after_secs } => format!(
                "too many attempts with unknown codes; try again in {retry_after_secs} s"
            ),
            Self::GetNotServed => {
                "GraphQL requests are sent with POST /graphql; GET /graphql serves GraphiQL and WebSockets".into()
            }
            Self::UnsupportedMediaType => {
                "send the request as JSON, with the header 'Content-Type: application/json'".into()
            }
            Self::BodyTooLarge { max } => {
                format!("the request body is larger than {max} bytes")
            }
            Self::BatchTooLarge { max } => {
                format!("a batch may hold at most {max} requests")
            }
            Self::TooManyAliases { max } => {
                format!("a document may use at most {max} aliases")
            }
            Self::Timeout { millis } => {
                format!("the request took longer than {millis} ms and was abandoned")
            }
            Self::BodyTimeout { millis } => {
                format!("the request body did not arrive within {millis} ms")
            }
            Self::TooManyConnections { max } => {
                format!("at most {max} WebSockets may be open at once from one address or key")
            }
            Self::SubscriberLagged { missed } => format!(
                "this subscriber fell behind and missed {missed} events; the subscription has ended: subscribe again"
            ),
            Self::OriginNotAllowed => {
                "pages from this origin may not call the service (COUPONS_CORS_ORIGINS)".into()
            }
            Self::Unavailable => {
                "the database is out of reach for a moment; retry (with the same idempotency key for a change)".into()
            }
            Self::Internal => "internal server error".into(),
        }
    }

    /// Seconds to wait before retrying, for throttled requests.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable => Some(1),
            _ => None,
        }
    }

    /// `extensions`: the code, and when to retry if the caller must wait.
    fn extensions(&self) -> async_graphql::ErrorExtensionValues {
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", self.code());
        if let Some(secs) = self.retry_after() {
            ext.set("retryAfter", secs);
        }
        ext
    }

    /// A storage fault for the client: [`ApiError::Unavailable`] when the database is
    /// out of reach (logged as a warning), else [`ApiError::Internal`].
    pub fn storage(fault: &StorageError) -> Self {
        if fault.is_unavailable() {
            tracing::warn!(error = %fault, "database unavailable");
            Self::Unavailable
        } else {
            Self::internal(fault)
        }
    }

    /// Logs a fault with its whole chain and returns the redacted error for the client.
    pub fn internal(fault: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = fault.to_string();
        let mut source = fault.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self::Internal
    }
}

/// An error of a whole request (one that never reached a field), as the answer's
/// `errors` entry.
impl From<&ApiError> for async_graphql::ServerError {
    fn from(e: &ApiError) -> Self {
        let mut error = Self::new(e.message(), None);
        error.extensions = Some(e.extensions());
        error
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let mut error = Self::new(e.message());
        error.extensions = Some(e.extensions());
        error
    }
}

// The input problems of every mutation (coupons, codes, checkout, rules, campaigns,
// webhooks, API keys, bulk jobs and CSV imports): the SDL name `CouponErrorCode` is
// older than most of these areas, and stays for clients.
/// Stable codes of `userErrors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "CouponErrorCode")]
pub enum UserErrorCode {
    /// Text that must not be empty is empty.
    Blank,
    /// Text longer than allowed.
    TooLong,
    /// A list with more entries than allowed.
    TooMany,
    /// A list with fewer entries than required.
    TooFew,
    /// A code with a character outside `A-Z`, `0-9`, `-`, `_`.
    InvalidCode,
    /// A code shorter than 3 characters.
    CodeTooShort,
    /// A code longer than 64 characters.
    CodeTooLong,
    /// The same code twice in one request.
    DuplicateCode,
    /// The code already belongs to a coupon.
    CodeTaken,
    /// Not an ISO 4217 currency in use.
    UnknownCurrency,
    /// More decimal places than the currency has.
    AmountTooPrecise,
    /// A currency given twice in one list of amounts.
    DuplicateCurrency,
    /// An amount too large to store.
    AmountTooLarge,
    /// An amount that is zero or negative.
    AmountNotPositive,
    /// A percentage outside `0 < p <= 100`.
    PercentageOutOfRange,
    /// A percentage with more than 4 decimal places.
    PercentageTooPrecise,
    /// Both or neither of `percentage` and `amount`.
    DiscountKindAmbiguous,
    /// A buy-X-get-Y target with a fixed-amount discount: it gives a percentage off.
    PercentageRequired,
    /// Not an IANA time zone name.
    UnknownTimeZone,
    /// `maxDiscount` given for a fixed-amount discount.
    MaxDiscountNotApplicable,
    /// `expiresAt` not later than `startsAt`.
    InvalidDateRange,
    /// A limit below 1.
    InvalidLimit,
    /// A channel name outside the allowed pattern.
    InvalidChannel,
    /// Metadata that is not a JSON object, or too large.
    InvalidMetadata,
    /// A rule name outside the allowed pattern.
    InvalidRuleName,
    /// Rule parameters that are not a JSON object.
    InvalidRuleParams,
    /// A status change the lifecycle does not allow.
    InvalidStatusTransition,
    /// The coupon does not exist (or the ID is not a coupon's).
    NotFound,
    /// The coupon has redemptions and cannot be deleted; archive it instead.
    HasRedemptions,
    /// A role name that does not exist.
    InvalidRole,
    /// An amount below zero.
    AmountNegative,
    /// Not an e-mail address.
    InvalidEmail,
    /// The coupon or the code is switched off.
    NotActive,
    /// The coupon's window has not started.
    NotStarted,
    /// The coupon's window has ended.
    Expired,
    /// The order (or an amount) is in another currency than the coupon's.
    CurrencyMismatch,
    /// The order's channel is not one the coupon is limited to.
    ChannelNotEligible,
    /// The order subtotal is below the coupon's minimum.
    MinSubtotalNotMet,
    /// The order has fewer items than the coupon's minimum.
    MinItemsNotMet,
    /// None of the order's items qualifies for the coupon's target.
    NoEligibleItems,
    /// The discount on this order would be zero.
    ZeroDiscount,
    /// Every use of the coupon is taken (redeemed or reserved).
    UsageLimitReached,
    /// Every use of this code is taken (a used single-use code).
    CodeUsageLimitReached,
    /// The coupon has a per-customer limit and the order names no customer.
    CustomerRequired,
    /// This customer has used the coupon as often as allowed.
    CustomerLimitReached,
    /// This customer has had as much discount from the coupon as allowed.
    CustomerDiscountLimitReached,
    /// The coupon is already used on this order (reserved or redeemed).
    AlreadyAppliedToOrder,
    /// The coupon may not share the order with another coupon (see `conflictingCode`).
    NotCombinable,
    /// Every use the coupon's campaign allows is taken.
    CampaignUsageLimitReached,
    /// The coupon's campaign has spent its discount budget.
    CampaignBudgetExhausted,
    /// The idempotency key was used before for a different request.
    IdempotencyKeyReused,
    /// No reservation with that ID.
    ReservationNotFound,
    /// The reservation's deadline passed before it was redeemed.
    ReservationExpired,
    /// No redemption with that ID.
    RedemptionNotFound,
    /// The reservation or redemption is not in a state that allows this.
    InvalidRedemptionStatus,
    /// The refund is larger than the discount not yet refunded.
    RefundExceedsDiscount,
    /// The line named in a refund has no share of the discount left.
    LineNotDiscounted,
    /// One of the coupon's rules rejected the order (the message names the rule).
    RuleRejected,
    /// One of the coupon's rules could not be evaluated; the coupon does not apply.
    RuleFailed,
    /// The order already has as much discount as its subtotal, from other coupons.
    OrderFullyDiscounted,
    /// The coupon binds a rule that does not exist.
    RuleNotFound,
    /// The rule's source does not compile; the message gives line and column.
    RuleCompileError,
    /// The rule compiles but its examples do not pass.
    RuleExamplesFailed,
    /// No such version of the rule.
    RuleVersionNotFound,
    /// The API key is revoked, expired or replaced already.
    KeyInactive,
    /// Not an absolute `http` or `https` URL.
    InvalidUrl,
    /// A number outside its range (the message gives the range).
    OutOfRange,
    /// A pattern of generated codes that cannot be used (the message says why).
    InvalidPattern,
    /// The pattern has too little room for the count: the codes would be easy to guess.
    /// Lengthen the body or widen the character set.
    PatternTooSmall,
    /// The bulk job has ended already.
    JobFinished,
    /// The CSV file has rows that cannot be imported; each is listed, nothing was written.
    InvalidCsvRow,
    /// No abuse signal with that ID.
    SignalNotFound,
    /// The abuse signal is resolved already.
    SignalResolved,
    /// Name exactly one of a coupon and a campaign.
    TargetAmbiguous,
}

impl UserErrorCode {
    /// Its name in the schema (`NOT_FOUND`), the same in REST problems.
    pub fn name(self) -> &'static str {
        use async_graphql::resolver_utils::EnumType as _;
        Self::items()
            .iter()
            .find(|item| item.value == self)
            .map_or("INVALID", |item| item.name)
    }
}

/// A rejection as a user error: the code of the same name ([`RejectionKind::code`]).
impl From<RejectionKind> for UserErrorCode {
    #[expect(
        clippy::expect_used,
        reason = "every rejection has its user error code: test every_rejection_is_a_user_error_code"
    )]
    fn from(kind: RejectionKind) -> Self {
        use async_graphql::resolver_utils::EnumType as _;
        Self::items()
            .iter()
            .find(|item| item.name == kind.code())
            .map(|item| item.value)
            .expect("every rejection is also a user error code (test every_rejection_is_a_user_error_code)")
    }
}

/// The `userErrors` of a checkout outcome that is not a success. `id_field` names the
/// input field that held the reservation or redemption ID; `not_found` is its code.
pub fn outcome_errors(
    outcome: &CheckoutOutcome,
    role: Role,
    language: Language,
    id_field: &str,
    not_found: UserErrorCode,
) -> Vec<UserError> {
    match outcome {
        CheckoutOutcome::Applied(_) => Vec::new(),
        CheckoutOutcome::Rejected(reasons) => visible_rejections(reasons, role)
            .into_iter()
            .map(|r| {
                let message = messages::rejection(language, &r);
                UserError::new(&["input", "code"], r.kind().into(), message)
            })
            .collect(),
        CheckoutOutcome::NotFound => {
            vec![UserError::new(&["input", id_field], not_found, "not found")]
        }
        CheckoutOutcome::ReservationExpired => vec![UserError::new(
            &["input", id_field],
            UserErrorCode::ReservationExpired,
            "the reservation expired before it was redeemed; reserve again",
        )],
        CheckoutOutcome::WrongStatus(status) => vec![UserError::new(
            &["input", id_field],
            UserErrorCode::InvalidRedemptionStatus,
            format!("not possible for a {} redemption", status.as_str()),
        )],
        CheckoutOutcome::RefundExceedsDiscount { .. } => vec![UserError::new(
            &["input", "refundedDiscount"],
            UserErrorCode::RefundExceedsDiscount,
            "the refund is larger than the discount not yet refunded",
        )],
        CheckoutOutcome::RefundTooPrecise => vec![UserError::new(
            &["input", "refundedDiscount"],
            UserErrorCode::AmountTooPrecise,
            "the refund has more decimal places than the currency",
        )],
        CheckoutOutcome::LineNotDiscounted => vec![UserError::new(
            &["input", "line"],
            UserErrorCode::LineNotDiscounted,
            "this line has no share of the discount left to refund",
        )],
    }
}

/// The `userError` for an idempotency key used before for another request.
pub fn key_reused() -> UserError {
    UserError::new(
        &["input", "idempotencyKey"],
        UserErrorCode::IdempotencyKeyReused,
        "this idempotency key was used for a different request",
    )
}

// Any mutation's, not only the coupon ones: `CouponUserError` is the SDL name clients
// know.
/// A problem with the input of a mutation, which the caller can fix.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "CouponUserError")]
pub struct UserError {
    /// Path to the input field, e.g. `["input", "discount", "percentage"]`; list
    /// positions are given as numbers in text (`["input", "codes", "2"]`).
    pub field: Option<Vec<String>>,
    /// Stable, machine-readable code.
    pub code: UserErrorCode,
    /// Explanation for a person.
    pub message: String,
}

impl UserError {
    /// A user error on one field path.
    pub fn new(path: &[&str], code: UserErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: Some(path.iter().map(|s| (*s).to_owned()).collect()),
            code,
            message: message.into(),
        }
    }
}

/// The input path of a domain field, under the operation's `input` argument.
fn path(field: Field) -> Vec<String> {
    let p = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let item = |i: usize, leaf: &str| p(&["order", "items", &i.to_string(), leaf]);
    let rest = match field {
        Field::Name => p(&["name"]),
        Field::Description => p(&["description"]),
        Field::Code => p(&["code"]),
        Field::Codes => p(&["codes"]),
        Field::CodeAt(i) => p(&["codes", &i.to_string()]),
        Field::UsageLimit => p(&["usageLimit"]),
        Field::Discount => p(&["discount"]),
        Field::Percentage => p(&["discount", "percentage"]),
        Field::Amount => p(&["discount", "amount", "amount"]),
        Field::AmountCurrency => p(&["discount", "amount", "currency"]),
        Field::MaxDiscount => p(&["discount", "maxDiscount", "amount"]),
        Field::MaxDiscountCurrency => p(&["discount", "maxDiscount", "currency"]),
        Field::StartsAt => p(&["startsAt"]),
        Field::ExpiresAt => p(&["expiresAt"]),
        Field::MaxRedemptions => p(&["maxRedemptions"]),
        Field::PerCustomerLimit => p(&["perCustomerLimit"]),
        Field::Channels => p(&["channels"]),
        Field::ChannelAt(i) => p(&["channels", &i.to_string()]),
        Field::Metadata => p(&["metadata"]),
        Field::Rules => p(&["rules"]),
        Field::RuleAt(i) => p(&["rules", &i.to_string()]),
        Field::Status => p(&["status"]),
        Field::MinSubtotal => p(&["minSubtotal", "amount"]),
        Field::MinSubtotalCurrency => p(&["minSubtotal", "currency"]),
        Field::MinItems => p(&["minItems"]),
        Field::TimeZone => p(&["timeZone"]),
        Field::MaxDiscountPerCustomer => p(&["maxDiscountPerCustomer", "amount"]),
        Field::MaxDiscountPerCustomerCurrency => p(&["maxDiscountPerCustomer", "currency"]),
        Field::Target => p(&["target"]),
        Field::TargetLines => p(&["target", "lines"]),
        Field::TargetBuyQuantity => p(&["target", "buyXGetY", "buyQuantity"]),
        Field::TargetGetQuantity => p(&["target", "buyXGetY", "getQuantity"]),
        Field::TargetMaxApplications => p(&["target", "buyXGetY", "maxApplications"]),
        Field::ReversalPolicy => p(&["reversalPolicy"]),
        Field::OrderId => p(&["order", "id"]),
        Field::OrderCurrency => p(&["order", "currency"]),
        Field::OrderSubtotal => p(&["order", "subtotal"]),
        Field::OrderItems => p(&["order", "items"]),
        Field::OrderShipping => p(&["order", "shipping"]),
        Field::ItemSku(i) => item(i, "sku"),
        Field::ItemQuantity(i) => item(i, "quantity"),
        Field::ItemUnitPrice(i) => item(i, "unitPrice"),
        Field::ItemCategories(i) => item(i, "categories"),
        Field::CustomerId => p(&["order", "customer", "id"]),
        Field::CustomerEmail => p(&["order", "customer", "email"]),
        Field::OrderChannel => p(&["order", "channel"]),
        Field::IdempotencyKey => p(&["idempotencyKey"]),
        Field::HoldMinutes => p(&["holdMinutes"]),
        Field::RefundedDiscount => p(&["refundedDiscount"]),
        Field::RefundLine => p(&["line"]),
        Field::RuleName => p(&["name"]),
        Field::RuleSource => p(&["source"]),
        Field::RuleVersion => p(&["version"]),
        Field::Count => p(&["count"]),
        Field::Pattern => p(&["pattern"]),
        Field::PatternPrefix => p(&["pattern", "prefix"]),
        Field::PatternSuffix => p(&["pattern", "suffix"]),
        Field::PatternLength => p(&["pattern", "length"]),
        Field::PatternCharset => p(&["pattern", "charset"]),
        Field::EndsAt => p(&["endsAt"]),
        Field::MaxUses => p(&["maxUses"]),
        Field::BudgetAmount => p(&["budget", "amount"]),
        Field::BudgetCurrency => p(&["budget", "currency"]),
        Field::Url => p(&["url"]),
        Field::CouponId => p(&["couponId"]),
        Field::AllCoupons => p(&["allCoupons"]),
        Field::GraceMinutes => p(&["graceMinutes"]),
        Field::MoneyAt {
            list,
            index,
            currency,
        } => {
            let mut at = money_list(list);
            at.push(index.to_string());
            at.push(if currency { "currency" } else { "amount" }.to_owned());
            at
        }
        Field::MoneyList(list) => money_list(list),
        Field::MaxOrderDiscountPercent => p(&["maxOrderDiscountPercent"]),
    };
    let mut out = vec!["input".to_owned()];
    out.extend(rest);
    out
}

/// Where a coupon's money list is in the input.
fn money_list(list: MoneyList) -> Vec<String> {
    let at: &[&str] = match list {
        MoneyList::Amounts => &["discount", "amounts"],
        MoneyList::MaxDiscounts => &["discount", "maxDiscounts"],
        MoneyList::MinSubtotals => &["minSubtotals"],
        MoneyList::MaxDiscountsPerCustomer => &["maxDiscountsPerCustomer"],
    };
    at.iter().map(|s| (*s).to_owned()).collect()
}

fn code(problem: &Problem) -> UserErrorCode {
    use UserErrorCode as C;
    match problem {
        Problem::Blank | Problem::Code(CodeError::Empty) => C::Blank,
        Problem::TooLong { .. } => C::TooLong,
        Problem::TooMany { .. } => C::TooMany,
        Problem::TooFew { .. } => C::TooFew,
        Problem::Code(CodeError::TooShort { .. }) => C::CodeTooShort,
        Problem::Code(CodeError::TooLong { .. }) => C::CodeTooLong,
        Problem::Code(CodeError::InvalidCharacter { .. }) => C::InvalidCode,
        Problem::DuplicateInRequest(_) => C::DuplicateCode,
        Problem::CodeTaken(_) => C::CodeTaken,
        Problem::Money(MoneyError::UnknownCurrency(_)) => C::UnknownCurrency,
        Problem::Money(MoneyError::TooPrecise { .. }) => C::AmountTooPrecise,
        Problem::Money(MoneyError::Overflow) => C::AmountTooLarge,
        Problem::PercentageOutOfRange => C::PercentageOutOfRange,
        Problem::PercentageTooPrecise { .. } => C::PercentageTooPrecise,
        Problem::AmountNotPositive => C::AmountNotPositive,
        Problem::AmountNegative => C::AmountNegative,
        Problem::CurrencyMismatch { .. } | Problem::CurrenciesDiffer { .. } => C::CurrencyMismatch,
        Problem::CurrencyRepeated(_) => C::DuplicateCurrency,
        Problem::InvalidEmail => C::InvalidEmail,
        Problem::DiscountKindAmbiguous => C::DiscountKindAmbiguous,
        Problem::PercentageRequired => C::PercentageRequired,
        Problem::UnknownTimeZone(_) => C::UnknownTimeZone,
        Problem::MaxDiscountNotApplicable => C::MaxDiscountNotApplicable,
        Problem::WindowInverted => C::InvalidDateRange,
        Problem::LimitTooSmall => C::InvalidLimit,
        Problem::InvalidChannel => C::InvalidChannel,
        Problem::InvalidMetadata { .. } => C::InvalidMetadata,
        Problem::InvalidRuleName => C::InvalidRuleName,
        Problem::InvalidRuleParams | Problem::RuleParamsRejected(_) => C::InvalidRuleParams,
        Problem::UnknownRule(_) => C::RuleNotFound,
        Problem::RuleCompile(_) => C::RuleCompileError,
        Problem::RuleExamplesFailed(_) => C::RuleExamplesFailed,
        Problem::RuleVersionNotFound(_) => C::RuleVersionNotFound,
        Problem::InvalidTransition { .. } => C::InvalidStatusTransition,
        Problem::OutOfRange { .. } => C::OutOfRange,
        Problem::InvalidPattern(_) => C::InvalidPattern,
        Problem::PatternTooSmall(_) => C::PatternTooSmall,
        Problem::EmptyText { .. } | Problem::LengthOutside { empty: true, .. } => C::Blank,
        Problem::TextTooLong { .. } | Problem::LengthOutside { empty: false, .. } => C::TooLong,
        Problem::LimitOutside { .. } | Problem::Exclusive(_) => C::InvalidLimit,
        Problem::Limits(LimitsError::WindowReversed) => C::InvalidDateRange,
        Problem::Limits(LimitsError::NonPositiveUses) => C::InvalidLimit,
        Problem::Limits(LimitsError::NonPositiveBudget) => C::AmountNotPositive,
        Problem::InvalidUrl(_) => C::InvalidUrl,
        Problem::NotFound(_) => C::NotFound,
    }
}

impl From<FieldError> for UserError {
    fn from(e: FieldError) -> Self {
        Self {
            field: Some(path(e.field)),
            code: code(&e.problem),
            message: e.problem.to_string(),
        }
    }
}

/// Maps a service error to the `userErrors` of a payload, or to a top-level error for
/// faults. `id_field` names the input field that identified the coupon.
pub fn user_errors(e: ServiceError, id_field: &str) -> Result<Vec<UserError>, ApiError> {
    match e {
        ServiceError::Invalid(invalid) => Ok(invalid.0.into_iter().map(Into::into).collect()),
        ServiceError::CouponNotFound => Ok(vec![UserError::new(
            &["input", id_field],
            UserErrorCode::NotFound,
            "coupon not found",
        )]),
        ServiceError::CouponHasRedemptions => Ok(vec![UserError::new(
            &["input", id_field],
            UserErrorCode::HasRedemptions,
            "this coupon has been redeemed and cannot be deleted; archive it with setCouponStatus instead",
        )]),
        ServiceError::Storage(fault) => Err(ApiError::storage(&fault)),
        ServiceError::Throttled(t) => Err(ApiError::Throttled {
            retry_after_secs: t.retry_after_secs,
        }),
        ServiceError::ChannelNotAllowed => Err(ApiError::ChannelForbidden),
        // GraphQL names no version to change; only REST's `If-Match` does.
        ServiceError::Stale => Err(ApiError::BadUserInput(e.to_string())),
    }
}

impl From<&ServiceError> for ApiError {
    /// A service error outside a payload (queries, and mutations for the errors their
    /// payload has no place for): faults only are expected.
    fn from(e: &ServiceError) -> Self {
        match e {
            ServiceError::Storage(fault) => ApiError::storage(fault),
            ServiceError::Throttled(t) => ApiError::Throttled {
                retry_after_secs: t.retry_after_secs,
            },
            ServiceError::ChannelNotAllowed => ApiError::ChannelForbidden,
            other @ (ServiceError::Invalid(_)
            | ServiceError::Stale
            | ServiceError::CouponNotFound
            | ServiceError::CouponHasRedemptions) => ApiError::BadUserInput(other.to_string()),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::from(&e)
    }
}

impl From<Arc<ServiceError>> for ApiError {
    /// A DataLoader's error (shared by every key of the batch).
    fn from(e: Arc<ServiceError>) -> Self {
        Self::from(&*e)
    }
}

impl From<Problem> for ApiError {
    /// A malformed argument outside any payload (a list filter, say).
    fn from(e: Problem) -> Self {
        Self::BadUserInput(e.to_string())
    }
}

impl From<PeriodError> for ApiError {
    /// A report period that is reversed or too long.
    fn from(e: PeriodError) -> Self {
        Self::BadUserInput(e.to_string())
    }
}

impl From<StorageError> for ApiError {
    /// A stored row that cannot be read back: a fault.
    fn from(e: StorageError) -> Self {
        Self::storage(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coupons_domain::Invalid;

    #[test]
    fn every_rejection_is_a_user_error_code() {
        for &kind in RejectionKind::ALL {
            let code = UserErrorCode::from(kind);
            assert_eq!(
                async_graphql::InputType::to_value(&code).to_string(),
                kind.code()
            );
        }
    }

    #[test]
    fn every_field_maps_under_input() {
        let e: UserError = FieldError::new(Field::CodeAt(2), CodeError::TooShort { min: 3 }).into();
        assert_eq!(
            e.field,
            Some(vec!["input".into(), "codes".into(), "2".into()])
        );
        assert_eq!(e.code, UserErrorCode::CodeTooShort);
        let e: UserError = FieldError::new(
            Field::MaxDiscountCurrency,
            MoneyError::UnknownCurrency("QQQ".into()),
        )
        .into();
        assert_eq!(
            e.field,
            Some(vec![
                "input".into(),
                "discount".into(),
                "maxDiscount".into(),
                "currency".into()
            ])
        );
        assert_eq!(e.code, UserErrorCode::UnknownCurrency);
    }

    fn throttled() -> ServiceError {
        ServiceError::Throttled(crate::service::limiter::Throttled {
            retry_after_secs: 7,
        })
    }

    #[test]
    fn service_errors_outside_payloads_map_to_codes() {
        let fault = || ServiceError::Storage(StorageError::Migration("fault".into()));
        let cases = [
            (ServiceError::Invalid(Invalid(Vec::new())), "BAD_USER_INPUT"),
            (ServiceError::CouponNotFound, "BAD_USER_INPUT"),
            (ServiceError::CouponHasRedemptions, "BAD_USER_INPUT"),
            (throttled(), "THROTTLED"),
            (ServiceError::ChannelNotAllowed, "FORBIDDEN"),
            (fault(), "INTERNAL_SERVER_ERROR"),
        ];
        for (e, code) in cases {
            assert_eq!(ApiError::from(e).code(), code);
        }
        assert_eq!(ApiError::from(throttled()).retry_after(), Some(7));
        let shared = ApiError::from(Arc::new(fault()));
        assert_eq!(shared.code(), "INTERNAL_SERVER_ERROR");
        assert_eq!(shared.message(), "internal server error");
        let stored = ApiError::from(StorageError::Migration("secret".into()));
        assert_eq!(stored.code(), "INTERNAL_SERVER_ERROR");
        assert!(!stored.message().contains("secret"));
        // A database out of reach is a 503 to retry, not a fault.
        let away = ApiError::from(ServiceError::Storage(StorageError::Pool("secret".into())));
        assert_eq!(away.code(), "SERVICE_UNAVAILABLE");
        assert_eq!(away.retry_after(), Some(1));
        assert!(!away.message().contains("secret"));
    }

    #[test]
    fn service_errors_in_payloads_are_user_errors_or_top_level() {
        let invalid =
            ServiceError::Invalid(Invalid(vec![FieldError::new(Field::Name, Problem::Blank)]));
        let e = user_errors(invalid, "id").unwrap();
        assert_eq!(e[0].code, UserErrorCode::Blank);
        assert_eq!(e[0].field, Some(vec!["input".into(), "name".into()]));
        let e = user_errors(ServiceError::CouponNotFound, "couponId").unwrap();
        assert_eq!(e[0].code, UserErrorCode::NotFound);
        assert_eq!(e[0].field, Some(vec!["input".into(), "couponId".into()]));
        let e = user_errors(ServiceError::CouponHasRedemptions, "id").unwrap();
        assert_eq!(e[0].code, UserErrorCode::HasRedemptions);
        assert_eq!(
            user_errors(throttled(), "id").unwrap_err().code(),
            "THROTTLED"
        );
        let e = user_errors(ServiceError::ChannelNotAllowed, "id").unwrap_err();
        assert_eq!(e.code(), "FORBIDDEN");
    }

    #[test]
    fn every_api_error_has_its_code() {
        let cases = [
            (ApiError::Unauthenticated, "UNAUTHENTICATED"),
            (ApiError::Forbidden(&[Role::Admin]), "FORBIDDEN"),
            (ApiError::ChannelForbidden, "FORBIDDEN"),
            (ApiError::IntrospectionDisabled, "FORBIDDEN"),
            (ApiError::BadUserInput("x".into()), "BAD_USER_INPUT"),
            (
                ApiError::Throttled {
                    retry_after_secs: 1,
                },
                "THROTTLED",
            ),
            (ApiError::BadRequest("x".into()), "BAD_REQUEST"),
            (ApiError::UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
            (ApiError::GetNotServed, "METHOD_NOT_ALLOWED"),
            (ApiError::BodyTooLarge { max: 1 }, "BODY_TOO_LARGE"),
            (ApiError::BatchTooLarge { max: 1 }, "BATCH_TOO_LARGE"),
            (ApiError::TooManyAliases { max: 1 }, "TOO_MANY_ALIASES"),
            (ApiError::ParseFailed("x".into()), "GRAPHQL_PARSE_FAILED"),
            (ApiError::Timeout { millis: 1 }, "TIMEOUT"),
            (ApiError::BodyTimeout { millis: 1 }, "BODY_TIMEOUT"),
            (
                ApiError::TooManyConnections { max: 1 },
                "TOO_MANY_CONNECTIONS",
            ),
            (
                ApiError::SubscriberLagged { missed: 1 },
                "SUBSCRIBER_LAGGED",
            ),
            (ApiError::Unavailable, "SERVICE_UNAVAILABLE"),
            (ApiError::Internal, "INTERNAL_SERVER_ERROR"),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code);
            let gql = async_graphql::Error::from(e);
            let ext = gql.extensions.as_ref().and_then(|x| x.get("code")).cloned();
            assert_eq!(ext, Some(async_graphql::Value::from(code)));
        }
    }

    #[test]
    fn faults_are_redacted() {
        let fault = StorageError::Migration("secret detail".into());
        let err = user_errors(ServiceError::Storage(fault), "id").unwrap_err();
        assert_eq!(err.code(), "INTERNAL_SERVER_ERROR");
        assert!(!err.message().contains("secret"));
        assert_eq!(ApiError::Unauthenticated.code(), "UNAUTHENTICATED");
        assert_eq!(ApiError::Forbidden(&[Role::Admin]).code(), "FORBIDDEN");
    }
}
