"""``hookline receive``: a webhook receiver for trying Hookline out. It prints every
delivery it gets, checks its signature when given the secret, and answers a status
of your choice (to watch retries and dead letters happen)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import click
from aiohttp import web

from hookline.core.signing import verify


def verdict(secret: str | None, headers: dict[str, str], body: bytes, now: int) -> str:
    """Pure: "signature ok", "signature BAD", or "not checked" without a secret."""
    if secret is None:
        return "not checked"
    try:
        ok = verify(
            secret,
            headers.get("webhook-id", ""),
            int(headers.get("webhook-timestamp", "0")),
            body,
            headers.get("webhook-signature", ""),
            now=now,
        )
    except ValueError:  # a malformed timestamp or secret (InvalidSecret)
        ok = False
    return "signature ok" if ok else "signature BAD"


def app(secret: str | None, status: int) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        check = verdict(secret, headers, body, int(time.time()))
        click.echo(
            f"{time.strftime('%H:%M:%S')} POST {request.path_qs} "
            f"{headers.get('webhook-id', '-')} {check} -> {status}\n"
            f"  {body.decode('utf-8', 'replace')}"
        )
        return web.Response(status=status)

    application = web.Application()
    application.router.add_post("/{tail:.*}", receive)
    return application


async def serve(host: str, port: int, secret: str | None, status: int) -> None:
    runner = web.AppRunner(app(secret, status), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    click.echo(f"receiving on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(host: str, port: int, secret: str | None, status: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port, secret, status))
