"""``GET /v2/event/subscription`` on the real stack: paging, sorting, fields and filters."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from hookline.api.http.present import mask_url
from support.client import Api

BASE = "/v2/event/subscription"


async def create(api: Api, event: str, url: str, **extra: Any) -> dict[str, Any]:
    status, got = await api.call("POST", BASE, {"event": event, "targetUrl": url, **extra})
    assert status == 201, got
    return dict(got["value"])


async def listing(api: Api, query: str = "") -> dict[str, Any]:
    status, got = await api.call("GET", f"{BASE}{query}")
    assert status == 200, got
    return dict(got)


async def five(api: Api) -> list[dict[str, Any]]:
    """Five subscriptions, created one after another (so createdAt increases)."""
    made = []
    specs = [
        ("order.create", "https://a.example/one"),
        ("order.update", "https://b.example/two"),
        ("product.create", "https://a.example/three"),
        ("order.create", "https://c.example/four"),
        ("invoice.charged", "https://b.example/five"),
    ]
    for event, url in specs:
        made.append(await create(api, event, url))
    return made


async def test_default_is_newest_first_with_tripletex_paging(tenant: Api) -> None:
    made = await five(tenant)
    got = await listing(tenant)
    assert [v["id"] for v in got["values"]] == [m["id"] for m in reversed(made)]
    assert (got["fullResultSize"], got["from"], got["count"]) == (5, 0, 5)

    page = await listing(tenant, "?from=1&count=2")
    assert [v["id"] for v in page["values"]] == [made[3]["id"], made[2]["id"]]
    assert (page["fullResultSize"], page["from"], page["count"]) == (5, 1, 2)
    past = await listing(tenant, "?from=10")
    assert (past["fullResultSize"], past["count"], past["values"]) == (5, 0, [])
    none = await listing(tenant, "?count=0")
    assert (none["fullResultSize"], none["count"]) == (5, 0)
    # Every value is the same object GET /{id} answers.
    _, one = await tenant.call("GET", f"{BASE}/{made[0]['id']}")
    assert got["values"][-1] == one["value"]


async def test_sorting(tenant: Api) -> None:
    made = await five(tenant)
    ids = [m["id"] for m in made]
    assert [v["id"] for v in (await listing(tenant, "?sorting=id"))["values"]] == ids
    by_url = await listing(tenant, "?sorting=-targetUrl")
    assert [v["targetUrl"] for v in by_url["values"]] == sorted(
        (m["targetUrl"] for m in made), reverse=True
    )
    await tenant.call("PUT", f"{BASE}/{ids[0]}", {"status": "DISABLED"})
    got = await listing(tenant, "?sorting=status,-createdAt")
    assert [v["id"] for v in got["values"]] == [ids[4], ids[3], ids[2], ids[1], ids[0]]
    got = await listing(tenant, "?sorting=-status,createdAt")
    assert [v["id"] for v in got["values"]] == [ids[0], ids[1], ids[2], ids[3], ids[4]]
    got = await listing(tenant, "?sorting=-updatedAt&count=1")
    assert got["values"][0]["id"] == ids[0]

    status, bad = await tenant.call("GET", f"{BASE}?sorting=-secret")
    assert status == 422
    assert bad["validationMessages"][0]["field"] == "sorting"
    assert "'secret'" in bad["message"]


async def test_fields_on_lists(tenant: Api) -> None:
    await five(tenant)
    got = await listing(tenant, "?fields=id,events&count=2")
    assert all(set(v) == {"id", "events"} for v in got["values"])
    assert got["fullResultSize"] == 5 and got["count"] == 2
    status, bad = await tenant.call("GET", f"{BASE}?fields=id,events(")
    assert status == 422
    assert bad["validationMessages"] == [
        {"field": "fields", "message": "expected a field name at position 10"}
    ]


async def test_plain_filters(tenant: Api) -> None:
    made = await five(tenant)
    got = await listing(tenant, "?event=order.create&sorting=id")
    assert [v["id"] for v in got["values"]] == [made[0]["id"], made[3]["id"]]
    status, multi = await tenant.call(
        "POST",
        BASE,
        {"events": ["order.update", "order.delete"], "targetUrl": "https://d.example/"},
    )
    assert status == 201
    got = await listing(tenant, "?event=order.update&sorting=id")
    assert [v["id"] for v in got["values"]] == [made[1]["id"], multi["value"]["id"]]
    assert got["values"][1]["event"] is None
    assert got["values"][1]["events"] == ["order.update", "order.delete"]
    got = await listing(tenant, "?targetUrl=https://b.example/five")
    assert [v["id"] for v in got["values"]] == [made[4]["id"]]
    await tenant.call("PUT", f"{BASE}/{made[2]['id']}", {"status": "DISABLED"})
    got = await listing(tenant, "?status=DISABLED")
    assert [v["id"] for v in got["values"]] == [made[2]["id"]]
    assert (await listing(tenant, "?status=DISABLED_TOO_MANY_ERRORS"))["values"] == []


async def test_booqable_filters(tenant: Api) -> None:
    made = await five(tenant)
    ids = [m["id"] for m in made]

    async def ids_for(query: str) -> list[int]:
        return [v["id"] for v in (await listing(tenant, f"?sorting=id&{query}"))["values"]]

    assert await ids_for(f"filter[id][gt]={ids[1]}&filter[id][lte]={ids[3]}") == ids[2:4]
    assert await ids_for(f"filter[id][not_eq]={ids[0]}") == ids[1:]
    assert await ids_for("filter[targetUrl][prefix]=https://a.example/") == [ids[0], ids[2]]
    assert await ids_for("filter[targetUrl][suffix]=/two") == [ids[1]]
    assert await ids_for("filter[targetUrl][gte]=https://b") == ids[1:2] + ids[3:]
    # Times compare at the millisecond precision the answers show.
    created = made[2]["createdAt"]
    assert await ids_for(f"filter[createdAt][eq]={created}") == [ids[2]]
    assert await ids_for(f"filter[createdAt][gte]={created}") == ids[2:]
    assert await ids_for(f"filter[createdAt][lt]={created}") == ids[:2]
    await tenant.call("PUT", f"{BASE}/{ids[4]}", {"status": "DISABLED"})
    assert await ids_for("filter[status][eq]=DISABLED") == [ids[4]]
    assert await ids_for("filter[status][prefix]=DIS") == [ids[4]]
    assert await ids_for("filter[status][not_eq]=DISABLED") == ids[:4]
    assert await ids_for("status=ACTIVE&event=order.create") == [ids[0], ids[3]]
    later = (await listing(tenant, f"?filter[id][eq]={ids[4]}"))["values"][0]["updatedAt"]
    assert await ids_for(f"filter[updatedAt][gte]={quote(later)}") == [ids[4]]


async def test_bad_filters_name_the_filter(tenant: Api) -> None:
    for query, field in [
        ("filter[secret][eq]=x", "filter[secret][eq]"),
        ("filter[id][prefix]=1", "filter[id][prefix]"),
        ("filter[createdAt][gt]=yesterday", "filter[createdAt][gt]"),
        ("filter[id][eq]=one", "filter[id][eq]"),
        ("filter[url]=x", "filter[url]"),
        ("from=-1", "from"),
        ("count=many", "count"),
        ("sort=id", "sort"),
        ("status=%00", "status"),
    ]:
        status, got = await tenant.call("GET", f"{BASE}?{query}")
        assert status == 422, (query, got)
        assert [m["field"] for m in got["validationMessages"]] == [field], query
        assert field in got["message"]


async def test_values_are_bound_not_interpolated(tenant: Api) -> None:
    await five(tenant)
    for query in (
        "status=ACTIVE' OR '1'='1",
        "event=x') OR true --",
        "filter[targetUrl][eq]=' OR 1=1 --",
        "filter[status][suffix]=$1",
        "targetUrl=https://a.example/one'; DROP TABLE subscriptions; --",
    ):
        got = await listing(tenant, "?" + quote(query, safe="=&[]"))
        assert (got["fullResultSize"], got["values"]) == (0, []), query
    assert (await listing(tenant))["fullResultSize"] == 5


async def test_masked_target_urls_filter_as_shown(tenant: Api) -> None:
    urls = [
        "https://alice:s3cret@example.com/a",
        "https://u:a@b@example.com:8443/b?q=1",
        "https://a@b:pw@example.com/c",
        "https://tokenonly@example.com/d",
        "https://:pw@example.com/e",
        "https://u:p%40ss@[2001:db8::1]:9000/f",
        "https://example.com:8443/g@h",
        "HTTPS://Bob:x@Example.COM/i",
    ]
    made = await asyncio.gather(*(create(tenant, "order.create", u) for u in urls))
    for url, sub in zip(urls, made, strict=True):
        assert sub["targetUrl"] == mask_url(url)
        got = await listing(tenant, f"?filter[targetUrl][eq]={quote(mask_url(url))}")
        assert [v["id"] for v in got["values"]] == [sub["id"]], url
