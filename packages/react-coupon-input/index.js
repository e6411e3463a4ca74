// CouponInput: the coupon service's <coupon-input> widget as a React component. Written
// without JSX so that it runs as it is, with no build step.
import { createElement, useEffect, useLayoutEffect, useRef, version } from "react";
// Defines <coupon-input> in the browser; does nothing where there is no DOM.
import "./widget.js";

// The order must be on the element before the shopper can press Apply; on the server there
// is no element, and useLayoutEffect would warn.
const useOrderEffect = typeof window === "undefined" ? useEffect : useLayoutEffect;

// React 18 writes `className` on a custom element as a `classname` attribute; React 19
// writes `class`, and warns about a `class` prop.
const classProp = Number.parseInt(version, 10) >= 19 ? "className" : "class";

/**
 * A coupon code box that asks the coupon service whether a code applies to `order`.
 *
 * @param {import("./index.js").CouponInputProps} props
 */
export function CouponInput({
  endpoint,
  publicKey,
  order,
  onSuccess,
  onError,
  onLoadingChange,
  validateOn = "apply",
  lang,
  className,
  id,
  style,
}) {
  const ref = useRef(null);
  // The latest callbacks, so that new functions on each render need no new listeners.
  const callbacks = useRef({ onSuccess, onError, onLoadingChange });
  callbacks.current = { onSuccess, onError, onLoadingChange };

  useOrderEffect(() => {
    ref.current.order = order ?? null;
  }, [order]);

  useEffect(() => {
    const element = ref.current;
    const applied = (event) => callbacks.current.onSuccess?.(event.detail.discount, event.detail);
    const rejected = (event) => callbacks.current.onError?.(event.detail.reasons[0], event.detail);
    const loading = (event) => callbacks.current.onLoadingChange?.(event.detail.loading);
    element.addEventListener("coupon-applied", applied);
    element.addEventListener("coupon-rejected", rejected);
    element.addEventListener("coupon-loading", loading);
    return () => {
      element.removeEventListener("coupon-applied", applied);
      element.removeEventListener("coupon-rejected", rejected);
      element.removeEventListener("coupon-loading", loading);
    };
  }, []);

  // Attributes by their HTML names: React 18 sets every prop of a custom element as an
  // attribute, React 19 a property where the element has one; both work for these.
  return createElement("coupon-input", {
    ref,
    endpoint,
    "public-key": publicKey,
    "validate-on": validateOn,
    lang,
    [classProp]: className,
    id,
    style,
  });
}

export default CouponInput;
