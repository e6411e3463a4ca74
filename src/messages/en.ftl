# Why a coupon does not apply, in English: one message per rejection code.
NOT_FOUND = no such coupon code
NOT_ACTIVE = this coupon is not active
NOT_STARTED = this coupon is not valid yet
EXPIRED = this coupon has expired
CURRENCY_MISMATCH = this coupon does not apply to orders in this currency
CHANNEL_NOT_ELIGIBLE = this coupon does not apply in this sales channel
MIN_SUBTOTAL_NOT_MET = the order subtotal is below this coupon's minimum
MIN_ITEMS_NOT_MET = the order has fewer items than this coupon's minimum
NO_ELIGIBLE_ITEMS = none of the order's items qualifies for this coupon
ZERO_DISCOUNT = this coupon gives no discount on this order
USAGE_LIMIT_REACHED = this coupon has been used as often as allowed
CODE_USAGE_LIMIT_REACHED = this code has been used as often as allowed
CUSTOMER_REQUIRED = this coupon needs a customer id or e-mail on the order
CUSTOMER_LIMIT_REACHED = this customer has used this coupon as often as allowed
CUSTOMER_DISCOUNT_LIMIT_REACHED = this customer has had as much discount from this coupon as allowed
ALREADY_APPLIED_TO_ORDER = this coupon is already used on this order
NOT_COMBINABLE = this coupon cannot be combined with { $with }
CAMPAIGN_USAGE_LIMIT_REACHED = this promotion has been used as often as allowed
CAMPAIGN_BUDGET_EXHAUSTED = this promotion has no budget left
RULE_REJECTED = { $message } (rule { $rule })
RULE_FAILED = rule { $rule } could not be evaluated
ORDER_FULLY_DISCOUNTED = this order already has as much discount as it can take

# The coupon input widget's own texts. { $amount } and { $seconds } stay as written:
# the widget fills them in.
widget-label = Coupon code
widget-apply = Apply
widget-checking = Checking…
widget-applied = Coupon applied: { $amount } off
widget-throttled = Too many attempts. Try again in { $seconds } s.
widget-unavailable = The code could not be checked. Please try again.
widget-empty = Enter a code first.
