"""What a hostile or careless tenant sends to the dialects' paths, and what it must get:
a 4xx in the dialect's shape that says what to fix, never a silent success.

(The documents' own examples are in test_api_dialect_seeds.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from test_api_dialect_seeds import BQ, OS_CREATE, _made_in_each_dialect

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


@pytest.mark.parametrize(
    "path",
    [
        f"{BQ}?page[size]=1_0",
        f"{BQ}?page[number]=\u0661",  # ARABIC-INDIC DIGIT ONE
        f"{BQ}?page[size]=\uff15",  # FULLWIDTH DIGIT FIVE
        "/webhooks?size=1_0",
        "/webhooks?page=\u0661",
        "/v2/event/subscription?count=1_0",
        "/v2/event/subscription?filter[id][eq]=1_0",
    ],
)
async def test_list_numbers_are_ascii_digits(tenant: Api, path: str) -> None:
    await tenant.call("POST", "/v1/webhooks", OS_CREATE)
    status, body = await tenant.call("GET", path, headers={"X-Share-Api-Key": str(tenant.key)})
    assert status in (400, 422), body
    text = str(body)
    assert "must be a whole number" in text, body
