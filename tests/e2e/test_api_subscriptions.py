"""The subscription API on the real stack: keys, tenants, versions, limits, masking."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from typing import Any

import aiohttp

from hookline.core import kafka
from hookline.core.config import Settings
from support import factories
from support.client import Api
from support.stack import Stack

BASE = "/v2/event/subscription"
GOOD = {"event": "product.create", "targetUrl": "https://example.com/hook"}


async def create(api: Api, **body: Any) -> dict[str, Any]:
    status, got = await api.call("POST", BASE, {**GOOD, **body})
    assert status == 201, got
    return dict(got["value"])


async def new_tenant(admin: Api) -> tuple[int, str, Api]:
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"t-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    value = body["value"]
    return value["id"], value["apiKeyId"], admin.as_key(value["apiKey"])


async def test_another_tenants_subscription_is_not_found(tenant: Api, admin: Api) -> None:
    _, _, other = await new_tenant(admin)
    mine = await create(tenant)
    theirs = await create(other, targetUrl="https://other.example/hook")
    for path in (f"{BASE}/{theirs['id']}", f"{BASE}/{theirs['id']}/secret"):
        status, body = await tenant.call("GET", path)
        assert (status, body["code"]) == (404, "not_found"), path
    status, _ = await tenant.call("PUT", f"{BASE}/{theirs['id']}", {"status": "DISABLED"})
    assert status == 404
    status, _ = await tenant.call("DELETE", f"{BASE}/{theirs['id']}")
    assert status == 404

    status, listed = await tenant.call("GET", BASE)
    assert status == 200
    assert [v["id"] for v in listed["values"]] == [mine["id"]]
    assert listed["fullResultSize"] == 1
    status, filtered = await tenant.call("GET", f"{BASE}?filter[id][eq]={theirs['id']}")
    assert (status, filtered["values"], filtered["fullResultSize"]) == (200, [], 0)

    # ... and theirs is untouched by all that.
    status, still = await other.call("GET", f"{BASE}/{theirs['id']}")
    assert (status, still["value"]["status"], still["value"]["version"]) == (200, "ACTIVE", 0)


async def test_keys_bearer_basic_missing_and_revoked(
    admin: Api, http: aiohttp.ClientSession
) -> None:
    tenant_id, key_id, api = await new_tenant(admin)
    key = api.key
    assert key is not None
    url = api.base + BASE
    basic = base64.b64encode(f"0:{key}".encode()).decode()
    cases = {
        "bearer": ({"Authorization": f"Bearer {key}"}, 200),
        "basic, key as password": ({"Authorization": f"Basic {basic}"}, 200),
        "none": ({}, 401),
        "wrong key": ({"Authorization": "Bearer hl_nope"}, 401),
        "basic, key as user": (
            {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
            401,
        ),
        "basic, not base64": ({"Authorization": "Basic %%%"}, 401),
    }
    for name, (headers, expected) in cases.items():
        async with http.get(url, headers=headers) as rsp:
            body = await rsp.json()
            assert rsp.status == expected, (name, body)
            if expected == 401:
                assert body["code"] == "unauthorized" and body["message"], name
    async with http.get(url, auth=aiohttp.BasicAuth("anyone", key)) as rsp:
        assert rsp.status == 200

    status, _ = await admin.call("DELETE", f"/v2/admin/tenants/{tenant_id}/keys/{key_id}")
    assert status == 204
    status, body = await api.call("GET", BASE)
    assert (status, body["code"]) == (401, "unauthorized")
    assert "revoked" in body["message"]
    # A key issued afterwards works; a tenant's key is no admin token.
    status, issued = await admin.call("POST", f"/v2/admin/tenants/{tenant_id}/keys")
    assert status == 201
    fresh = admin.as_key(issued["value"]["apiKey"])
    assert (await fresh.call("GET", BASE))[0] == 200
    assert (await fresh.call("POST", "/v2/admin/tenants", {"name": "x"}))[0] == 401


async def test_delete_answers_204_then_404(tenant: Api) -> None:
    sub = await create(tenant)
    path = f"{BASE}/{sub['id']}"
    async with tenant.session.delete(
        tenant.base + path, headers={"Authorization": f"Bearer {tenant.key}"}
    ) as rsp:
        assert rsp.status == 204
        assert await rsp.read() == b""
    for method in ("GET", "PUT", "DELETE"):
        status, body = await tenant.call(method, path, {} if method == "PUT" else None)
        assert (status, body["code"]) == (404, "not_found"), method
    assert (await tenant.call("GET", BASE))[1]["values"] == []


async def test_stale_version_is_a_conflict_and_changes_count(tenant: Api) -> None:
    sub = await create(tenant)
    path = f"{BASE}/{sub['id']}"
    status, first = await tenant.call("PUT", path, {"version": 0, "fields": "id,name"})
    assert status == 200 and first["value"]["version"] == 1
    assert first["value"]["fields"] == "id,name"
    status, body = await tenant.call("PUT", path, {"version": 0, "fields": "id"})
    assert (status, body["code"]) == (409, "conflict")
    assert "version 1" in body["message"]
    # Readable as soon as the call returned: the rejected change left no trace.
    status, read = await tenant.call("GET", path)
    assert (read["value"]["version"], read["value"]["fields"]) == (1, "id,name")
    # Without a version the change is applied to whatever is current.
    status, second = await tenant.call("PUT", path, {"targetUrl": "https://example.org/new"})
    assert status == 200 and second["value"]["version"] == 2
    assert second["value"]["targetUrl"] == "https://example.org/new"
    assert second["value"]["createdAt"] == sub["createdAt"]
    assert second["value"]["updatedAt"] >= sub["updatedAt"]


async def test_concurrent_puts_with_one_version_one_wins(tenant: Api) -> None:
    sub = await create(tenant)
    path = f"{BASE}/{sub['id']}"
    results = await asyncio.gather(
        *(tenant.call("PUT", path, {"version": 0, "fields": f"f{n}"}) for n in range(8))
    )
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] + [409] * 7
    _, read = await tenant.call("GET", path)
    assert read["value"]["version"] == 1


async def test_status_active_reenables(admin: Api, stack: Stack) -> None:
    tenant_id, _, tenant = await new_tenant(admin)
    sub = await create(tenant)
    path = f"{BASE}/{sub['id']}"
    status, off = await tenant.call("PUT", path, {"status": "DISABLED"})
    assert (status, off["value"]["status"]) == (200, "DISABLED")
    status, on = await tenant.call("PUT", path, {"status": "ACTIVE"})
    assert (status, on["value"]["status"], on["value"]["version"]) == (200, "ACTIVE", 2)

    # Hookline itself disables a failing subscription by writing to the log of record.
    status, secret = await tenant.call("GET", f"{path}/secret")
    record = factories.subscription(
        id=sub["id"],
        tenant=tenant_id,
        version=3,
        target_url=GOOD["targetUrl"],
        status="DISABLED_TOO_MANY_ERRORS",
        secret=secret["value"]["secret"],
        created_at=time.time(),
        updated_at=time.time(),
    )
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        topic = f"{stack.env['HOOKLINE_TOPIC_PREFIX']}.subscriptions"
        await producer.send_and_wait(topic, record.encode(), key=record.key())
    finally:
        await producer.stop()
    read = await _wait_for(tenant, path, lambda v: v["status"] == "DISABLED_TOO_MANY_ERRORS")
    assert read["version"] == 3
    status, on = await tenant.call("PUT", path, {"status": "ACTIVE", "version": 3})
    assert (status, on["value"]["status"], on["value"]["version"]) == (200, "ACTIVE", 4)
    # A client may not set the system's statuses.
    status, body = await tenant.call("PUT", path, {"status": "DISABLED_TOO_MANY_ERRORS"})
    assert status == 422 and body["validationMessages"][0]["field"] == "status"


async def test_body_limits_and_malformed_json(tenant: Api) -> None:
    big = (
        b'{"event": "product.create", "targetUrl": "https://x.io", "fields": "'
        + (b"a" * (3 * 1024 * 1024))
        + b'"}'
    )
    status, body = await tenant.call("POST", BASE, raw=big)
    assert status == 413
    assert body["code"] == "payload_too_large" and "bytes" in body["message"]
    for raw, words in [(b"{", "not valid JSON"), (b"", "empty"), (b"\xff\xfe", "not valid JSON")]:
        status, body = await tenant.call("POST", BASE, raw=raw)
        assert (status, body["code"]) == (400, "bad_request"), raw
        assert words in body["message"]
    status, body = await tenant.call("PUT", f"{BASE}/1", raw=b"[1,")
    assert status in (400, 404)


async def test_wrong_types_list_every_bad_field(tenant: Api) -> None:
    body = {
        "event": 5,
        "targetUrl": ["https://x.io"],
        "fields": {"id": True},
        "format": 1,
        "authHeaderName": 3,
        "authHeaderValue": False,
    }
    status, got = await tenant.call("POST", BASE, body)
    assert (status, got["code"]) == (422, "validation_failed")
    fields = {m["field"] for m in got["validationMessages"]}
    assert fields == {"event", "targetUrl", "fields", "format", "authHeaderName"} | (
        fields & {"authHeaderValue"}
    )
    for name in fields:
        assert name in got["message"]
    status, got = await tenant.call("POST", BASE, [GOOD])
    assert status == 422 and "JSON object" in got["message"]
    status, got = await tenant.call("POST", BASE, {"events": ["product.create", "nope.never"]})
    assert status == 422 and "nope.never" in got["message"] and "targetUrl" in got["message"]


async def test_other_apis_shapes_get_a_hint(tenant: Api) -> None:
    orderspace = {"webhook": {"endpoint": "https://x.io/", "events": ["order.created"]}}
    status, got = await tenant.call("POST", BASE, orderspace)
    assert status == 422
    assert "webhook" in {m["field"] for m in got["validationMessages"]}
    status, got = await tenant.call(
        "POST", BASE, {"endpoint": "https://x.io/", "event_type": "order.created"}
    )
    assert status == 422
    messages = {m["field"]: m["message"] for m in got["validationMessages"]}
    assert "targetUrl" in messages["endpoint"] and "event" in messages["event_type"]


async def test_credentials_never_come_back_in_clear(tenant: Api) -> None:
    password, header_secret = "pw-" + secrets.token_hex(8), "Bearer " + secrets.token_hex(12)
    sub = await create(
        tenant,
        targetUrl=f"https://alice:{password}@example.com/hook?x=1",
        authHeaderName="Authorization",
        authHeaderValue=header_secret,
    )
    path = f"{BASE}/{sub['id']}"
    masked = "https://alice:****@example.com/hook?x=1"
    assert sub["targetUrl"] == masked and sub["authHeaderValue"] == "****"
    answers = [sub]
    for method, route, body in [
        ("GET", path, None),
        ("GET", BASE, None),
        ("GET", f"{BASE}?fields=*", None),
        ("PUT", path, {"fields": "id"}),
        ("GET", f"{path}/secret", None),
        ("GET", f"{BASE}?targetUrl={masked}", None),
    ]:
        status, got = await tenant.call(method, route, body)
        assert status == 200, (route, got)
        answers.append(got)
    text = json.dumps(answers)
    assert password not in text and header_secret not in text
    assert answers[1]["value"]["targetUrl"] == masked
    assert answers[6]["fullResultSize"] == 1
    # Filtering on the real URL finds nothing: the password cannot be probed.
    for probe in (f"https://alice:{password}", "https://alice:p"):
        status, got = await tenant.call("GET", f"{BASE}?filter[targetUrl][prefix]={probe}")
        assert (status, got["fullResultSize"]) == (200, 0), probe


async def test_the_whole_secret_is_one_call_away(tenant: Api) -> None:
    sub = await create(tenant)
    whole = sub["secret"]
    assert whole.startswith("whsec_") and len(base64.b64decode(whole[6:])) == 32
    status, read = await tenant.call("GET", f"{BASE}/{sub['id']}")
    assert read["value"]["secret"] != whole and whole.startswith(read["value"]["secret"][:10])
    status, got = await tenant.call("GET", f"{BASE}/{sub['id']}/secret")
    assert status == 200
    assert got == {"value": {"id": sub["id"], "secret": whole}}


async def test_fields_on_single_answers(tenant: Api) -> None:
    status, got = await tenant.call("POST", f"{BASE}?fields=id,status", GOOD)
    assert status == 201 and set(got["value"]) == {"id", "status"}
    sub_id = got["value"]["id"]
    status, got = await tenant.call("GET", f"{BASE}/{sub_id}?fields=targetUrl,version")
    assert got == {"value": {"version": 0, "targetUrl": GOOD["targetUrl"]}}
    status, got = await tenant.call("PUT", f"{BASE}/{sub_id}?fields=version", {"fields": "id"})
    assert got == {"value": {"version": 1}}
    status, got = await tenant.call("GET", f"{BASE}/{sub_id}?fields=id,(")
    assert status == 422
    assert got["validationMessages"] == [
        {"field": "fields", "message": "expected a field name at position 3"}
    ]


async def test_bad_ids_are_422_not_500(tenant: Api) -> None:
    for raw in ("abc", "0", "-1", str(2**63), "1.5"):
        status, got = await tenant.call("GET", f"{BASE}/{raw}")
        assert status in (404, 422), raw
        assert got["code"] in ("validation_failed", "not_found")


async def _wait_for(api: Api, path: str, ok: Any, timeout_s: float = 10) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status, got = await api.call("GET", path)
        if status == 200 and ok(got["value"]):
            return dict(got["value"])
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never matched; last answer {status} {got}")
        await asyncio.sleep(0.05)
