// Signs test events with the payment providers' own libraries, for tests/it/payments.rs.
// One JSON request per line on stdin, one JSON answer per line on stdout:
//   {"op":"stripe","payload":"…","secret":"whsec_…","timestamp":1700000000}
//       → {"header":"t=…,v1=…"}            (stripe.webhooks.generateTestHeaderString)
//   {"op":"braintreeSample","kind":"…","id":"…","publicKey":"…","privateKey":"…"}
//       → {"bt_signature":"…","bt_payload":"…","xml":"…"}  (webhookTesting.sampleNotification)
//   {"op":"braintreeSign","xml":"…","publicKey":"…","privateKey":"…"}
//       → {"bt_signature":"…","bt_payload":"…","parsed":{…}}
//     signs a notification's XML as sampleNotification does (webhookTesting.sampleSignature)
//     and reads it back with webhookNotification.parse, so the XML is one Braintree's
//     library accepts.
"use strict";

const readline = require("node:readline");
const braintree = require("braintree");
const stripe = require("stripe")("sk_test_signing_only");

function gateway(publicKey, privateKey) {
  return new braintree.BraintreeGateway({
    environment: braintree.Environment.Sandbox,
    merchantId: "coupons-test",
    publicKey,
    privateKey,
  });
}

async function handle(req) {
  switch (req.op) {
    case "stripe":
      return {
        header: stripe.webhooks.generateTestHeaderString({
          payload: req.payload,
          secret: req.secret,
          timestamp: req.timestamp,
        }),
      };
    case "braintreeSample": {
      const g = gateway(req.publicKey, req.privateKey);
      const n = g.webhookTesting.sampleNotification(req.kind, req.id);
      return { ...n, xml: Buffer.from(n.bt_payload, "base64").toString("utf8") };
    }
    case "braintreeSign": {
      const g = gateway(req.publicKey, req.privateKey);
      const payload = Buffer.from(req.xml).toString("base64") + "\n";
      const signature = g.webhookTesting.sampleSignature(payload);
      const parsed = await g.webhookNotification.parse(signature, payload);
      const t = parsed.transaction || (parsed.subject && parsed.subject.transaction) || {};
      return {
        bt_signature: signature,
        bt_payload: payload,
        parsed: { kind: parsed.kind, transactionId: t.id, customFields: t.customFields || null },
      };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (e) {
    answer = { error: String(e && e.stack ? e.stack : e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
