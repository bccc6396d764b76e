"""The dashboard page in headless Chromium (Debian's ``chromium`` driven by Playwright).

Screenshots go to ``.local/test-artifacts/``. The browser is installed with apt-get
when it is missing; the tests skip, saying why, only when that is impossible.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from hookline.core import kafka, topics
from hookline.core.config import Settings
from support.client import Api
from support.receiver import Receiver
from support.stack import ROOT, Stack

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")

ARTIFACTS = ROOT / ".local" / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    return next((c for c in CANDIDATES if Path(c).is_file()), None)


def install_chromium() -> str:
    """Debian's chromium, installed when missing; a reason to skip when that fails."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium is missing and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"chromium is missing and `{' '.join(argv)}` failed: {done.stderr[-500:]}"
    return ""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    path = find_chromium()
    if path is None:
        reason = install_chromium()
        path = find_chromium()
        if path is None:
            pytest.skip(reason or "chromium was installed but is not at /usr/bin/chromium")
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any, stack: Stack) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    tab = await context.new_page()
    tab.set_default_timeout(15000)
    elsewhere: list[str] = []
    tab.on(
        "request",
        lambda r: None if r.url.startswith(stack.api_url) else elsewhere.append(r.url),
    )
    yield tab
    await context.close()
    assert not elsewhere, f"the page loaded something from another origin: {elsewhere}"


async def sign_in(page: Any, stack: Stack, credential: str) -> None:
    response = await page.goto(stack.api_url + "/dashboard")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await page.fill("#credential", credential)
    await page.click("#signin-form button")


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


async def wait_attempts(tenant: Api, sub_id: int, count: int) -> bool:
    """Whether the API keeps an attempt log; if it does, wait for ``count`` attempts."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = await tenant.call("GET", f"/v2/event/subscription/{sub_id}/attempts")
        if status != 200:
            return False
        if len(body.get("values", [])) >= count:
            return True
        await asyncio.sleep(0.2)
    raise AssertionError(f"the attempt log never showed {count} attempts of {sub_id}")


async def test_a_tenant_sees_its_first_delivery(
    page: Any, stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    body = {"event": "product.create", "targetUrl": f"{receiver.url}/first"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    sub_id = created["value"]["id"]
    event = {"event": "product.create", "id": 1, "value": {"id": 1, "name": "First"}}
    assert (await tenant.call("POST", "/v2/event/publish", event))[0] == 202
    (got,) = await receiver.wait_for(1, timeout_s=15)
    assert orjson.loads(got.body)["subscriptionId"] == sub_id
    logged = await wait_attempts(tenant, sub_id, 1)

    assert tenant.key is not None
    await sign_in(page, stack, tenant.key)
    row = page.locator(f'#subscriptions tbody tr[data-id="{sub_id}"]')
    await row.wait_for()
    cells = await row.locator("td").all_inner_texts()
    assert cells[0] == str(sub_id) and cells[1] == "ACTIVE" and cells[2] == "product.create"
    assert cells[3] == f"{receiver.url}/first" and cells[4] == "tripletex"
    assert (await page.inner_text("#who")).startswith("tenant ")
    if logged:
        assert cells[5] == "100%" and cells[7] == "1"
        attempt = await page.locator("#attempts tbody tr").first.locator("td").all_inner_texts()
        assert attempt[1] == str(sub_id) and attempt[4] == "success" and attempt[5] == "200"
        assert await page.locator("#chart-success svg rect.bar.ok").count() == 1
    else:
        notice = await page.inner_text("#notice")
        assert "does not offer the attempt log" in notice
    await screenshot(page, "dashboard.png")


def attempts_json(sub_id: int, now: float) -> dict[str, Any]:
    """Twelve attempts over the last half hour: the last four fail, latency grows."""
    values = []
    for n in range(12):
        ok = n < 8
        values.append(
            {
                "deliveryId": f"msg_{n}",
                "subscriptionId": sub_id,
                "event": "order.create",
                "attempt": 1 if ok else 2,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1800 + n * 150)),
                "outcome": "SUCCESS" if ok else "RETRY",
                "status": 200 if ok else 503,
                "latencyMs": 40.0 + n * 10,
                "reason": "HTTP 200" if ok else "HTTP 503",
            }
        )
    return {"fullResultSize": 12, "from": 0, "count": 12, "values": values[::-1]}


def dead_json(sub_id: int) -> dict[str, Any]:
    values = [
        {
            "id": n,
            "deliveryId": f"msg_dead{n}",
            "subscriptionId": sub_id,
            "event": "order.create",
            "attempts": 4,
            "lastError": "HTTP 503",
            "deadAt": "2026-11-25T10:00:00Z",
        }
        for n in (1, 2)
    ]
    return {"fullResultSize": 2, "from": 0, "count": 2, "values": values}


async def test_charts_attempts_and_redelivering_a_dead_letter(
    page: Any, stack: Stack, tenant: Api
) -> None:
    """The page's own logic, on attempt and dead-letter answers given to the browser."""
    body = {"event": "order.create", "targetUrl": "https://example.com/orders"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    sub_id = created["value"]["id"]
    now = time.time()
    redelivered: list[dict[str, Any]] = []

    async def attempts(route: Any) -> None:
        await route.fulfill(json=attempts_json(sub_id, now))

    async def dead(route: Any) -> None:
        await route.fulfill(json=dead_json(sub_id))

    async def redeliver(route: Any) -> None:
        redelivered.append(orjson.loads(route.request.post_data or "{}"))
        await route.fulfill(status=202, json={"value": {"redelivered": 1, "ids": [1]}})

    base = f"{stack.api_url}/v2/event/subscription/{sub_id}"
    await page.route(f"{base}/attempts?*", attempts)
    await page.route(f"{base}/deadletters?*", dead)
    await page.route(f"{base}/deadletters/redeliver", redeliver)

    assert tenant.key is not None
    await sign_in(page, stack, tenant.key)
    await page.locator(f'#subscriptions tbody tr[data-id="{sub_id}"]').wait_for()
    assert await page.inner_text("#stat-rate") == "66.7%"
    assert await page.inner_text("#stat-latency") == "90 ms"
    assert await page.inner_text("#stat-dead") == "2"

    bars = page.locator("#chart-success svg rect.bar")
    rates = [float(await b.get_attribute("data-rate")) for b in await bars.all()]
    assert len(rates) >= 4 and rates[0] == 1.0 and rates[-1] == 0.0
    assert await page.locator("#chart-success svg rect.bar.bad").count() >= 1
    assert await page.locator("#chart-latency svg polyline.p50").count() == 1
    assert await page.locator("#chart-latency svg polyline.p95").count() == 1

    newest = await page.locator("#attempts tbody tr").first.locator("td").all_inner_texts()
    assert newest[4] == "retry" and newest[5] == "503" and newest[6] == "150 ms"

    await page.click(f'#subscriptions tbody tr[data-id="{sub_id}"]')
    assert await page.inner_text("#chart-scope") == f"subscription {sub_id}"
    await screenshot(page, "dashboard-charts.png")
    dead_rows = page.locator("#deadletters tbody tr")
    assert await dead_rows.count() == 2
    await dead_rows.first.locator("button").click()
    await dead_rows.nth(1).wait_for(state="detached")
    assert await dead_rows.count() == 1
    assert redelivered == [{"id": 1}]
    assert f"Redelivering 1 dead letter of subscription {sub_id}" in await page.inner_text(
        "#notice"
    )


async def test_the_admin_sees_every_tenant_and_their_subscriptions(
    page: Any, stack: Stack, tenant: Api, admin: Api
) -> None:
    body = {"event": "product.update", "targetUrl": "https://shop:pw123@example.com/h"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    status, me = await tenant.call("GET", "/dashboard/api/whoami")
    assert status == 200 and me["value"]["role"] == "tenant"
    tenant_id = me["value"]["tenant"]["id"]

    await sign_in(page, stack, stack.admin_token)
    row = page.locator(f'#tenants tbody tr[data-id="{tenant_id}"]')
    await row.wait_for()
    cells = await row.locator("td").all_inner_texts()
    assert cells[2] == "1" and cells[3] == "1" and cells[4] == "1"
    assert await page.inner_text("#who") == "admin"
    await row.click()
    await page.locator("#tenant-subscriptions tbody tr").first.wait_for()
    sub = await page.locator("#tenant-subscriptions tbody tr").first.locator("td").all_inner_texts()
    assert sub[0] == str(created["value"]["id"]) and sub[1] == "ACTIVE"
    assert sub[3] == "https://shop:****@example.com/h" and sub[4] == "tripletex"
    assert "pw123" not in await page.content()
    await screenshot(page, "dashboard-admin.png")


async def test_subscriptions_of_every_dialect_show_their_dialect(
    page: Any, stack: Stack, tenant: Api, admin: Api
) -> None:
    made = [
        (
            "POST",
            "/v1/webhooks",
            {"webhook": {"endpoint": "https://example.com/o", "events": ["order.created"]}},
        ),
        ("POST", "/webhooks", {"endpoint": "https://example.com/s", "event_type": "order.created"}),
        (
            "POST",
            "/api/boomerang/webhook_endpoints",
            {
                "data": {
                    "type": "webhook_endpoints",
                    "attributes": {"url": "https://example.com/b", "events": ["customer.created"]},
                }
            },
        ),
    ]
    for method, path, body in made:
        assert (await tenant.call(method, path, body))[0] in (200, 201), path
    status, native = await tenant.call("GET", "/v2/event/subscription")
    dialect_of = {str(v["id"]): v["dialect"] for v in native["values"]}
    assert sorted(dialect_of.values()) == ["booqable", "orderspace", "shareactor"]

    assert tenant.key is not None
    await sign_in(page, stack, tenant.key)
    for sub_id, dialect in dialect_of.items():
        row = page.locator(f'#subscriptions tbody tr[data-id="{sub_id}"]')
        await row.wait_for()
        assert (await row.locator("td").all_inner_texts())[4] == dialect
    await screenshot(page, "dashboard-dialects.png")

    status, me = await tenant.call("GET", "/dashboard/api/whoami")
    tenant_id = me["value"]["tenant"]["id"]
    status, listed = await admin.call("GET", f"/dashboard/api/tenants/{tenant_id}/subscriptions")
    assert status == 200
    assert {str(v["id"]): v["dialect"] for v in listed["values"]} == dialect_of


async def test_a_wrong_key_is_refused_with_a_message(page: Any, stack: Stack) -> None:
    await sign_in(page, stack, "hl_not-a-real-key")
    error = page.locator("#signin-error")
    await error.filter(has_text="not a valid API key").wait_for()
    assert await page.locator("#tenant-view").is_hidden()


async def test_redeliver_a_real_dead_letter_from_the_page(
    page: Any, stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    """Four failures (the first try and the test settings' three retries) make a dead
    letter; its Redeliver button sends the same delivery again, which now succeeds."""
    receiver.responder = lambda n: 500 if n < 4 else 200
    body = {"event": "product.create", "targetUrl": f"{receiver.url}/dead"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    sub_id = created["value"]["id"]
    event = {"event": "product.create", "id": 9, "value": {"id": 9}}
    assert (await tenant.call("POST", "/v2/event/publish", event))[0] == 202
    await receiver.wait_for(4, timeout_s=20)
    path = f"/v2/event/subscription/{sub_id}/deadletters"
    deadline = time.monotonic() + 15
    while True:
        status, dead = await tenant.call("GET", path)
        if status != 200:
            pytest.skip(f"this API has no dead letters endpoint yet ({status})")
        if dead["values"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    (letter,) = dead["values"]

    assert tenant.key is not None
    await sign_in(page, stack, tenant.key)
    row = page.locator("#deadletters tbody tr", has_text=letter["deliveryId"])
    await row.wait_for()
    cells = await row.locator("td").all_inner_texts()
    assert cells[1] == str(sub_id) and cells[4] == "4" and "500" in cells[5]
    assert await page.inner_text("#stat-dead") == "1"
    await row.locator("button", has_text="Redeliver").click()
    await page.locator("#notice", has_text="Redelivering 1 dead letter").wait_for()

    fifth = (await receiver.wait_for(5, timeout_s=15))[4]
    first = receiver.received[0]
    assert fifth.body == first.body
    assert fifth.headers["webhook-id"] == first.headers["webhook-id"] == letter["deliveryId"]
    status, dead = await tenant.call("GET", path + "?redelivered=false")
    assert status == 200 and dead["values"] == []


async def test_the_admin_sees_the_quarantine_and_redrives_from_it(page: Any, stack: Stack) -> None:
    settings = Settings.from_env(stack.env)
    marker = f"dash-{time.time_ns()}"
    secret = "whsec_ZGFzaGJvYXJkc2VjcmV0ZGFzaGJvYXJk"
    poison = orjson.dumps({"v": 1, "tenant": marker, "event": None, "secret": secret})
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topics.events(settings), poison, key=b"k")
    finally:
        await producer.stop()

    await sign_in(page, stack, stack.admin_token)
    row = page.locator("#quarantine tbody tr", has_text=marker)
    for _ in range(30):  # the router quarantines it, the API projects it: reload until then
        if await row.count():
            break
        await asyncio.sleep(1)
        await page.click("#reload")
    cells = await row.first.locator("td").all_inner_texts()
    assert cells[2] == "router" and cells[3].startswith(topics.events(settings))
    assert "event_id is missing" in cells[5]
    assert "ZGFzaGJvYXJkc2VjcmV0" not in await page.content()
    await row.first.locator("button").click()
    await page.locator("#notice", has_text="Re-drove quarantined record").wait_for()
    await page.locator("#quarantine tbody tr", has_text="re-driven").first.wait_for()
