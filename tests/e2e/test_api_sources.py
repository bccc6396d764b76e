"""``/v2/admin/sources``: an admin defines, reads, replaces and deletes sources."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from support.client import Api
from support.stack import Stack

PATHS = {"event": "$.kind", "id": "$.id", "tenant": "$.tenant"}


def name() -> str:
    return f"src-{secrets.token_hex(4)}"


async def test_a_source_is_created_read_listed_replaced_and_deleted(admin: Api) -> None:
    source = name()
    path = f"/v2/admin/sources/{source}"
    body = {"topic": f"{source}.ce", "format": "cloudevents", "typePrefix": "com.example."}
    status, created = await admin.call("PUT", path, body)
    assert status == 201, created
    value = created["value"]
    assert (value["name"], value["version"], value["tenantAttribute"]) == (
        source,
        0,
        "hooklinetenant",
    )

    status, read = await admin.call("GET", path)
    assert status == 200 and read["value"] == value
    status, listed = await admin.call("GET", "/v2/admin/sources")
    assert status == 200 and value in listed["values"]

    paths = {"event": "$.kind", "id": "$.order.id", "tenant": "$.meta.tenant"}
    status, replaced = await admin.call(
        "PUT", path, {"topic": f"{source}.json", "format": "json", "paths": paths}
    )
    assert status == 200, replaced
    assert replaced["value"]["version"] == 1 and replaced["value"]["paths"] == paths
    assert replaced["value"]["createdAt"] == value["createdAt"]

    status, _ = await admin.call("DELETE", path)
    assert status == 204
    status, gone = await admin.call("GET", path)
    assert status == 404 and "there is no source" in gone["message"]
    status, _ = await admin.call("DELETE", path)
    assert status == 404
    status, again = await admin.call("PUT", path, body)  # a new life, versions go on
    assert status == 201 and again["value"]["version"] == 3
    status, _ = await admin.call("DELETE", path)  # no reader left waiting for its topic
    assert status == 204


async def test_a_bad_definition_is_a_422_naming_each_field(admin: Api) -> None:
    path = f"/v2/admin/sources/{name()}"
    status, body = await admin.call(
        "PUT",
        path,
        {"topic": "a b", "format": "avro", "colour": 1},
    )
    assert status == 422, body
    fields = {d["field"] for d in body["validationMessages"]}
    assert fields == {"colour"}  # unknown fields first: nothing else is read
    status, body = await admin.call("PUT", path, {"topic": "a b", "format": "avro"})
    assert status == 422
    assert {d["field"] for d in body["validationMessages"]} == {"topic", "format"}
    status, body = await admin.call(
        "PUT", path, {"topic": "t", "format": "json", "paths": {"event": "a..b"}}
    )
    assert status == 422
    assert {d["field"] for d in body["validationMessages"]} == {
        "paths.event",
        "paths.id",
        "paths.tenant",
    }
    status, body = await admin.call("PUT", path, {"format": "cloudevents"})
    assert status == 422 and "topic is required" in body["message"]


async def test_hookline_s_own_topics_and_a_topic_already_read_are_refused(
    admin: Api, stack: Stack
) -> None:
    prefix = stack.env["HOOKLINE_TOPIC_PREFIX"]
    status, body = await admin.call(
        "PUT", f"/v2/admin/sources/{name()}", {"topic": f"{prefix}.events", "format": "cloudevents"}
    )
    assert status == 422 and "one of Hookline's own" in body["message"]
    topic = f"shared-{secrets.token_hex(3)}"
    first, second = name(), name()
    status, _ = await admin.call(
        "PUT", f"/v2/admin/sources/{first}", {"topic": topic, "format": "cloudevents"}
    )
    assert status == 201
    status, body = await admin.call(
        "PUT", f"/v2/admin/sources/{second}", {"topic": topic, "format": "cloudevents"}
    )
    assert status == 409 and f"read by source '{first}' already" in body["message"]
    await admin.call("DELETE", f"/v2/admin/sources/{first}")


async def test_sources_put_at_once_on_one_topic_are_one_source(admin: Api) -> None:
    topic = f"raced-{secrets.token_hex(3)}"
    names = [name() for _ in range(6)]
    answers = await asyncio.gather(
        *(
            admin.call(
                "PUT", f"/v2/admin/sources/{n}", {"topic": topic, "format": "json", "paths": PATHS}
            )
            for n in names
        )
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 5, answers
    (winner,) = [n for n, (status, _) in zip(names, answers, strict=True) if status == 201]
    for status, body in answers:
        if status == 409:
            assert f"read by source '{winner}' already" in body["message"]
    status, listed = await admin.call("GET", "/v2/admin/sources")
    assert [s["name"] for s in listed["values"] if s["topic"] == topic] == [winner]
    await admin.call("DELETE", f"/v2/admin/sources/{winner}")


async def test_only_the_admin_token_defines_sources(admin: Api, tenant: Api) -> None:
    path = f"/v2/admin/sources/{name()}"
    status, _ = await tenant.call("PUT", path, {"topic": "t", "format": "cloudevents"})
    assert status == 401
    status, _ = await tenant.call("GET", "/v2/admin/sources")
    assert status == 401
    status, _ = await admin.as_key("wrong").call("GET", "/v2/admin/sources")
    assert status == 401


async def test_a_tenant_limit_must_name_tenants_that_exist(admin: Api) -> None:
    status, created = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"lim-{secrets.token_hex(3)}"}
    )
    assert status == 201, created
    tenant = created["value"]["id"]
    path = f"/v2/admin/sources/{name()}"
    body = {"topic": f"lim-{secrets.token_hex(3)}", "format": "json", "paths": PATHS}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"tenant": 987654321}, "tenant", "no tenant has the id 987654321"),
        ({"tenants": [tenant, 987654321]}, "tenants", "no tenant has the id 987654321"),
        ({"tenants": []}, "tenants", "at least one tenant"),
        ({"tenant": tenant, "tenants": [tenant]}, "tenants", "not both"),
        ({"tenant": "7"}, "tenant", "a tenant id or null"),
        ({"tenants": [True]}, "tenants", "positive whole numbers"),
    ]
    for limit, field, says in cases:
        status, refused = await admin.call("PUT", path, {**body, **limit})
        assert status == 422, (limit, refused)
        (message,) = refused["validationMessages"]
        assert message["field"] == field and says in message["message"], (limit, refused)

    fixed = {k: v for k, v in body.items() if k != "paths"}
    fixed["paths"] = {"event": "$.kind", "id": "$.id"}  # no tenant path: the fixed one
    status, made = await admin.call("PUT", path, {**fixed, "tenant": tenant})
    assert status == 201, made
    assert (made["value"]["tenant"], made["value"]["tenants"]) == (tenant, [])
    status, made = await admin.call("PUT", path, {**body, "tenants": [tenant]})
    assert status == 200, made
    assert (made["value"]["tenant"], made["value"]["tenants"]) == (None, [tenant])
    await admin.call("DELETE", path)
