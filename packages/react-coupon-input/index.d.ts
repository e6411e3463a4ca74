import type { CSSProperties, ReactElement } from "react";

/** Money as a decimal string, e.g. `"20.00"`. */
export type Decimal = string;

/** One line of the order. */
export interface OrderItem {
  sku: string;
  quantity: number;
  unitPrice: Decimal;
  categories?: string[];
}

/** The order a code is checked against, in the coupon service's shape. */
export interface Order {
  /** The shop's id for the cart or order. */
  id: string;
  /** ISO 4217 currency of every amount. */
  currency: string;
  /** The subtotal the discount applies to. */
  subtotal: Decimal;
  items?: OrderItem[];
  /** The shipping price, if the order ships. */
  shipping?: Decimal;
  customer?: { id?: string; email?: string };
  /** Sales channel, e.g. `"web"`. */
  channel?: string;
}

/** What a code takes off the order. */
export interface Discount {
  amount: Decimal;
  currency: string;
}

/**
 * Why a code does not apply: one of the service's rejection codes (`NOT_FOUND`,
 * `EXPIRED`, …), `THROTTLED` (too many attempts) or `UNAVAILABLE` (the check failed).
 * `message` is in the shopper's language.
 */
export interface Reason {
  code: string;
  message: string;
}

/** The `detail` of the element's `coupon-applied` event. */
export interface AppliedDetail {
  code: string;
  discount: Discount;
  /** The discount per order line, as the service answers it. */
  lines: unknown[];
}

/** The `detail` of the element's `coupon-rejected` event. */
export interface RejectedDetail {
  code: string;
  reasons: Reason[];
  /** Seconds until codes can be tried again, when `reasons[0].code` is `THROTTLED`. */
  retryAfter?: number;
  /** The service's problem document, when `reasons[0].code` is `UNAVAILABLE`. */
  problem?: unknown;
}

export interface CouponInputProps {
  /** The coupon service's base URL. Default: the page's origin. */
  endpoint?: string;
  /** An API key with the `public` role. */
  publicKey: string;
  /** The order the code is checked against. */
  order: Order | null | undefined;
  /** A code applies. */
  onSuccess?: (discount: Discount, detail: AppliedDetail) => void;
  /** A code does not apply, the shopper is throttled, or the check failed. */
  onError?: (reason: Reason, detail: RejectedDetail) => void;
  /** A check starts (`true`) or ends (`false`). */
  onLoadingChange?: (loading: boolean) => void;
  /** `apply` (default): on Enter or the button; `typing`: also 600 ms after typing stops. */
  validateOn?: "apply" | "typing";
  /** The language of texts and reasons (sent as Accept-Language); default: the browser's. */
  lang?: string;
  className?: string;
  id?: string;
  style?: CSSProperties;
}

/** A coupon code box that asks the coupon service whether a code applies to `order`. */
export function CouponInput(props: CouponInputProps): ReactElement;
export default CouponInput;
