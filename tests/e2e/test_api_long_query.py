"""A long list query reaches the API's own error renderer, not aiohttp's plain 400."""

from __future__ import annotations

from support.client import Api


async def test_a_20_kib_query_with_unknown_filters_is_a_json_422(tenant: Api) -> None:
    query = "&".join(f"filter[nope{n}][eq]={'x' * 40}" for n in range(400))
    assert len(query) > 20_000
    status, body = await tenant.call("GET", f"/v2/event/subscription?{query}")
    assert status == 422, body
    assert body["code"] == "validation_failed" and "nope" in body["message"]
