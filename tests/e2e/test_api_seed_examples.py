"""Every request example of the source documents (/work/shared/seeds), sent to Hookline.

Tripletex's paths are Hookline's, so its requests go as written. The others' go as
written to their own paths in test_api_dialect_seeds.py; here they are adapted to the
native paths and field names (docs/api.md has the table):
Orderspace's ``{"webhook": {"endpoint", "events"}}`` and Booqable's
``{"data": {"attributes": {"url", "events"}}}`` become ``{"targetUrl", "events"}``,
ShareActor's ``{"endpoint", "event_type"}`` becomes ``{"targetUrl", "event"}``;
``page``/``size``/``sort`` become ``from``/``count``/``sorting``. Each test checks the
status and the shape of the answer.

The test stack allows http and private targets; the https rule of Orderspace's 422
example is checked on a second API process started with the defaults.
"""

from __future__ import annotations

import base64
import re
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from support.client import Api
from support.stack import ROOT, Service, Stack, free_port

BASE = "/v2/event/subscription"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUBSCRIPTION_KEYS = {
    "id",
    "version",
    "url",
    "event",
    "events",
    "targetUrl",
    "fields",
    "format",
    "dialect",
    "status",
    "authHeaderName",
    "authHeaderValue",
    "secret",
    "createdAt",
    "updatedAt",
}


def assert_subscription(value: dict[str, Any], api: Api) -> None:
    """The shape of one subscription in an answer."""
    assert set(value) == SUBSCRIPTION_KEYS
    assert isinstance(value["id"], int) and isinstance(value["version"], int)
    assert value["url"] == f"{api.base}{BASE}/{value['id']}"
    assert value["dialect"] == "tripletex"  # made here, through the native API
    assert value["status"] in ("ACTIVE", "DISABLED", "DISABLED_TOO_MANY_ERRORS", "DISABLED_GONE")
    assert value["secret"].startswith("whsec_")
    assert ISO.match(value["createdAt"]) and ISO.match(value["updatedAt"])
    assert value["events"] and all(isinstance(e, str) for e in value["events"])
    assert value["event"] == (value["events"][0] if len(value["events"]) == 1 else None)


def assert_list(body: dict[str, Any], api: Api) -> list[dict[str, Any]]:
    assert set(body) == {"fullResultSize", "from", "count", "values"}
    assert body["count"] == len(body["values"]) <= body["fullResultSize"]
    for value in body["values"]:
        assert_subscription(value, api)
    return list(body["values"])


async def post(api: Api, body: Any) -> dict[str, Any]:
    status, got = await api.call("POST", BASE, body)
    assert status == 201, got
    assert set(got) == {"value"}
    assert_subscription(got["value"], api)
    return dict(got["value"])


# --- Tripletex (000 and 001): paths as written ------------------------------------------


async def test_tripletex_event_catalog_with_basic_auth(
    tenant: Api, http: aiohttp.ClientSession
) -> None:
    # curl -X GET --header 'Accept: application/json' --header 'Authorization: Basic <token>'
    #   'https://tripletex.no/v2/event'
    token = base64.b64encode(f"0:{tenant.key}".encode()).decode()
    headers = {"Accept": "application/json", "Authorization": f"Basic {token}"}
    async with http.get(f"{tenant.base}/v2/event", headers=headers) as rsp:
        assert rsp.status == 200
        body = await rsp.json()
    assert set(body) == {"value"}
    for name, entry in body["value"].items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", name)
        assert set(entry) <= {"description", "payloadModel"} and "description" in entry
    assert body["value"]["product.create"]["payloadModel"] == "Product"
    assert "order.delete" in body["value"]
    for name in ("invoice.charged", "voucherstatus.ready", "notification.sent", "supplier.update"):
        assert name in body["value"]
    # 001 shows the same call with the token left out: that is a 401.
    headers["Authorization"] = "Basic "
    async with http.get(f"{tenant.base}/v2/event", headers=headers) as rsp:
        assert rsp.status == 401
        assert (await rsp.json())["code"] == "unauthorized"


async def test_tripletex_subscribe_and_list(tenant: Api) -> None:
    # POST https://tripletex.no/v2/event/subscription (000); "fields" is the document's
    # placeholder text there, so a real expression stands in for it.
    created = await post(
        tenant,
        {"event": "product.create", "targetUrl": "https://your.receiver", "fields": "id,name"},
    )
    assert (created["event"], created["version"], created["status"]) == (
        "product.create",
        0,
        "ACTIVE",
    )
    # The subscription of the 'Subscription status' example, then GET /v2/event/subscription.
    listed = await post(
        tenant,
        {
            "event": "product.create",
            "targetUrl": "http://webhook.target.io/foo",
            "fields": "*,currency(*)",
        },
    )
    status, body = await tenant.call("GET", BASE)
    assert status == 200
    values = assert_list(body, tenant)
    assert [v["id"] for v in values] == [listed["id"], created["id"]]
    first = values[0]
    assert {k: first[k] for k in ("version", "event", "targetUrl", "fields", "status")} == {
        "version": 0,
        "event": "product.create",
        "targetUrl": "http://webhook.target.io/foo",
        "fields": "*,currency(*)",
        "status": "ACTIVE",
    }


async def test_tripletex_callback_authentication(tenant: Api) -> None:
    # 001: the three ways to authenticate the callback.
    header = await post(
        tenant,
        {
            "event": "product.create",
            "targetUrl": "https://your.receiver",
            "fields": "id,name",
            "authHeaderName": "Authorization",
            "authHeaderValue": "Bearer abc123",
        },
    )
    assert (header["authHeaderName"], header["authHeaderValue"]) == ("Authorization", "****")
    basic = await post(
        tenant,
        {
            "event": "product.create",
            "targetUrl": "https://username:password@myintegration.example/tripletex",
        },
    )
    assert basic["targetUrl"] == "https://username:****@myintegration.example/tripletex"
    token = await post(
        tenant,
        {
            "event": "product.create",
            "targetUrl": "https://myintegration.example/tripletex?token=secret123",
        },
    )
    assert token["targetUrl"] == "https://myintegration.example/tripletex?token=secret123"


async def test_tripletex_reenable_with_put(tenant: Api) -> None:
    # 001: "You can also re-enable a disabled event via PUT /event/subscription/{id}".
    sub = await post(tenant, {"event": "order.update", "targetUrl": "https://your.receiver"})
    path = f"{BASE}/{sub['id']}"
    status, off = await tenant.call("PUT", path, {"status": "DISABLED"})
    assert (status, off["value"]["status"]) == (200, "DISABLED")
    status, on = await tenant.call("PUT", path, {"status": "ACTIVE"})
    assert status == 200
    assert_subscription(on["value"], tenant)
    assert (on["value"]["status"], on["value"]["version"]) == ("ACTIVE", 2)


# --- Orderspace (002) --------------------------------------------------------------------

ORDERSPACE_ENDPOINT = "https://webhook.site/#!/6e3931ec-9f4b-4b3a-932f-42f73d1dc45f"


async def test_orderspace_create_and_list(tenant: Api) -> None:
    # curl -X POST https://api.orderspace.com/v1/webhooks -d '{"webhook": {"endpoint": ...,
    #   "events": ["order.created", "dispatch.created"]}}'
    events = ["order.created", "dispatch.created"]
    created = await post(tenant, {"targetUrl": ORDERSPACE_ENDPOINT, "events": events})
    assert created["events"] == events and created["event"] is None
    assert created["targetUrl"] == ORDERSPACE_ENDPOINT
    assert len(base64.b64decode(created["secret"][6:])) == 32  # the signing key
    # The document's own shape is refused with a pointer to ours.
    status, body = await tenant.call(
        "POST", BASE, {"webhook": {"endpoint": ORDERSPACE_ENDPOINT, "events": events}}
    )
    assert status == 422 and "webhook" in body["message"]
    # curl -X GET https://api.orderspace.com/v1/webhooks: most recently created first.
    newer = await post(
        tenant, {"targetUrl": ORDERSPACE_ENDPOINT + "x", "events": ["order.created"]}
    )
    status, listed = await tenant.call("GET", BASE)
    assert status == 200
    assert [v["id"] for v in assert_list(listed, tenant)] == [newer["id"], created["id"]]


async def test_orderspace_422_without_an_endpoint(tenant: Api) -> None:
    # "Validation failed: Endpoint can't be blank, Endpoint must be a https url"
    status, body = await tenant.call("POST", BASE, {"events": ["order.created"]})
    assert status == 422
    assert set(body) == {"status", "code", "message", "validationMessages"}
    assert body["validationMessages"] == [
        {"field": "targetUrl", "message": "targetUrl is required"}
    ]


async def test_orderspace_422_for_an_http_endpoint(strict_api: Api) -> None:
    status, body = await strict_api.call(
        "POST", BASE, {"targetUrl": "http://webhook.site/x", "events": ["order.created"]}
    )
    assert status == 422
    assert body["validationMessages"] == [
        {"field": "targetUrl", "message": "targetUrl must be an https URL"}
    ]
    status, body = await strict_api.call(
        "POST", BASE, {"targetUrl": "https://127.0.0.1/x", "events": ["order.created"]}
    )
    assert status == 422 and "loopback" in body["message"]
    host = socket.gethostname()
    try:
        addresses = {str(i[4][0]) for i in socket.getaddrinfo(host, 443)}
    except OSError:
        addresses = set()
    if any(a.startswith(("127.", "10.", "192.168.", "::1")) for a in addresses):
        status, body = await strict_api.call(
            "POST", BASE, {"targetUrl": f"https://{host}/x", "event": "order.created"}
        )
        assert status == 422 and f"{host} resolves to" in body["message"]


# --- ShareActor (003) --------------------------------------------------------------------


async def test_shareactor_create_update_read_list_delete(tenant: Api) -> None:
    # POST /webhooks {"endpoint": "http://requestbin.fullcontact.com/asdfasdf",
    #   "event_type": "order.created"}
    created = await post(
        tenant,
        {"targetUrl": "http://requestbin.fullcontact.com/asdfasdf", "event": "order.created"},
    )
    path = f"{BASE}/{created['id']}"
    # PUT /webhooks/<id> {"endpoint": "https://www.google.com"}
    status, updated = await tenant.call("PUT", path, {"targetUrl": "https://www.google.com"})
    assert status == 200
    assert_subscription(updated["value"], tenant)
    assert updated["value"]["targetUrl"] == "https://www.google.com"
    assert updated["value"]["event"] == "order.created"
    assert updated["value"]["createdAt"] == created["createdAt"]
    # GET /webhooks/<id>
    status, read = await tenant.call("GET", path)
    assert status == 200 and read == updated
    # GET /webhooks with size, page and sort (default -modified)
    status, listed = await tenant.call("GET", f"{BASE}?count=10&from=0&sorting=-updatedAt")
    assert status == 200
    assert assert_list(listed, tenant) == [updated["value"]]
    # DELETE /webhooks/<id>: Hookline answers 204, and the id is gone.
    status, _ = await tenant.call("DELETE", path)
    assert status == 204
    assert (await tenant.call("GET", path))[0] == 404


# --- Booqable (004) ----------------------------------------------------------------------

HOOKS = "https://example.com/hooks"


async def test_booqable_subscribe_update_unsubscribe(tenant: Api) -> None:
    # POST /api/boomerang/webhook_endpoints {"data": {"type": "webhook_endpoints",
    #   "attributes": {"url": "https://example.com/hooks", "events": [...]}}}
    created = await post(
        tenant, {"targetUrl": HOOKS, "events": ["customer.created", "customer.updated"]}
    )
    assert created["events"] == ["customer.created", "customer.updated"]
    status, body = await tenant.call(
        "POST",
        BASE,
        {
            "data": {
                "type": "webhook_endpoints",
                "attributes": {"url": HOOKS, "events": ["customer.created"]},
            }
        },
    )
    assert status == 422 and "data" in body["message"]
    # PUT /api/boomerang/webhook_endpoints/{id}
    path = f"{BASE}/{created['id']}"
    status, updated = await tenant.call(
        "PUT", path, {"targetUrl": HOOKS, "events": ["customer.created"]}
    )
    assert status == 200
    assert_subscription(updated["value"], tenant)
    assert (updated["value"]["event"], updated["value"]["events"]) == (
        "customer.created",
        ["customer.created"],
    )
    # DELETE /api/boomerang/webhook_endpoints/{id}
    assert (await tenant.call("DELETE", path))[0] == 204
    assert (await tenant.call("GET", path))[0] == 404


async def test_booqable_listing_fields_filters_sort_and_pages(tenant: Api) -> None:
    one = await post(tenant, {"targetUrl": HOOKS, "events": ["invoice.finalized"]})
    two = await post(
        tenant, {"targetUrl": "https://example.org/other", "events": ["order.reserved"]}
    )
    # GET /api/boomerang/webhook_endpoints
    status, listed = await tenant.call("GET", BASE)
    assert status == 200 and len(assert_list(listed, tenant)) == 2
    # ?fields[webhook_endpoints]=created_at,updated_at,url
    status, sparse = await tenant.call("GET", f"{BASE}?fields=createdAt,updatedAt,targetUrl")
    assert status == 200
    assert all(set(v) == {"createdAt", "updatedAt", "targetUrl"} for v in sparse["values"])
    # ?filter[attribute][eq]=value, on url and created_at as its table lists
    status, found = await tenant.call("GET", f"{BASE}?filter[targetUrl][eq]={HOOKS}")
    assert [v["id"] for v in found["values"]] == [one["id"]]
    status, found = await tenant.call("GET", f"{BASE}?filter[targetUrl][not_eq]={HOOKS}")
    assert [v["id"] for v in found["values"]] == [two["id"]]
    status, found = await tenant.call(
        "GET", f"{BASE}?filter[createdAt][gte]={one['createdAt']}&filter[id][not_eq]={two['id']}"
    )
    assert [v["id"] for v in found["values"]] == [one["id"]]
    # ?sort=attribute1,-attribute2
    status, ordered = await tenant.call("GET", f"{BASE}?sorting=createdAt,-id")
    assert [v["id"] for v in ordered["values"]] == [one["id"], two["id"]]
    # ?page[number]=2&page[size]=1 and ?meta[total][]=count
    status, page = await tenant.call("GET", f"{BASE}?from=1&count=1&sorting=id")
    assert (page["fullResultSize"], [v["id"] for v in page["values"]]) == (2, [two["id"]])


async def test_the_default_policy_refuses_odd_hosts_with_a_422(strict_api: Api) -> None:
    # Not a seed example: hosts that cannot even be looked up must not reach DNS (or a 500).
    for url in ("https://a..b/x", "https://" + "x" * 64 + ".example/", "https://[::1]/x"):
        status, body = await strict_api.call(
            "POST", BASE, {"targetUrl": url, "event": "order.created"}
        )
        assert status == 422, (url, body)
        assert body["validationMessages"][0]["field"] == "targetUrl"


# --- a second API process with the default target policy -----------------------------------


@pytest.fixture(scope="module")
def strict_service(stack: Stack) -> Iterator[Service]:
    env = {
        **stack.services["api"].env,
        "HOOKLINE_HTTP_PORT": str(free_port()),
        "HOOKLINE_ALLOW_HTTP_TARGETS": "0",
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": "0",
    }
    log = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"] / "api-strict.log"
    service = Service("api", env, log)
    service.start()
    try:
        service.wait_healthy()
        yield service
    finally:
        service.kill(signal.SIGTERM)


@pytest_asyncio.fixture(loop_scope="session")
async def strict_api(strict_service: Service, tenant: Api) -> AsyncIterator[Api]:
    yield Api(f"http://127.0.0.1:{strict_service.port}", tenant.session, tenant.key)
