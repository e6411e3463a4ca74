"""End to end: drives the REST API of the real binary over HTTP and checks every request
and every answer against the OpenAPI document the binary serves (openapi-core), which
must equal the checked-in openapi.json. Runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL names a reachable server (required under CI=true).

Usage: python rest_e2e.py path/to/coupons
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import uuid

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Service:
    """The binary on one database, and a client that checks each call against the document."""

    def __init__(self, binary, database_url):
        env = dict(os.environ,
                   DATABASE_URL=database_url,
                   COUPONS_BIND="127.0.0.1:0",
                   RUST_LOG="warn",
                   # A small guess budget for public keys, so a lockout comes quickly.
                   COUPONS_PUBLIC_ATTEMPT_LIMITS="key=5,ip=0,customer=0")
        self.process = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, text=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        lines = []
        for line in self.process.stdout:
            lines.append(line.strip())
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise RuntimeError("the service did not start:\n" + "\n".join(lines))
        # Keep reading so the pipe never fills.
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        self.base = next(l for l in lines if l.startswith("Listening on ")).split(" ", 2)[2]
        self.admin = next(l for l in lines if l.startswith("cpn_"))
        served = requests.get(self.base + "/openapi.json", timeout=10)
        assert served.status_code == 200
        checked_in = (ROOT / "openapi.json").read_text()
        assert served.text == checked_in, "the served document differs from openapi.json"
        document = json.loads(served.text)
        document["servers"] = [{"url": self.base}]
        # JSON Merge Patch bodies (PATCH) and problem details (errors) are JSON.
        config = Config(extra_media_type_deserializers={
            "application/merge-patch+json": json.loads,
            "application/problem+json": json.loads,
        })
        self.api = OpenAPI.from_dict(document, config=config)
        self.session = requests.Session()
        self.checked = 0

    def call(self, method, path, key=None, body=None, headers=None, content_type="application/json",
             breaks_the_contract=False):
        headers = dict(headers or {})
        if key:
            headers["Authorization"] = "Bearer " + key
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        request = requests.Request(method, self.base + path, headers=headers, data=data)
        response = self.session.send(request.prepare(), timeout=30)
        # Every request (but the deliberately wrong ones) and every answer must be what the
        # document says.
        if not breaks_the_contract:
            self.api.validate_request(RequestsOpenAPIRequest(request))
        self.api.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response))
        self.checked += 1
        return response

    def graphql(self, query, variables=None):
        r = self.session.post(self.base + "/graphql",
                              json={"query": query, "variables": variables or {}},
                              headers={"Authorization": "Bearer " + self.admin}, timeout=30)
        body = r.json()
        assert "errors" not in body, body
        return body["data"]

    def key(self, role):
        data = self.graphql(
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret userErrors { code } } }",
            {"input": {"name": "e2e " + role.lower(), "role": role}})
        return data["createApiKey"]["secret"]

    def stop(self):
        self.process.kill()
        self.process.wait()


def expect(response, status):
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def scenario(svc):
    admin = svc.admin
    store = svc.key("STOREFRONT")
    public = svc.key("PUBLIC")
    order = {"id": "e2e-1", "currency": "EUR", "subtotal": "40.00",
             "items": [{"sku": "tea", "quantity": 2, "unitPrice": "20.00"}],
             "customer": {"email": "ann@example.com"}}

    # Create.
    created = svc.call("POST", "/api/coupons", admin, {
        "name": "Ten off", "code": "E2E10", "discount": {"percentage": "10"}, "maxRedemptions": 5})
    coupon = expect(created, 201)
    tag = created.headers["ETag"]
    path = "/api/coupons/" + urllib.parse.quote(coupon["id"])
    expect(svc.call("GET", path, admin), 200)
    expect(svc.call("GET", "/api/coupons?limit=1", admin), 200)

    # Two admins: the second, holding the first version, is refused.
    changed = svc.call("PATCH", path, admin, {"maxRedemptions": 10}, {"If-Match": tag},
                       content_type="application/merge-patch+json")
    assert expect(changed, 200)["maxRedemptions"] == 10
    stale = svc.call("PUT", path, admin, {"name": "Mine", "discount": {"percentage": "50"}}, {"If-Match": tag})
    assert expect(stale, 412)["code"] == "PRECONDITION_FAILED"
    expect(svc.call("PATCH", path, admin, {"name": "No tag"}, breaks_the_contract=True), 428)

    # Validate, reserve, redeem, reverse.
    valid = expect(svc.call("POST", "/api/coupon/validate", store, {"code": "e2e10", "order": order}), 200)
    assert valid["valid"] and valid["discount"] == {"amount": "4.00", "currency": "EUR"}, valid
    reservation = expect(svc.call("POST", "/api/reservations", store, {"code": "E2E10", "order": order},
                                  {"Idempotency-Key": str(uuid.uuid4())}), 201)
    redeem_key = str(uuid.uuid4())
    redemption = expect(svc.call("POST", "/api/redemptions", store, {"reservationId": reservation["id"]},
                                 {"Idempotency-Key": redeem_key}), 201)
    assert redemption["status"] == "REDEEMED"
    replay = svc.call("POST", "/api/redemptions", store, {"reservationId": reservation["id"]},
                      {"Idempotency-Key": redeem_key})
    assert expect(replay, 201)["id"] == redemption["id"] and replay.headers["Idempotent-Replayed"] == "true"
    reversed_ = expect(svc.call("POST", f"/api/redemptions/{redemption['id']}/reverse", store, {},
                                {"Idempotency-Key": str(uuid.uuid4())}), 200)
    assert reversed_["status"] == "REVERSED", reversed_
    assert expect(svc.call("DELETE", path, admin), 409)["code"] == "HAS_REDEMPTIONS"

    # A cart: two codes on one order, all or none; each applies to what the one before
    # left (5.00 off, then 10% of 35.00).
    expect(svc.call("POST", "/api/coupons", admin, {
        "name": "Five off", "code": "E2E-FIVE", "discount": {"amount": {"amount": "5.00", "currency": "EUR"}},
        "combinesWith": ["ORDER"]}), 201)
    expect(svc.call("PATCH", path, admin, {"combinesWith": ["ORDER"]},
                    {"If-Match": svc.call("GET", path, admin).headers["ETag"]},
                    content_type="application/merge-patch+json"), 200)
    cart = {"codes": ["E2E10", "E2E-FIVE"], "order": dict(order, id="e2e-cart")}
    checked = expect(svc.call("POST", "/api/carts/validate", store, cart), 200)
    assert checked["valid"] and checked["discount"] == {"amount": "8.50", "currency": "EUR"}, checked
    taken = expect(svc.call("POST", "/api/carts/redemptions", store, cart, {"Idempotency-Key": str(uuid.uuid4())}), 201)
    assert [r["code"] for r in taken["redemptions"]] == ["E2E10", "E2E-FIVE"], taken
    expect(svc.call("POST", "/api/carts/e2e-cart/reverse", store, headers={"Idempotency-Key": str(uuid.uuid4())}), 200)

    # A rejection, in German.
    expired = svc.call("POST", "/api/coupons", admin, {
        "name": "Old", "code": "E2E-OLD", "discount": {"percentage": "5"},
        "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2020-02-01T00:00:00Z"})
    expect(expired, 201)
    answer = expect(svc.call("POST", "/api/coupon/validate", store, {"code": "E2E-OLD", "order": order},
                             {"Accept-Language": "de"}), 200)
    assert answer["reasons"] == [{"code": "EXPIRED", "message": "dieser Gutschein ist abgelaufen"}], answer

    # Guessing with a public key: locked out with 429 and Retry-After.
    statuses = []
    for n in range(8):
        r = svc.call("POST", "/api/coupon/validate", public, {"code": f"GUESS-{n}", "order": order})
        statuses.append(r.status_code)
        if r.status_code == 429:
            problem = r.json()
            assert problem["code"] == "THROTTLED"
            assert int(r.headers["Retry-After"]) == problem["retryAfter"] > 0
            break
    assert statuses[-1] == 429 and statuses[:-1] == [200] * (len(statuses) - 1), statuses

    # Errors the document describes too.
    expect(svc.call("GET", path, None, breaks_the_contract=True), 401)
    expect(svc.call("POST", "/api/coupons", store, {"name": "x", "discount": {"percentage": "1"}}), 403)
    bad = expect(svc.call("POST", "/api/coupons", admin, {"name": "x", "discount": {"percentage": "300"}}), 422)
    assert {"field": ["discount", "percentage"], "code": "PERCENTAGE_OUT_OF_RANGE"} in [
        {"field": e["field"], "code": e["code"]} for e in bad["errors"]], bad
    texts = expect(svc.call("GET", "/api/widget/texts", headers={"Accept-Language": "fr"}), 200)
    assert texts["language"] == "fr"


def readme_five_lines(svc):
    """Runs the README's REST quick start as written, against this service."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## REST in five lines", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    assert lines[0].startswith("KEY=cpn_"), lines[0]
    assert len(lines) == 5, f"the quick start has {len(lines)} commands: {lines}"
    host = urllib.parse.urlsplit(svc.base).netloc
    script = "\n".join(["set -eu", f"KEY={svc.admin}"]
                       + [l.replace("localhost:8080", host) for l in lines[1:]])
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert '"valid":true,"discount":{"amount":"4.00","currency":"EUR"}' in out, out
    assert '"status":"REDEEMED"' in out, out
    assert '"openapi": "3.1.0"' in out, out


def run(binary, label, database_url):
    svc = Service(binary, database_url)
    try:
        readme_five_lines(svc)
        scenario(svc)
        print(f"ok: {label}: {svc.checked} calls, each request and answer valid against openapi.json")
    finally:
        svc.stop()


def postgres_database(url):
    """A fresh database on the server of `url`, or None when it is unreachable."""
    name = "coupons_e2e_" + uuid.uuid4().hex[:12]
    made = subprocess.run(["psql", url, "-qAtc", f"CREATE DATABASE {name}"], capture_output=True, text=True)
    if made.returncode != 0:
        return None, None
    return urllib.parse.urlsplit(url)._replace(path="/" + name).geturl(), name


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/coupons")
    with tempfile.TemporaryDirectory() as tmp:
        run(binary, "SQLite", f"sqlite://{tmp}/e2e.db")
    url = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    database, name = postgres_database(url)
    if database is None:
        if os.environ.get("CI") == "true":
            sys.exit(f"CI=true requires PostgreSQL at {url}")
        print(f"NOTICE: skipping PostgreSQL: {url} is unreachable")
        return
    try:
        run(binary, "PostgreSQL", database)
    finally:
        subprocess.run(["psql", url, "-qAtc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


if __name__ == "__main__":
    main()
