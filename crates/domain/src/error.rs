//! The validation vocabulary: which field is wrong and what is wrong with it.
//!
//! Validation collects every problem it finds, so a caller fixes a form in one round
//! trip. The edges map [`Field`] to their own field paths and [`Problem`] to stable error
//! codes; this crate decides neither.

use crate::code::CodeError;
use crate::money::MoneyError;

/// The coupon attribute an input problem concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The coupon's name.
    Name,
    /// The coupon's description.
    Description,
    /// The code given when the coupon is created.
    Code,
    /// The list of codes as a whole.
    Codes,
    /// The code at this index of a list of codes.
    CodeAt(usize),
    /// The per-code usage limit.
    UsageLimit,
    /// The discount as a whole (e.g. neither or both kinds given).
    Discount,
    /// The percentage of a percentage discount.
    Percentage,
    /// The amount of a fixed-amount discount.
    Amount,
    /// The currency of a fixed-amount discount.
    AmountCurrency,
    /// The cap of a percentage discount.
    MaxDiscount,
    /// The currency of the cap.
    MaxDiscountCurrency,
    /// The start of the validity window.
    StartsAt,
    /// The end of the validity window.
    ExpiresAt,
    /// The time zone dates are read in.
    TimeZone,
    /// The cap on redemptions over all codes.
    MaxRedemptions,
    /// The cap on redemptions by one customer.
    PerCustomerLimit,
    /// The cap on one customer's discount.
    MaxDiscountPerCustomer,
    /// The currency of the cap on one customer's discount.
    MaxDiscountPerCustomerCurrency,
    /// The channel at this index.
    ChannelAt(usize),
    /// The list of channels as a whole.
    Channels,
    /// The free-form metadata.
    Metadata,
    /// The rule binding at this index.
    RuleAt(usize),
    /// The list of rule bindings as a whole.
    Rules,
    /// The lifecycle status.
    Status,
    /// The minimum order subtotal.
    MinSubtotal,
    /// The currency of the minimum order subtotal.
    MinSubtotalCurrency,
    /// The smallest number of items an order must have.
    MinItems,
    /// What part of an order the coupon discounts, as a whole.
    Target,
    /// The SKUs or categories of a target's lines.
    TargetLines,
    /// How many units a buy-X-get-Y target needs bought.
    TargetBuyQuantity,
    /// How many units a buy-X-get-Y target discounts.
    TargetGetQuantity,
    /// The most applications of a buy-X-get-Y target on one order.
    TargetMaxApplications,
    /// The order's id.
    OrderId,
    /// The order's currency.
    OrderCurrency,
    /// The order's subtotal.
    OrderSubtotal,
    /// The order's items as a whole.
    OrderItems,
    /// The order's shipping price.
    OrderShipping,
    /// The SKU of the item at this index.
    ItemSku(usize),
    /// The quantity of the item at this index.
    ItemQuantity(usize),
    /// The unit price of the item at this index.
    ItemUnitPrice(usize),
    /// The categories of the item at this index.
    ItemCategories(usize),
    /// The customer's id.
    CustomerId,
    /// The customer's e-mail.
    CustomerEmail,
    /// The order's channel.
    OrderChannel,
    /// The idempotency key.
    IdempotencyKey,
    /// The reservation's hold time.
    HoldMinutes,
    /// The refunded discount of a reversal.
    RefundedDiscount,
    /// The line a reversal refunds.
    RefundLine,
    /// The reversal policy.
    ReversalPolicy,
    /// A rule's name, when publishing.
    RuleName,
    /// A rule's source, when publishing.
    RuleSource,
    /// A rule version, when rolling back.
    RuleVersion,
    /// How many codes to generate.
    Count,
    /// The pattern of generated codes as a whole.
    Pattern,
    /// The text before a generated code's body.
    PatternPrefix,
    /// The text after a generated code's body.
    PatternSuffix,
    /// The length of a generated code's body.
    PatternLength,
    /// The characters of a generated code's body.
    PatternCharset,
    /// The end of a campaign's window.
    EndsAt,
    /// A campaign's cap on uses.
    MaxUses,
    /// The amount of a campaign's budget.
    BudgetAmount,
    /// The currency of a campaign's budget.
    BudgetCurrency,
    /// A webhook endpoint's URL.
    Url,
    /// The coupon a webhook endpoint is limited to.
    CouponId,
    /// The choice to send a webhook endpoint every coupon's events again.
    AllCoupons,
    /// The grace period of a rotated API key, in minutes.
    GraceMinutes,
    /// A coupon's cap on the order's discounts.
    MaxOrderDiscountPercent,
    /// One entry of a coupon's money list.
    MoneyAt {
        /// The list.
        list: crate::priced::MoneyList,
        /// The entry's index.
        index: usize,
        /// Its currency (else its amount).
        currency: bool,
    },
    /// A coupon's money list as a whole.
    MoneyList(crate::priced::MoneyList),
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Empty or only white space where text is required.
    #[error("must not be blank")]
    Blank,
    /// Longer than allowed.
    #[error("must be at most {max} characters long")]
    TooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// More entries than allowed.
    #[error("must have at most {max} entries")]
    TooMany {
        /// The maximum number of entries.
        max: usize,
    },
    /// Fewer entries than required.
    #[error("must have at least {min} entries")]
    TooFew {
        /// The minimum number of entries.
        min: usize,
    },
    /// A malformed coupon code.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// The same code appears twice in one request.
    #[error("code {0} appears more than once in this request")]
    DuplicateInRequest(String),
    /// The code already belongs to a coupon.
    #[error("code {0} is already in use")]
    CodeTaken(String),
    /// A bad currency or amount.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A percentage outside `0 < p <= 100`.
    #[error("percentage must be greater than 0 and at most 100")]
    PercentageOutOfRange,
    /// A percentage with too many decimal places.
    #[error("percentage has at most {max} decimal places")]
    PercentageTooPrecise {
        /// The maximum number of decimal places.
        max: u32,
    },
    /// A money amount that is zero or negative.
    #[error("amount must be greater than zero")]
    AmountNotPositive,
    /// A money amount below zero.
    #[error("amount must not be negative")]
    AmountNegative,
    /// Two amounts that must share a currency do not.
    #[error("currency must be {expected}, the coupon's currency")]
    CurrencyMismatch {
        /// The currency required.
        expected: String,
    },
    /// A currency given twice in one list of amounts.
    #[error("{0} is given more than once")]
    CurrencyRepeated(String),
    /// A list of amounts that does not name the coupon's currencies.
    #[error("give one amount for each of the coupon's currencies: {expected}")]
    CurrenciesDiffer {
        /// The currencies required, in order.
        expected: String,
    },
    /// Not an e-mail address.
    #[error("not a valid e-mail address")]
    InvalidEmail,
    /// Both or neither of `percentage` and `amount`.
    #[error("give exactly one of percentage or amount")]
    DiscountKindAmbiguous,
    /// Not an IANA time zone name.
    #[error("{0:?} is not an IANA time zone name, such as Europe/Berlin")]
    UnknownTimeZone(String),
    /// A target that gives a percentage off (buy X get Y) with a fixed-amount discount.
    #[error("buy X get Y gives a percentage off (100 for free), not a fixed amount")]
    PercentageRequired,
    /// `maxDiscount` on a fixed-amount discount.
    #[error("maxDiscount applies only to percentage discounts")]
    MaxDiscountNotApplicable,
    /// `expiresAt` not after `startsAt`.
    #[error("expiresAt must be later than startsAt")]
    WindowInverted,
    /// A limit below 1.
    #[error("must be at least 1 when set")]
    LimitTooSmall,
    /// A channel name outside the allowed pattern.
    #[error("channel names use lower-case letters, digits, '-' and '_' (1 to 64 characters)")]
    InvalidChannel,
    /// Metadata that is not a JSON object or is too large.
    #[error("metadata must be a JSON object of at most {max_bytes} bytes")]
    InvalidMetadata {
        /// The largest accepted size of the serialised object.
        max_bytes: usize,
    },
    /// A rule name outside the allowed pattern.
    #[error("rule names are lower-case snake_case identifiers of at most 64 characters")]
    InvalidRuleName,
    /// Rule parameters that are not a JSON object.
    #[error("rule parameters must be a JSON object")]
    InvalidRuleParams,
    /// No rule of that name is loaded.
    #[error("there is no rule named {0:?}")]
    UnknownRule(String),
    /// The rule does not accept these parameters.
    #[error("{0}")]
    RuleParamsRejected(String),
    /// The rule's source does not compile (the message has the line and column).
    #[error("{0}")]
    RuleCompile(String),
    /// The rule compiles but its examples do not pass.
    #[error("{0}")]
    RuleExamplesFailed(String),
    /// No such version of the rule.
    #[error("this rule has no version {0}")]
    RuleVersionNotFound(i64),
    /// A number outside its range.
    #[error("must be from {min} to {max}")]
    OutOfRange {
        /// The least accepted value.
        min: u64,
        /// The greatest accepted value.
        max: u64,
    },
    /// A pattern of generated codes that cannot be used (the message says why).
    #[error("{0}")]
    InvalidPattern(String),
    /// A pattern with too little room for the count: its codes would be easy to guess.
    #[error("{0}")]
    PatternTooSmall(String),
    /// Empty or only white space where text is required (admin forms that name the
    /// field in the message).
    #[error("the {what} is empty")]
    EmptyText {
        /// What the text is, as the message names it.
        what: &'static str,
    },
    /// Text longer than allowed (admin forms that name the field in the message).
    #[error("the {what} is longer than {max} characters")]
    TextTooLong {
        /// What the text is, as the message names it.
        what: &'static str,
        /// The maximum number of characters.
        max: usize,
    },
    /// Text that is empty or longer than allowed, in one message.
    #[error("{what} must be {min} to {max} characters")]
    LengthOutside {
        /// What the text is, as the message names it.
        what: &'static str,
        /// The least number of characters.
        min: usize,
        /// The greatest number of characters.
        max: usize,
        /// Whether the text was empty (rather than too long).
        empty: bool,
    },
    /// A limit outside its range, named in the message.
    #[error("{what} must be {min} to {max}")]
    LimitOutside {
        /// What the limit is, as the message names it.
        what: &'static str,
        /// The least accepted value.
        min: i64,
        /// The greatest accepted value.
        max: i64,
    },
    /// Campaign limits that do not hold together.
    #[error(transparent)]
    Limits(#[from] crate::campaign::LimitsError),
    /// Two inputs given that exclude each other (the message names them).
    #[error("{0}")]
    Exclusive(&'static str),
    /// A URL that cannot be used (the message says why).
    #[error("{0}")]
    InvalidUrl(String),
    /// The object the input names does not exist (the message names its kind).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A status change the lifecycle does not allow.
    #[error("a {from} coupon cannot become {to}")]
    InvalidTransition {
        /// The current status.
        from: &'static str,
        /// The requested status.
        to: &'static str,
    },
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where.
    pub field: Field,
    /// What.
    pub problem: Problem,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: Field, problem: impl Into<Problem>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// Every problem found in one input; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input ({} problem(s))", .0.len())]
pub struct Invalid(pub Vec<FieldError>);

impl From<FieldError> for Invalid {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}

/// Collects field errors while validating; see [`Collector::finish`].
#[derive(Debug, Default)]
pub struct Collector(Vec<FieldError>);

impl Collector {
    /// Keeps the value or records the error.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Keeps the value or records all errors.
    pub fn take_all<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(Invalid(errors)) => {
                self.0.extend(errors);
                None
            }
        }
    }

    /// Records an error.
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// `Ok(())` when nothing was recorded.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0))
        }
    }
}
