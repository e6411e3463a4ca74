//! Input objects and mutation payloads, one file per area. Each input converts into
//! the domain's or the service's own input type; nothing here checks values.

mod abuse;
mod bulk_job;
mod campaign;
mod cart;
mod checkout;
mod coupon;
mod event;
mod money;
mod order;
mod rule;
mod security;
mod target;
mod webhook;

pub use abuse::{
    AbuseSignalFilter, ResolveAbuseSignalInput, ResolveAbuseSignalPayload, SetAbuseActionInput,
    SetAbuseActionPayload,
};
pub use bulk_job::{
    CancelBulkJobInput, CancelBulkJobPayload, CodePatternInput, GenerateCodesInput,
    GenerateCodesPayload,
};
pub use campaign::{
    CampaignPayload, CreateCampaignInput, SetCouponCampaignInput, SetCouponCampaignPayload,
    UpdateCampaignInput,
};
pub use cart::{
    CartPayload, RedeemCartInput, ReleaseCartInput, ReserveCartInput, ReverseCartInput,
    ValidateCartInput,
};
pub use checkout::{
    RedeemCouponInput, RedeemCouponPayload, RedemptionFilter, ReleaseReservationInput,
    ReleaseReservationPayload, ReserveCouponInput, ReserveCouponPayload, ReverseRedemptionInput,
    ReverseRedemptionPayload, ValidateCouponInput,
};
pub use coupon::{
    AddCodesInput, AddCodesPayload, CouponFilter, CreateCouponInput, CreateCouponPayload,
    DeleteCouponInput, DeleteCouponPayload, DiscountInput, InitialCouponStatus, RuleBindingInput,
    SetCouponStatusInput, SetCouponStatusPayload, UpdateCouponInput, UpdateCouponPayload, warnings,
};
pub use event::CouponEventFilter;
pub use money::MoneyInput;
pub use order::{CustomerInput, LineItemInput, OrderInput};
pub use rule::{PublishRuleInput, RollbackRuleInput, RulePayload, SimulateRulesInput};
pub use security::{
    ApiKeyFilter, AuditLogFilter, CreateApiKeyInput, CreateApiKeyPayload, RevokeApiKeyInput,
    RevokeApiKeyPayload, RotateApiKeyInput, RotateApiKeyPayload,
};
pub use target::{BuyXGetYInput, LineSelectionInput, TargetInput};
pub use webhook::{
    CreateWebhookEndpointInput, CreateWebhookEndpointPayload, DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload, RedeliverWebhookInput, RedeliverWebhookPayload,
    UpdateWebhookEndpointInput, UpdateWebhookEndpointPayload, WebhookDeliveryFilter,
};
