"""DNS for deliveries: every resolved address is checked when the connection is made,
so a host that resolves to a private address (DNS rebinding included) is refused."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hookline.core.ssrf import TargetNotAllowed, is_public_address


class PublicOnlyResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if is_public_address(r["host"])]
        if not allowed:
            addresses = ", ".join(sorted({r["host"] for r in found}))
            raise TargetNotAllowed(f"{host} resolves to {addresses}, which is not a public address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def resolver(allow_private: bool) -> Any:
    return DefaultResolver() if allow_private else PublicOnlyResolver()
