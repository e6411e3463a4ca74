// Copies the widget the service serves (src/widget/coupon-input.js) into this package as
// widget.js, byte for byte. Run by `npm test` and `npm pack`/`npm publish`.
import { copyFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const source = fileURLToPath(new URL("../../../src/widget/coupon-input.js", import.meta.url));
export const copy = fileURLToPath(new URL("../widget.js", import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  copyFileSync(source, copy);
}
