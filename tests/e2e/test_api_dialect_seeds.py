"""Every request example of Orderspace's, ShareActor's and Booqable's documents
(/work/shared/seeds/002-004), sent as written to their own paths: the same paths,
bodies and headers, with only the host and the key changed. Each checks the status
and the shape of the answer. (Tripletex's are in test_api_seed_examples.py.)

The test stack allows http and private targets; the rules of the default policy
(https only, no private hosts) are checked on the second API process of
test_api_seed_examples.py (``strict_api``), with each dialect's error shape.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

import pytest
from test_api_seed_examples import strict_api, strict_service  # noqa: F401 - fixtures

from support.client import Api

JSON = {"Content-Type": "application/json"}

# --- Orderspace (002) ------------------------------------------------------------------

OS_ENDPOINT = "https://webhook.site/#!/6e3931ec-9f4b-4b3a-932f-42f73d1dc45f"
OS_CREATE = {"webhook": {"endpoint": OS_ENDPOINT, "events": ["order.created", "dispatch.created"]}}


def assert_orderspace(webhook: dict[str, Any]) -> None:
    assert set(webhook) == {"id", "endpoint", "signing_key", "events"}
    assert re.fullmatch(r"wh_[0-9a-z]{8}", webhook["id"])
    assert webhook["signing_key"].startswith("whsec_") and len(webhook["signing_key"]) > 40
    assert webhook["events"] and all(isinstance(e, str) for e in webhook["events"])


async def test_orderspace_create_answers_200_with_the_webhook(tenant: Api) -> None:
    # curl -X POST https://api.orderspace.com/v1/webhooks -H "Authorization: Bearer {ACCESS
    #   TOKEN}" -H "Content-Type: application/json" -d '{"webhook": {...}}'
    status, body = await tenant.call("POST", "/v1/webhooks", OS_CREATE, headers=JSON)
    assert status == 200, body
    assert set(body) == {"webhook"}
    assert_orderspace(body["webhook"])
    assert body["webhook"]["endpoint"] == OS_ENDPOINT  # the fragment is kept
    assert body["webhook"]["events"] == ["order.created", "dispatch.created"]
    # The same subscription in the native API, delivered in Orderspace's format.
    status, native = await tenant.call("GET", "/v2/event/subscription")
    (value,) = native["values"]
    assert (value["dialect"], value["format"]) == ("orderspace", "batch")
    assert value["secret"] != body["webhook"]["signing_key"]  # masked there, whole here
    assert body["webhook"]["signing_key"].startswith(value["secret"].removesuffix("****"))


async def test_orderspace_422_in_its_words(tenant: Api, strict_api: Api) -> None:  # noqa: F811
    # "Validation failed: Endpoint can't be blank, Endpoint must be a https url"
    for webhook in ({"events": ["order.created"]}, {"endpoint": "", "events": ["order.created"]}):
        status, body = await tenant.call("POST", "/v1/webhooks", {"webhook": webhook})
        assert (status, body) == (
            422,
            {"message": "Validation failed: Endpoint can't be blank, Endpoint must be a https url"},
        )
    status, body = await strict_api.call(
        "POST",
        "/v1/webhooks",
        {"webhook": {"endpoint": "http://x.example/", "events": ["order.created"]}},
    )
    assert (status, body) == (422, {"message": "Validation failed: Endpoint must be a https url"})
    status, body = await strict_api.call(
        "POST",
        "/v1/webhooks",
        {"webhook": {"endpoint": "https://127.0.0.1/", "events": ["order.created"]}},
    )
    assert status == 422 and body["message"].startswith(
        "Validation failed: Endpoint is not allowed"
    )
    # The catalog: an unknown event is named; no events at all is blank.
    status, body = await tenant.call(
        "POST", "/v1/webhooks", {"webhook": {"endpoint": OS_ENDPOINT, "events": ["order.explode"]}}
    )
    assert status == 422 and "order.explode" in body["message"]
    assert body["message"].startswith("Validation failed: Events has an unknown event")
    status, body = await tenant.call("POST", "/v1/webhooks", {"webhook": {"endpoint": OS_ENDPOINT}})
    assert (status, body["message"]) == (422, "Validation failed: Events can't be blank")
    status, body = await tenant.call("POST", "/v1/webhooks", {"endpoint": OS_ENDPOINT})
    assert (status, set(body)) == (400, {"message"})


async def test_orderspace_list_newest_first_with_signing_keys(tenant: Api) -> None:
    # curl -X GET https://api.orderspace.com/v1/webhooks -H "Authorization: Bearer {ACCESS TOKEN}"
    made = []
    for _ in range(3):
        status, body = await tenant.call("POST", "/v1/webhooks", OS_CREATE, headers=JSON)
        made.append(body["webhook"])
    status, body = await tenant.call("GET", "/v1/webhooks")
    assert status == 200 and set(body) == {"webhooks"}
    for webhook in body["webhooks"]:
        assert_orderspace(webhook)
    assert body["webhooks"] == list(reversed(made))


async def test_orderspace_read_change_delete(tenant: Api, admin: Api) -> None:
    status, body = await tenant.call("POST", "/v1/webhooks", OS_CREATE, headers=JSON)
    path = f"/v1/webhooks/{body['webhook']['id']}"
    status, read = await tenant.call("GET", path)
    assert (status, read) == (200, body)
    status, changed = await tenant.call("PUT", path, {"webhook": {"events": ["order.updated"]}})
    assert status == 200
    assert changed["webhook"] == {**body["webhook"], "events": ["order.updated"]}
    # Another tenant, an id of another dialect's shape, an id that is no one's: 404.
    status, other = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"o-{secrets.token_hex(3)}"}
    )
    stranger = admin.as_key(other["value"]["apiKey"])
    assert (await stranger.call("GET", path))[0] == 404
    for bad in ("5964a0ead57ba2036750a3b4", str(uuid.uuid4()), "wh_zzzzzzzz", "wh_00000000", "1"):
        status, answer = await tenant.call("GET", f"/v1/webhooks/{bad}")
        assert (status, set(answer)) == (404, {"message"}), bad
    assert (await tenant.call("DELETE", path))[0] == 204
    assert (await tenant.call("GET", path))[0] == 404
    assert (await tenant.call("DELETE", path))[0] == 404
    status, body = await tenant.call(
        "GET", "/v1/webhooks", headers={"Authorization": "Bearer nope"}
    )
    assert (status, set(body)) == (401, {"message"})


# --- ShareActor (003) ------------------------------------------------------------------

SA_OBJECT_KEYS = {
    "_id",
    "company",
    "created",
    "updated",
    "event_type",
    "deleted",
    "secret",
    "endpoint",
}
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"


def share_headers(api: Api) -> dict[str, str]:
    """The document's headers: a user JWT as the Bearer token, the key in X-Share-Api-Key."""
    return {**JSON, "Authorization": f"Bearer {JWT}", "X-Share-Api-Key": str(api.key)}


def assert_shareactor(obj: dict[str, Any]) -> None:
    assert set(obj) == SA_OBJECT_KEYS
    for key in ("_id", "company"):
        assert set(obj[key]) == {"$oid"} and re.fullmatch(r"[0-9a-f]{24}", obj[key]["$oid"])
    for key in ("created", "updated"):
        assert set(obj[key]) == {"$date"} and obj[key]["$date"] > 1_600_000_000_000
    assert isinstance(obj["deleted"], bool) and obj["secret"].startswith("whsec_")


async def test_shareactor_create_update_read_list_delete(tenant: Api) -> None:
    headers = share_headers(tenant)
    # POST /webhooks {"endpoint": "http://requestbin.fullcontact.com/asdfasdf", "event_type": ...}
    status, created = await tenant.call(
        "POST",
        "/webhooks",
        {"endpoint": "http://requestbin.fullcontact.com/asdfasdf", "event_type": "order.created"},
        headers=headers,
    )
    assert status == 200, created
    assert_shareactor(created)
    assert (created["event_type"], created["deleted"]) == ("order.created", False)
    assert created["created"] == created["updated"]
    oid = created["_id"]["$oid"]
    assert int(oid[:8], 16) == created["created"]["$date"] // 1000  # MongoDB's first 4 bytes
    # PUT /webhooks/<id> {"endpoint": "https://www.google.com"}: only what it gives changes.
    status, updated = await tenant.call(
        "PUT", f"/webhooks/{oid}", {"endpoint": "https://www.google.com"}, headers=headers
    )
    assert status == 200
    assert_shareactor(updated)
    assert updated["endpoint"] == "https://www.google.com"
    assert {k: v for k, v in updated.items() if k not in ("endpoint", "updated")} == {
        k: v for k, v in created.items() if k not in ("endpoint", "updated")
    }
    # GET /webhooks/<id>
    status, read = await tenant.call("GET", f"/webhooks/{oid}", headers=headers)
    assert (status, read) == (200, updated)
    # GET /webhooks: a bare array.
    status, listed = await tenant.call("GET", "/webhooks", headers=headers)
    assert (status, listed) == (200, [updated])
    # DELETE /webhooks/<webhook_id>: the object, deleted: true; then it is gone.
    status, deleted = await tenant.call("DELETE", f"/webhooks/{oid}", headers=headers)
    assert status == 200
    assert deleted["deleted"] is True and deleted["_id"] == created["_id"]
    assert (await tenant.call("GET", f"/webhooks/{oid}", headers=headers))[0] == 404
    assert (await tenant.call("GET", "/webhooks", headers=headers)) == (200, [])
    assert (await tenant.call("PUT", f"/webhooks/{oid}", {}, headers=headers))[0] == 404


async def test_shareactor_keys_either_way_and_errors_in_eves_shape(tenant: Api) -> None:
    body = {"endpoint": "https://example.com/hook", "event_type": "order.created"}
    only_key = {"X-Share-Api-Key": str(tenant.key), "Authorization": ""}
    status, made = await tenant.call("POST", "/webhooks", body, headers=only_key)
    assert status == 200
    status, _ = await tenant.call("GET", "/webhooks")  # the key as Authorization: Bearer
    assert status == 200
    status, answer = await tenant.call("GET", "/webhooks", headers={"X-Share-Api-Key": "wrong"})
    assert status == 401 and answer["_status"] == "ERR" and answer["_error"]["code"] == 401
    status, answer = await tenant.call(
        "POST", "/webhooks", {"event_type": "order.explode"}, headers=share_headers(tenant)
    )
    assert status == 422 and answer["_status"] == "ERR"
    assert answer["_issues"]["endpoint"] == "required field"
    assert "order.explode" in answer["_issues"]["event_type"]
    status, answer = await tenant.call(
        "POST",
        "/webhooks",
        {**body, "event_type": ["order.created"]},
        headers=share_headers(tenant),
    )
    assert status == 422 and "event_type" in answer["_issues"]
    for bad in ("wh_1q4qn43v", str(uuid.uuid4()), "5964a0ead57ba2036750a3b4", "x" * 24):
        status, answer = await tenant.call("GET", f"/webhooks/{bad}")
        assert (status, answer["_status"]) == (404, "ERR"), bad
    # An ObjectId with our id but another creation second is not ours either.
    oid = made["_id"]["$oid"]
    assert (await tenant.call("GET", f"/webhooks/{'00000000' + oid[8:]}"))[0] == 404


async def test_shareactor_strict_policy_refuses_the_documents_http_endpoint(
    strict_api: Api,  # noqa: F811
) -> None:
    status, answer = await strict_api.call(
        "POST",
        "/webhooks",
        {"endpoint": "http://requestbin.fullcontact.com/asdfasdf", "event_type": "order.created"},
        headers=share_headers(strict_api),
    )
    assert status == 422
    assert answer["_issues"] == {"endpoint": "must be an https URL"}


async def test_shareactor_page_size_and_sort(tenant: Api) -> None:
    made = []
    for n in range(5):
        body = {"endpoint": f"https://example.com/{n}", "event_type": "order.created"}
        made.append((await tenant.call("POST", "/webhooks", body))[1])
    status, first = await tenant.call("GET", "/webhooks?size=2")
    assert status == 200 and first == [made[4], made[3]]  # -modified: last changed first
    status, third = await tenant.call("GET", "/webhooks?size=2&page=2")
    assert third == [made[0]]
    status, by_endpoint = await tenant.call("GET", "/webhooks?sort=endpoint")
    assert [o["endpoint"] for o in by_endpoint] == [f"https://example.com/{n}" for n in range(5)]
    status, answer = await tenant.call("GET", "/webhooks?sort=colour")
    assert status == 400 and "colour" in answer["_error"]["message"]
    status, answer = await tenant.call("GET", "/webhooks?size=-1")
    assert status == 400 and answer["_issues"]["size"]


# --- Booqable (004) --------------------------------------------------------------------

BQ_URL = "https://example.com/hooks"
BQ_CREATE = {
    "data": {
        "type": "webhook_endpoints",
        "attributes": {"url": BQ_URL, "events": ["customer.created", "customer.updated"]},
    }
}
MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
BQ = "/api/boomerang/webhook_endpoints"


def booqable_headers() -> dict[str, str]:
    return {"content-type": "application/json"}


def assert_booqable(resource: dict[str, Any], attributes: set[str] | None = None) -> None:
    assert set(resource) == {"id", "type", "attributes"}
    assert uuid.UUID(resource["id"]) and resource["type"] == "webhook_endpoints"
    assert set(resource["attributes"]) == (
        attributes or {"created_at", "updated_at", "url", "events"}
    )
    for key in ("created_at", "updated_at"):
        if key in resource["attributes"]:
            assert MICROS.match(resource["attributes"][key])


async def booqable_create(
    api: Api, url: str = BQ_URL, events: list[str] | None = None
) -> dict[str, Any]:
    body = {
        "data": {
            "type": "webhook_endpoints",
            "attributes": {"url": url, "events": events or ["customer.created"]},
        }
    }
    status, doc = await api.call("POST", BQ, body, headers=booqable_headers())
    assert status == 201, doc
    return dict(doc["data"])


async def test_booqable_subscribe_answers_201(tenant: Api) -> None:
    # curl --request POST --url '.../api/boomerang/webhook_endpoints' --header
    #   'content-type: application/json' --data '{"data": {"type": ..., "attributes": ...}}'
    status, doc = await tenant.call("POST", BQ, BQ_CREATE, headers=booqable_headers())
    assert status == 201, doc
    assert set(doc) == {"data", "meta"} and doc["meta"] == {}
    assert_booqable(doc["data"])
    assert doc["data"]["attributes"]["url"] == BQ_URL
    assert doc["data"]["attributes"]["events"] == ["customer.created", "customer.updated"]
    status, sparse = await tenant.call(
        "POST", f"{BQ}?fields[webhook_endpoints]=created_at,updated_at,url", BQ_CREATE
    )
    assert status == 201
    assert_booqable(sparse["data"], {"created_at", "updated_at", "url"})


async def test_booqable_update_and_unsubscribe(tenant: Api) -> None:
    made = await booqable_create(tenant, events=["customer.created", "customer.updated"])
    # The document's PUT, as written: its id is not one of ours.
    example_id = "a2f71717-53b5-45ba-85c6-3eadcf6cb09f"
    example = {
        "data": {
            "type": "webhook_endpoints",
            "id": example_id,
            "attributes": {"url": BQ_URL, "events": ["customer.created"]},
        }
    }
    status, answer = await tenant.call(
        "PUT", f"{BQ}/{example_id}", example, headers=booqable_headers()
    )
    assert status == 404 and answer["errors"][0]["status"] == "404"
    # The same with our id: 200, the endpoint with one event.
    example["data"]["id"] = made["id"]
    status, doc = await tenant.call(
        "PUT", f"{BQ}/{made['id']}", example, headers=booqable_headers()
    )
    assert status == 200, doc
    assert_booqable(doc["data"])
    assert doc["data"]["attributes"]["events"] == ["customer.created"]
    assert doc["data"]["attributes"]["created_at"] == made["attributes"]["created_at"]
    # data.id must be the path's.
    example["data"]["id"] = str(uuid.uuid4())
    status, answer = await tenant.call("PUT", f"{BQ}/{made['id']}", example)
    assert status == 409 and answer["errors"][0]["status"] == "409"
    # DELETE, as written (a foreign id: 404), then ours: the endpoint with "events": [].
    status, _ = await tenant.call(
        "DELETE", f"{BQ}/fd2f4709-67d8-441e-8206-213a900ef683", headers=booqable_headers()
    )
    assert status == 404
    status, doc = await tenant.call("DELETE", f"{BQ}/{made['id']}", headers=booqable_headers())
    assert status == 200
    assert_booqable(doc["data"])
    assert doc["data"]["attributes"]["events"] == [] and doc["meta"] == {}
    assert (await tenant.call("GET", f"{BQ}/{made['id']}"))[0] == 404


async def test_booqable_422_in_json_api_errors(tenant: Api, strict_api: Api) -> None:  # noqa: F811
    bad = {"data": {"type": "webhook_endpoints", "attributes": {"events": ["customer.explode"]}}}
    status, answer = await tenant.call("POST", BQ, bad)
    assert status == 422
    by_pointer = {e["source"]["pointer"]: e for e in answer["errors"]}
    assert by_pointer["/data/attributes/url"]["detail"] == "Url can't be blank"
    assert "customer.explode" in by_pointer["/data/attributes/events"]["detail"]
    assert all(e["status"] == "422" and e["title"] for e in answer["errors"])
    status, answer = await strict_api.call(
        "POST",
        BQ,
        {
            "data": {
                "type": "webhook_endpoints",
                "attributes": {"url": "http://x.example", "events": ["customer.created"]},
            }
        },
    )
    assert status == 422 and answer["errors"][0]["detail"] == "Url must be an https URL"
    status, answer = await tenant.call("POST", BQ, {"data": {"type": "orders", "attributes": {}}})
    assert status == 409


async def test_booqable_listing_fields_filters_sort_pages_and_meta(tenant: Api) -> None:
    one = await booqable_create(tenant, BQ_URL, ["invoice.finalized"])
    two = await booqable_create(tenant, "https://Example.org/Other,hook", ["order.reserved"])
    # curl --get '.../api/boomerang/webhook_endpoints' --header 'content-type: application/json'
    status, doc = await tenant.call("GET", BQ, headers=booqable_headers())
    assert status == 200 and set(doc) == {"data", "meta"}
    assert [r["id"] for r in doc["data"]] == [one["id"], two["id"]]
    for resource in doc["data"]:
        assert_booqable(resource)
    # ?fields[webhook_endpoints]=created_at,updated_at,url
    status, doc = await tenant.call(
        "GET", f"{BQ}?fields[webhook_endpoints]=created_at,updated_at,url"
    )
    for resource in doc["data"]:
        assert_booqable(resource, {"created_at", "updated_at", "url"})
    # ?filter[attribute][eq]=value, every operator the document lists
    cases = {
        f"filter[url][eq]={BQ_URL.upper()}": [one],
        f"filter[url][not_eq]={BQ_URL}": [two],
        f"filter[url][eql]={BQ_URL.upper()}": [],
        f"filter[url][eql]={BQ_URL}": [one],
        f"filter[url][not_eql]={BQ_URL}": [two],
        "filter[url][prefix]=https://example.org": [two],
        "filter[url][not_prefix]=https://example.org": [one],
        "filter[url][suffix]=,HOOK": [two],
        "filter[url][not_suffix]=,hook": [one],
        "filter[url][match]=other": [two],
        "filter[url][not_match]=other": [one],
        f"filter[id][eq]={two['id']}": [two],
        f"filter[id][not_eq]={two['id']}": [one],
        f"filter[id][eq]={uuid.uuid4()}": [],
    }
    created = one["attributes"]["created_at"].replace("+", "%2B")
    for op, expected in {
        "eq": [one],
        "not_eq": [two],
        "gt": [two],
        "gte": [one, two],
        "lt": [],
        "lte": [one],
    }.items():
        cases[f"filter[created_at][{op}]={created}"] = expected
        cases[f"filter[updated_at][{op}]={created}"] = expected
    for query, expected in cases.items():
        status, doc = await tenant.call("GET", f"{BQ}?{query}")
        assert status == 200, (query, doc)
        assert [r["id"] for r in doc["data"]] == [r["id"] for r in expected], query
    # ?sort=attribute1,-attribute2
    status, doc = await tenant.call("GET", f"{BQ}?sort=-created_at,url")
    assert [r["id"] for r in doc["data"]] == [two["id"], one["id"]]
    status, answer = await tenant.call("GET", f"{BQ}?sort=attribute1,-attribute2")
    assert status == 400 and "attribute1" in answer["errors"][0]["detail"]
    # page[number], page[size] and ?meta[total][]=count
    status, doc = await tenant.call("GET", f"{BQ}?page[number]=2&page[size]=1&meta[total][]=count")
    assert [r["id"] for r in doc["data"]] == [two["id"]]
    assert doc["meta"] == {"total": {"count": 2}}
    for query in (
        "filter[url][gt]=a",
        "filter[colour][eq]=red",
        "filter[created_at][eq]=yesterday",
        "page[size]=0",
        "include=customer",
        "fields[orders]=id",
        "filter[id][eq]=12",
    ):
        status, answer = await tenant.call("GET", f"{BQ}?{query}")
        assert status == 400, query
        assert answer["errors"][0]["source"]["parameter"], query


@pytest.mark.parametrize("path", ["/v1/webhooks", "/webhooks", BQ])
async def test_unknown_methods_answer_in_the_dialects_shape(tenant: Api, path: str) -> None:
    status, answer = await tenant.call("PATCH", path, {})
    assert status == 405
    assert "message" in answer or "_error" in answer or "errors" in answer


# --- every dialect: tenant isolation and ids of the wrong shape ---------------------------


async def _made_in_each_dialect(api: Api) -> dict[str, str]:
    """The path of one webhook made in each dialect."""
    status, os_ = await api.call("POST", "/v1/webhooks", OS_CREATE)
    assert status == 200, os_
    status, sa = await api.call(
        "POST", "/webhooks", {"endpoint": "https://example.com/sa", "event_type": "order.created"}
    )
    assert status == 200, sa
    bq = await booqable_create(api)
    return {
        "orderspace": f"/v1/webhooks/{os_['webhook']['id']}",
        "shareactor": f"/webhooks/{sa['_id']['$oid']}",
        "booqable": f"{BQ}/{bq['id']}",
    }


BODIES: dict[str, Any] = {
    "orderspace": {"webhook": {"events": ["order.updated"]}},
    "shareactor": {"endpoint": "https://example.com/x"},
    "booqable": {
        "data": {"type": "webhook_endpoints", "attributes": {"events": ["order.updated"]}}
    },
}
ERROR_SHAPES = {
    "orderspace": {"message"},
    "shareactor": {"_status", "_error"},
    "booqable": {"errors"},
}


async def test_another_tenants_webhooks_are_404_in_every_dialect(tenant: Api, admin: Api) -> None:
    paths = await _made_in_each_dialect(tenant)
    status, other = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"x-{secrets.token_hex(3)}"}
    )
    stranger = admin.as_key(other["value"]["apiKey"])
    for dialect, path in paths.items():
        body = BODIES[dialect]
        if dialect == "booqable":
            body = {"data": {**body["data"], "id": path.rsplit("/", 1)[1]}}
        for method, sent in (("GET", None), ("PUT", body), ("DELETE", None)):
            status, answer = await stranger.call(method, path, sent)
            assert status == 404, (dialect, method, answer)
            assert set(answer) >= ERROR_SHAPES[dialect], (dialect, answer)
    assert (await stranger.call("GET", "/v1/webhooks"))[1] == {"webhooks": []}
    assert (await stranger.call("GET", "/webhooks"))[1] == []
    assert (await stranger.call("GET", BQ))[1] == {"data": [], "meta": {}}
    # The owner still has all three, untouched.
    for path in paths.values():
        assert (await tenant.call("GET", path))[0] == 200


async def test_ids_of_other_shapes_are_404_in_every_dialect(tenant: Api) -> None:
    paths = await _made_in_each_dialect(tenant)
    ids = {d: p.rsplit("/", 1)[1] for d, p in paths.items()}
    bases = {"orderspace": "/v1/webhooks", "shareactor": "/webhooks", "booqable": BQ}
    for dialect, base in bases.items():
        foreign = [v for d, v in ids.items() if d != dialect]
        for bad in [*foreign, "1", "%00", "x" * 300, str(uuid.uuid4()), "wh_00000000"]:
            status, answer = await tenant.call("GET", f"{base}/{bad}")
            assert status == 404, (dialect, bad, answer)
            assert set(answer) >= ERROR_SHAPES[dialect], (dialect, bad, answer)
