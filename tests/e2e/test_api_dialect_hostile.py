"""What a hostile or careless tenant sends to the dialects' paths, and what it must get:
a 4xx in the dialect's shape that says what to fix, never a silent success.

(The documents' own examples are in test_api_dialect_seeds.py.)
"""

from __future__ import annotations

from typing import Any

from test_api_dialect_seeds import _made_in_each_dialect

from support.client import Api


async def _unchanged(tenant: Api, path: str, before: Any) -> None:
    status, now = await tenant.call("GET", path)
    assert (status, now) == (200, before)


async def test_a_blank_endpoint_or_event_on_update_is_a_422_and_changes_nothing(
    tenant: Api,
) -> None:
    paths = await _made_in_each_dialect(tenant)
    before = {d: (await tenant.call("GET", p))[1] for d, p in paths.items()}
    for blank in ("", "   "):
        status, body = await tenant.call(
            "PUT", paths["orderspace"], {"webhook": {"endpoint": blank}}
        )
        assert (status, body) == (
            422,
            {"message": "Validation failed: Endpoint can't be blank, Endpoint must be a https url"},
        ), blank
        status, body = await tenant.call("PUT", paths["shareactor"], {"endpoint": blank})
        assert (status, body["_issues"]) == (422, {"endpoint": "required field"}), blank
        status, body = await tenant.call("PUT", paths["shareactor"], {"event_type": blank})
        assert (status, body["_issues"]) == (422, {"event_type": "required field"}), blank
        bq_id = paths["booqable"].rsplit("/", 1)[1]
        status, body = await tenant.call(
            "PUT",
            paths["booqable"],
            {"data": {"type": "webhook_endpoints", "id": bq_id, "attributes": {"url": blank}}},
        )
        assert status == 422, body
        assert [e["detail"] for e in body["errors"]] == ["Url can't be blank"], blank
    for dialect, path in paths.items():
        await _unchanged(tenant, path, before[dialect])
