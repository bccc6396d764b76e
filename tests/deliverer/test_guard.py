"""The target checks at connect time: the guard before every attempt, and the resolver.

aiohttp hands a host name to the connector's resolver but never an IP literal, so a
literal must be judged by the guard; a name by the resolver, on every address it
resolves to. Both are tested here without any DNS outside the machine.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import ResolveResult

from hookline.core.retry import Outcome, classify
from hookline.core.ssrf import TargetNotAllowed
from hookline.deliverer import guard
from hookline.deliverer.resolver import PublicOnlyResolver, resolver

LITERALS = [
    "http://127.0.0.1:9/hook",
    "http://[::1]:9/hook",
    "http://[::ffff:127.0.0.1]:9/hook",
    "http://0.0.0.0:9/hook",
]


@pytest.mark.parametrize("url", LITERALS)
def test_loopback_literals_are_refused_once_private_targets_are_not_allowed(url: str) -> None:
    reason = guard.refusal(url, allow_http=True, allow_private=False)
    assert reason is not None and reason.startswith("target not allowed: ")
    assert guard.refusal(url, allow_http=True, allow_private=True) is None


def test_the_scheme_is_checked_again() -> None:
    reason = guard.refusal("http://example.com/hook", allow_http=False, allow_private=False)
    assert reason == "target not allowed: the scheme 'http' is not allowed (only https)"


def test_a_soft_hyphen_is_refused_and_the_attempt_is_not_retried() -> None:
    reason = guard.refusal("https://exa\u00admple.com/", allow_http=False, allow_private=True)
    assert reason is not None and "\\xad" in reason
    verdict = classify(None, error=reason, now=0.0, max_retry_after_s=60, refused=True)
    assert verdict.outcome is Outcome.REFUSED
    assert verdict.reason == reason


class _Answers:
    """An inner resolver that answers from a table instead of DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> Any:
        self.asked.append(host)
        return [_result(host, ip, port) for ip in self.table[host]]

    async def close(self) -> None:
        return None


def _result(host: str, ip: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return {"hostname": host, "host": ip, "port": port, "family": family, "proto": 0, "flags": 0}


async def test_the_resolver_refuses_a_name_that_resolves_only_to_private_addresses() -> None:
    public_only = PublicOnlyResolver()
    public_only._inner = _Answers({"rebound.test": ["127.0.0.1", "10.0.0.7"]})  # type: ignore[assignment]
    with pytest.raises(TargetNotAllowed, match=r"rebound.test resolves to 10.0.0.7, 127.0.0.1"):
        await public_only.resolve("rebound.test", 443)


async def test_the_resolver_keeps_only_the_public_addresses() -> None:
    public_only = PublicOnlyResolver()
    public_only._inner = _Answers({"mixed.test": ["10.0.0.7", "8.8.8.8"]})  # type: ignore[assignment]
    found = await public_only.resolve("mixed.test", 443)
    assert [r["host"] for r in found] == ["8.8.8.8"]


async def test_a_connector_with_the_resolver_refuses_a_private_name_before_connecting() -> None:
    """Through aiohttp itself: the connector asks the resolver, which refuses."""
    public_only = PublicOnlyResolver()
    answers = _Answers({"inside.test": ["127.0.0.1"]})
    public_only._inner = answers  # type: ignore[assignment]
    connector = aiohttp.TCPConnector(resolver=public_only)
    async with aiohttp.ClientSession(connector=connector) as http:
        with pytest.raises(TargetNotAllowed):
            await http.post("http://inside.test:9/hook", data=b"{}")
    assert answers.asked == ["inside.test"]


async def test_resolver_follows_the_policy() -> None:
    assert isinstance(resolver(allow_private=False), PublicOnlyResolver)
    assert not isinstance(resolver(allow_private=True), PublicOnlyResolver)
